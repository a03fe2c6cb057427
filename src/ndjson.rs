//! Splits a newline-delimited body into lines as its bytes arrive, chunk by chunk.
//!
//! Chunks fall wherever the network cut them: a line may span several, and a chunk may end
//! inside a multi-byte UTF-8 character. A newline byte (0x0A) never occurs inside a UTF-8
//! sequence, so lines are cut on bytes and decoded only once whole; a character split across
//! chunks is therefore never seen half.

use std::fmt;

/// Why a body could not be split into lines. After an error the body is abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// A line grew past the limit before its newline arrived.
    TooLong { limit: usize },
    /// A whole line was not valid UTF-8.
    NotUtf8 { line: usize },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(f, "a line of the stream is longer than {limit} bytes"),
            LineError::NotUtf8 { line } => write!(f, "line {line} of the stream is not UTF-8"),
        }
    }
}

/// Collects bytes and hands back each complete line, without its `\n` (or `\r\n`). Blank
/// lines are skipped. Memory stays bounded: a partial line longer than `max_line_bytes` is
/// an error as soon as it is seen, not when (or if) its newline comes.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max_line_bytes: usize,
    /// Lines seen so far, blank ones included, for error messages.
    lines_seen: usize,
}

impl LineSplitter {
    pub fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            partial: Vec::new(),
            max_line_bytes,
            lines_seen: 0,
        }
    }

    /// Adds one chunk and returns the lines it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, LineError> {
        let mut lines = Vec::new();
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.extend(&rest[..newline])?;
            let line = std::mem::take(&mut self.partial);
            if let Some(text) = self.decode(line)? {
                lines.push(text);
            }
            rest = &rest[newline + 1..];
        }
        self.extend(rest)?;
        Ok(lines)
    }

    /// Ends the body: the last line, if it had no newline of its own.
    pub fn finish(mut self) -> Result<Option<String>, LineError> {
        let line = std::mem::take(&mut self.partial);
        self.decode(line)
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), LineError> {
        if self.partial.len() + bytes.len() > self.max_line_bytes {
            return Err(LineError::TooLong {
                limit: self.max_line_bytes,
            });
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    fn decode(&mut self, mut line: Vec<u8>) -> Result<Option<String>, LineError> {
        self.lines_seen += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        String::from_utf8(line).map(Some).map_err(|_| LineError::NotUtf8 {
            line: self.lines_seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]], max: usize) -> Result<Vec<String>, LineError> {
        let mut splitter = LineSplitter::new(max);
        let mut lines = Vec::new();
        for chunk in chunks {
            lines.extend(splitter.push(chunk)?);
        }
        lines.extend(splitter.finish()?);
        Ok(lines)
    }

    #[test]
    fn whole_lines_in_one_chunk() {
        assert_eq!(
            split_all(&[b"{\"id\":1}\n{\"id\":2}\n"], 100),
            Ok(vec!["{\"id\":1}".to_string(), "{\"id\":2}".to_string()])
        );
    }

    #[test]
    fn a_line_is_returned_when_its_newline_arrives_not_before() {
        let mut splitter = LineSplitter::new(100);
        assert_eq!(splitter.push(b"{\"id\""), Ok(vec![]));
        assert_eq!(splitter.push(b":614"), Ok(vec![]));
        assert_eq!(
            splitter.push(b"}\n{\"id\":"),
            Ok(vec!["{\"id\":614}".to_string()])
        );
        assert_eq!(splitter.push(b"2}\n"), Ok(vec!["{\"id\":2}".to_string()]));
        assert_eq!(splitter.finish(), Ok(None));
    }

    #[test]
    fn every_cut_of_the_bytes_gives_the_same_lines() {
        // Two-, three- and four-byte characters, so some cuts fall inside a character.
        let body = "{\"t\":\"é\"}\n{\"t\":\"€ and ✓\"}\r\n\n{\"t\":\"😀\"}\n{\"t\":\"end\"}";
        let want = vec![
            "{\"t\":\"é\"}".to_string(),
            "{\"t\":\"€ and ✓\"}".to_string(),
            "{\"t\":\"😀\"}".to_string(),
            "{\"t\":\"end\"}".to_string(),
        ];
        let bytes = body.as_bytes();
        for first in 0..=bytes.len() {
            for second in first..=bytes.len() {
                let chunks = [&bytes[..first], &bytes[first..second], &bytes[second..]];
                assert_eq!(
                    split_all(&chunks, 100).as_ref(),
                    Ok(&want),
                    "cut at {first} and {second}"
                );
            }
        }
        // And one byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(split_all(&singles, 100), Ok(want));
    }

    #[test]
    fn a_last_line_without_newline_is_kept() {
        assert_eq!(
            split_all(&[b"{\"id\":1}\n{\"id\":", b"2}"], 100),
            Ok(vec!["{\"id\":1}".to_string(), "{\"id\":2}".to_string()])
        );
        assert_eq!(split_all(&[b""], 100), Ok(vec![]));
        assert_eq!(split_all(&[b"\n\n \r\n"], 100), Ok(vec![]));
    }

    #[test]
    fn an_over_long_line_is_an_error_before_its_newline() {
        let mut splitter = LineSplitter::new(8);
        assert_eq!(splitter.push(b"12345678\n"), Ok(vec!["12345678".to_string()]));
        assert_eq!(splitter.push(b"12345"), Ok(vec![]));
        assert_eq!(splitter.push(b"6789"), Err(LineError::TooLong { limit: 8 }));
        assert_eq!(
            split_all(&[b"123456789"], 8),
            Err(LineError::TooLong { limit: 8 }),
            "a final line without newline is held to the same limit"
        );
        assert_eq!(
            LineError::TooLong { limit: 8 }.to_string(),
            "a line of the stream is longer than 8 bytes"
        );
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let err = split_all(&[b"{}\n\xff\xfe\n"], 100).unwrap_err();
        assert_eq!(err, LineError::NotUtf8 { line: 2 });
        assert_eq!(err.to_string(), "line 2 of the stream is not UTF-8");
        // A character cut short by the end of the body is invalid too.
        assert_eq!(
            split_all(&["{\"t\":\"€".as_bytes()[..8].as_ref()], 100),
            Err(LineError::NotUtf8 { line: 1 })
        );
    }
}
