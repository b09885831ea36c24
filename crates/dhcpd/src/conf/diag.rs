//! Diagnostics in ISC dhcpd's format: `FILE line N: message`, the offending line as read so far,
//! and a caret line. ISC places the caret with its own column bookkeeping (`isc_col`), which is
//! often one past the token's first byte; we keep that placement so the output matches ISC's
//! byte for byte, and name the real 1-based column after the caret.

use std::fmt::Write as _;

/// One configuration error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given (command line or `include`).
    pub file: String,
    /// Line number; `None` for errors ISC prints without one (`Can't open ...`).
    pub line: Option<u32>,
    /// Message text, ISC's wording.
    pub message: String,
    /// The line's bytes as ISC had read them when it reported (at most 80).
    pub line_text: Vec<u8>,
    /// ISC's caret position (`lexchar`): the caret is printed after `isc_col - 1` columns.
    pub isc_col: u32,
    /// Our 1-based byte column of the token the error is about.
    pub col: u32,
}

impl Diagnostic {
    /// A diagnostic without position (ISC's `log_error`/`log_fatal` lines).
    pub fn bare(message: impl Into<String>) -> Self {
        Diagnostic {
            file: String::new(),
            line: None,
            message: message.into(),
            line_text: Vec::new(),
            isc_col: 0,
            col: 0,
        }
    }

    /// The first line exactly as ISC prints it.
    pub fn headline(&self) -> String {
        match self.line {
            Some(n) => format!("{} line {}: {}", self.file, n, self.message),
            None => self.message.clone(),
        }
    }

    /// The full report as bytes: headline, line text, caret line (with our column), ISC layout.
    pub fn render(&self, with_column: bool) -> Vec<u8> {
        let mut out = self.headline().into_bytes();
        out.push(b'\n');
        if self.line.is_none() {
            return out;
        }
        out.extend_from_slice(&self.line_text);
        out.push(b'\n');
        let mut caret = String::new();
        if self.isc_col < 81 {
            let upto = self.isc_col.saturating_sub(1) as usize;
            for b in self.line_text.iter().take(upto) {
                caret.push(' ');
                if *b == b'\t' {
                    while !caret.len().is_multiple_of(8) {
                        caret.push(' ');
                    }
                }
            }
        }
        caret.push('^');
        if with_column && self.col > 0 {
            let _ = write!(caret, " column {}", self.col);
        }
        out.extend_from_slice(caret.as_bytes());
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_isc() {
        let d = Diagnostic {
            file: "x.conf".into(),
            line: Some(2),
            message: "semicolon expected.".into(),
            line_text: b"ftp-ip code ".to_vec(),
            isc_col: 9,
            col: 8,
        };
        assert_eq!(
            String::from_utf8(d.render(false)).expect("utf8"),
            "x.conf line 2: semicolon expected.\nftp-ip code \n        ^\n"
        );
        assert!(
            String::from_utf8(d.render(true))
                .expect("utf8")
                .ends_with("^ column 8\n")
        );
    }

    #[test]
    fn tabs_expand_to_eight() {
        let d = Diagnostic {
            file: "x".into(),
            line: Some(1),
            message: "m".into(),
            line_text: b"\tab".to_vec(),
            isc_col: 3,
            col: 2,
        };
        let s = String::from_utf8(d.render(false)).expect("utf8");
        assert!(s.ends_with("\n         ^\n"), "{s:?}");
    }
}
