//! Precompression of the built page: `name.br` (brotli 11) and `name.gz` (gzip 9) beside
//! every compressible file in `dist/`, which fanout-proxy serves as they are (tower-http's
//! `ServeDir` precompressed variants) instead of compressing the same bytes on every
//! request, and at levels too slow to use per request.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// Worth compressing: text and WebAssembly (images and fonts are compressed already).
const COMPRESSIBLE: [&str; 8] = ["js", "wasm", "css", "html", "svg", "json", "txt", "map"];
/// Below this, the headers cost more than compression saves.
const MIN_BYTES: u64 = 512;

/// Writes the `.br` and `.gz` of every compressible file under `dist`; returns how many
/// files it compressed.
pub fn precompress(dist: &Path) -> Result<usize, String> {
    let mut done = 0;
    for file in files(dist)? {
        let compressible = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e));
        let size = fs::metadata(&file).map_err(|err| err.to_string())?.len();
        if !compressible || size < MIN_BYTES {
            continue;
        }
        let raw = fs::read(&file).map_err(|err| format!("{}: {err}", file.display()))?;
        write_if_smaller(&with_suffix(&file, "br"), &brotli(&raw)?, raw.len())?;
        write_if_smaller(&with_suffix(&file, "gz"), &gzip(&raw)?, raw.len())?;
        done += 1;
    }
    Ok(done)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|err| err.to_string())?.path();
        if path.is_dir() {
            found.extend(files(&path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A variant no smaller than the original is left out (and a stale one removed), so the
/// proxy serves the original.
fn write_if_smaller(path: &Path, bytes: &[u8], original: usize) -> Result<(), String> {
    if bytes.len() < original {
        fs::write(path, bytes).map_err(|err| format!("{}: {err}", path.display()))
    } else {
        match fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {err}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

fn brotli(raw: &[u8]) -> Result<Vec<u8>, String> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &raw[..], &mut out, &params).map_err(|err| err.to_string())?;
    Ok(out)
}

fn gzip(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(raw).map_err(|err| err.to_string())?;
    encoder.finish().map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_smaller_variants_beside_compressible_files_only() {
        let dir = std::env::temp_dir().join(format!("xtask-precompress-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        let text = "let fanout = 'comics';\n".repeat(200);
        fs::write(dir.join("app-0123456789abcdef.js"), &text).unwrap();
        fs::write(dir.join("sub/style.css"), &text).unwrap();
        fs::write(dir.join("tiny.js"), "x").unwrap();
        fs::write(dir.join("photo.png"), &text).unwrap();
        assert_eq!(precompress(&dir).unwrap(), 2);
        let gz = fs::read(dir.join("app-0123456789abcdef.js.gz")).unwrap();
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, text);
        let br = fs::read(dir.join("sub/style.css.br")).unwrap();
        let mut unbrotlied = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut unbrotlied).unwrap();
        assert_eq!(unbrotlied, text.as_bytes());
        assert!(br.len() < text.len() / 10);
        assert!(!dir.join("tiny.js.br").exists());
        assert!(!dir.join("photo.png.gz").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
