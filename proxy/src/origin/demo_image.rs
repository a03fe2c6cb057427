//! Deterministic comic-like PNGs for the demo origin: panels, a stick figure, the title,
//! and the comic's number large enough to tell tiles apart at a glance.

use font8x8::{BASIC_FONTS, UnicodeFonts};

use super::demo::mix;

const WHITE: u8 = 0xff;
const INK: u8 = 0x20;
const PANEL_GREY: u8 = 0xe8;

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![WHITE; width * height],
        }
    }

    fn set(&mut self, x: i64, y: i64, shade: u8) {
        if (0..self.width as i64).contains(&x) && (0..self.height as i64).contains(&y) {
            self.pixels[y as usize * self.width + x as usize] = shade;
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, shade: u8) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.set(x, y, shade);
            }
        }
    }

    fn frame(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, thick: i64) {
        self.rect(x0, y0, x1, y0 + thick, INK);
        self.rect(x0, y1 - thick, x1, y1, INK);
        self.rect(x0, y0, x0 + thick, y1, INK);
        self.rect(x1 - thick, y0, x1, y1, INK);
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=steps {
            let x = x0 + (x1 - x0) * i / steps;
            let y = y0 + (y1 - y0) * i / steps;
            self.rect(
                x - thick / 2,
                y - thick / 2,
                x + thick - thick / 2,
                y + thick - thick / 2,
                INK,
            );
        }
    }

    fn ring(&mut self, cx: i64, cy: i64, r: i64, thick: i64) {
        for y in cy - r - thick..=cy + r + thick {
            for x in cx - r - thick..=cx + r + thick {
                let d2 = (x - cx).pow(2) + (y - cy).pow(2);
                if d2 <= (r + thick / 2).pow(2) && d2 >= (r - thick / 2).pow(2) {
                    self.set(x, y, INK);
                }
            }
        }
    }

    fn text(&mut self, x0: i64, y0: i64, text: &str, scale: i64) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = BASIC_FONTS.get(ch).unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let x = x0 + (i as i64 * 8 + col) * scale;
                        let y = y0 + row as i64 * scale;
                        self.rect(x, y, x + scale, y + scale, INK);
                    }
                }
            }
        }
    }

    fn stick_figure(&mut self, cx: i64, ground: i64, size: i64) {
        let head = size / 6;
        let t = (size / 40).max(2);
        let neck = ground - size + 2 * head;
        let hip = ground - size / 3;
        self.ring(cx, ground - size + head, head, t);
        self.line((cx, neck), (cx, hip), t);
        self.line((cx, hip), (cx - size / 6, ground), t);
        self.line((cx, hip), (cx + size / 6, ground), t);
        self.line((cx, neck + size / 10), (cx - size / 5, hip - size / 10), t);
        self.line((cx, neck + size / 10), (cx + size / 5, neck - size / 20), t);
    }

    fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("writing to memory cannot fail");
        writer
            .write_image_data(&self.pixels)
            .expect("the canvas has exactly width*height pixels");
        writer.finish().expect("writing to memory cannot fail");
        out
    }
}

/// The PNG for comic `num`: same bytes every time, sizes and shapes vary like real comics.
pub fn render(num: u32, title: &str) -> Vec<u8> {
    let h = mix(u64::from(num) ^ 0x00C0_FFEE);
    let (panels, width, height) = match h % 7 {
        0 => (1, 360 + (h >> 8) % 80, 520 + (h >> 16) % 200), // tall
        1 => (3, 700 + (h >> 8) % 60, 240 + (h >> 16) % 40),  // wide strip
        _ => {
            let panels = 1 + (h >> 4) % 3;
            (
                panels as usize,
                240 * panels + (h >> 8) % 120,
                260 + (h >> 16) % 120,
            )
        }
    };
    let (w, hgt) = (width as i64, height as i64);
    let mut canvas = Canvas::new(width as usize, height as usize);

    let margin = 8;
    let title_scale = if w > 500 { 2 } else { 1 };
    let caption = &title
        .chars()
        .take(((w - 2 * margin) / (8 * title_scale)) as usize)
        .collect::<String>();
    canvas.text(margin, margin, caption, title_scale);
    let top = margin + 8 * title_scale + 6;
    let panel_w = (w - margin * 2) / panels as i64;
    for p in 0..panels as i64 {
        let x0 = margin + p * panel_w;
        let x1 = x0 + panel_w - 6;
        canvas.rect(x0, top, x1, hgt - margin, PANEL_GREY);
        canvas.frame(x0, top, x1, hgt - margin, 3);
        let size = ((hgt - top - margin) * 5 / 10).min(panel_w * 7 / 10).max(30);
        let offset = ((h >> (20 + p * 4)) % 5) as i64 - 2;
        canvas.stick_figure(x0 + panel_w / 3 + offset * 6, hgt - margin - 12, size);
    }

    // The number, large, in the last panel's upper right.
    let label = format!("#{num}");
    let scale = ((panel_w - 24) / (8 * label.len() as i64)).clamp(2, 10);
    let label_w = 8 * scale * label.len() as i64;
    let lx = w - margin - 12 - label_w;
    let ly = top + 12;
    canvas.rect(lx - 6, ly - 6, lx + label_w + 6, ly + 8 * scale + 6, WHITE);
    canvas.text(lx, ly, &label, scale);
    canvas.to_png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_varied_pngs() {
        let a = render(614, "Woodpecker");
        let b = render(615, "Other");
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(a, render(614, "Woodpecker"), "deterministic");
        assert_ne!(a, b, "each comic has its own image");
        let dims = |png: &[u8]| {
            let decoder = png::Decoder::new(png);
            let reader = decoder.read_info().unwrap();
            (reader.info().width, reader.info().height)
        };
        let sizes: std::collections::HashSet<_> = (1..40).map(|n| dims(&render(n, "T"))).collect();
        assert!(sizes.len() > 20, "sizes vary: {sizes:?}");
        assert!(a.len() < 64 * 1024, "a demo image stays small: {}", a.len());
    }
}
