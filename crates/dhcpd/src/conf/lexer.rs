//! The `dhcpd.conf` lexer. It reproduces the observable behaviour of ISC's `conflex.c`: what a
//! token is (names with dots split off, `00:07` as numbers and colons, one token per stray byte),
//! and the bookkeeping ISC's error messages show: the line number, the text of the line read so
//! far (at most 80 bytes) and the caret position, including the one-column shift ISC gets from
//! pushing back the character after a word, and the "previous line" shown after a look-ahead
//! that crossed a newline.

use super::diag::Diagnostic;
use super::keywords::keyword;

/// What kind of token the lexer returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// End of input.
    Eof,
    /// A single byte that starts no longer token: `;`, `{`, `.`, `:`, or a non-ASCII byte.
    Punct(u8),
    /// A quoted string, escapes resolved.
    Str(Vec<u8>),
    /// Decimal digits (or a word starting with `-` or a digit that stays numeric).
    Number(String),
    /// A word that could be a hex number or a name (`5B`, `ad`, `0x1f`).
    NumberOrName(String),
    /// A plain name.
    Name(String),
    /// A reserved word, canonical lower-case spelling; the source spelling is in `Token::text`.
    Kw(&'static str),
}

/// A token with its text and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Kind.
    pub tok: Tok,
    /// Source text of the token (lossy for non-UTF-8).
    pub text: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based byte column of the token's first byte.
    pub col: u32,
}

impl Token {
    /// ISC's `is_identifier`: any name or keyword (not strings, numbers, punctuation, EOF).
    ///
    /// ISC's token enum is unsigned, so a non-ASCII byte (a negative `char`) compares as a
    /// huge token number and counts as an identifier too: `filename “x”` takes `\xe2` as the
    /// file name and then misses its semicolon.
    pub fn is_identifier(&self) -> bool {
        matches!(self.tok, Tok::Name(_) | Tok::NumberOrName(_) | Tok::Kw(_))
            || matches!(self.tok, Tok::Punct(b) if b >= 0x80)
    }
    /// Is this the keyword `kw` (lower-case)?
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self.tok, Tok::Kw(k) if k == kw)
    }
    /// Is this the punctuation byte `c`?
    pub fn is_punct(&self, c: u8) -> bool {
        self.tok == Tok::Punct(c)
    }
    /// Is this a plain name (ISC `NAME` or `NUMBER_OR_NAME`)?
    pub fn is_name(&self) -> bool {
        matches!(self.tok, Tok::Name(_) | Tok::NumberOrName(_))
    }
}

const EOF: i32 = -1;
const LINE_MAX: usize = 80;

/// Position and line-buffer state: cloned to save and restore a parse position.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    /// File name as ISC prints it (as given on the command line or in `include`).
    pub name: String,
    input: &'a [u8],
    bufix: usize,
    line: u32,
    lpos: u32,
    lines: [Vec<u8>; 2],
    cur: usize,
    token_line: usize,
    ugflag: bool,
    lexline: u32,
    lexchar: u32,
    lexcol: u32,
    tline: u32,
    tlpos: u32,
    tcol: u32,
    line_start: usize,
    peeked: Option<Token>,
    /// Warnings the lexer itself raised (`eof in string constant`).
    pub diags: Vec<Diagnostic>,
}

impl<'a> Lexer<'a> {
    /// A lexer over `input`, reporting errors under `name`.
    pub fn new(name: &str, input: &'a [u8]) -> Self {
        Lexer {
            name: name.to_string(),
            input,
            bufix: 0,
            line: 1,
            lpos: 1,
            lines: [Vec::new(), Vec::new()],
            cur: 0,
            token_line: 0,
            ugflag: false,
            lexline: 0,
            lexchar: 0,
            lexcol: 0,
            tline: 0,
            tlpos: 0,
            tcol: 0,
            line_start: 0,
            peeked: None,
            diags: Vec::new(),
        }
    }

    fn get_char(&mut self) -> i32 {
        let c = match self.input.get(self.bufix) {
            None => EOF,
            Some(&b) => {
                self.bufix += 1;
                // ISC reads through a signed `char`: 0xff compares equal to EOF.
                if b == 0xff { EOF } else { i32::from(b) }
            }
        };
        if self.ugflag {
            self.ugflag = false;
        } else if c == i32::from(b'\n') {
            self.cur = 1 - self.cur;
            self.line += 1;
            self.lpos = 1;
            self.line_start = self.bufix;
            if let Some(l) = self.lines.get_mut(self.cur) {
                l.clear();
            }
        } else if c != EOF {
            if (self.lpos as usize) <= LINE_MAX
                && let Some(l) = self.lines.get_mut(self.cur)
            {
                l.truncate(self.lpos as usize - 1);
                l.push(c as u8);
            }
            self.lpos += 1;
        }
        c
    }

    fn unget_char(&mut self, c: i32) {
        if c != EOF {
            self.bufix -= 1;
            self.ugflag = true;
        }
    }

    fn col_of_last(&self) -> u32 {
        (self.bufix.saturating_sub(self.line_start)) as u32
    }

    /// Emit a diagnostic at the current ISC position (`parse_warn`).
    pub fn warn(&mut self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.name.clone(),
            line: Some(self.lexline),
            message: message.into(),
            line_text: self.lines.get(self.token_line).cloned().unwrap_or_default(),
            isc_col: self.lexchar,
            col: self.lexcol,
        }
    }

    fn raw_token(&mut self) -> Token {
        loop {
            let l = self.line;
            let p = self.lpos;
            let c = self.get_char();
            let col = self.col_of_last();
            if (0..128).contains(&c) && (c as u8).is_ascii_whitespace() || c == 0x0b {
                // Whitespace run: skipped, but it may end the input.
                let mut c2;
                loop {
                    c2 = self.get_char();
                    if c2 == EOF {
                        return self.eof_token();
                    }
                    if !((0..128).contains(&c2) && ((c2 as u8).is_ascii_whitespace() || c2 == 0x0b))
                    {
                        break;
                    }
                }
                self.unget_char(c2);
                continue;
            }
            if c == i32::from(b'#') {
                loop {
                    let c2 = self.get_char();
                    if c2 == EOF || c2 == i32::from(b'\n') {
                        break;
                    }
                }
                continue;
            }
            if c == EOF {
                return self.eof_token();
            }
            self.lexline = l;
            self.lexchar = p;
            self.lexcol = col;
            let b = c as u8;
            let (tok, text) = if b == b'"' {
                let s = self.read_string();
                let text = String::from_utf8_lossy(&s).into_owned();
                (Tok::Str(s), text)
            } else if b.is_ascii_digit() || b == b'-' {
                self.read_number(b)
            } else if b.is_ascii_alphabetic() {
                self.read_name(b)
            } else {
                (Tok::Punct(b), String::from_utf8_lossy(&[b]).into_owned())
            };
            return Token {
                tok,
                text,
                line: l,
                col,
            };
        }
    }

    fn eof_token(&self) -> Token {
        Token {
            tok: Tok::Eof,
            text: String::new(),
            line: self.line,
            col: self.col_of_last() + 1,
        }
    }

    fn read_string(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut bs = 0u8;
        let mut hex = false;
        let mut value: u32 = 0;
        loop {
            if out.len() >= 1500 {
                let d = self.warn("string constant larger than internal buffer");
                self.diags.push(d);
                break;
            }
            let c = self.get_char();
            if c == EOF {
                let d = self.warn("eof in string constant");
                self.diags.push(d);
                break;
            }
            let b = c as u8;
            if bs == 1 {
                match b {
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'n' => out.push(b'\n'),
                    b'b' => out.push(8),
                    b'0'..=b'3' => {
                        hex = false;
                        value = u32::from(b - b'0');
                        bs = 2;
                        continue;
                    }
                    b'x' => {
                        hex = true;
                        value = 0;
                        bs = 2;
                        continue;
                    }
                    other => out.push(other),
                }
                bs = 0;
            } else if bs > 1 {
                let digit = if hex {
                    (b as char).to_digit(16)
                } else {
                    (b as char).to_digit(8)
                };
                match digit {
                    Some(d) => {
                        value = value * if hex { 16 } else { 8 } + d;
                        bs += 1;
                        if bs == 4 {
                            out.push(value as u8);
                            bs = 0;
                        }
                    }
                    None => {
                        let msg = if hex {
                            format!("invalid hex digit: {b:x}")
                        } else {
                            format!("invalid octal digit {b:x}")
                        };
                        let d = self.warn(msg);
                        self.diags.push(d);
                        bs = 0;
                    }
                }
            } else if b == b'\\' {
                bs = 1;
            } else if b == b'"' {
                break;
            } else {
                out.push(b);
            }
        }
        out
    }

    fn read_number(&mut self, first: u8) -> (Tok, String) {
        #[derive(PartialEq)]
        enum K {
            Number,
            NumOrName,
            Name,
        }
        let mut buf = vec![first];
        let mut k = K::Number;
        loop {
            let c = self.get_char();
            if !(0..128).contains(&c) {
                self.unget_char(c);
                break;
            }
            let b = c as u8;
            let accept = match k {
                K::Number if b.is_ascii_digit() => true,
                K::Number | K::NumOrName if b.is_ascii_hexdigit() => {
                    k = K::NumOrName;
                    true
                }
                _ => {
                    if buf.len() == 2
                        && b.is_ascii_hexdigit()
                        && buf[0] == b'0'
                        && (buf[1] | 0x20) == b'x'
                    {
                        k = K::NumOrName;
                        true
                    } else if b == b'-' || b == b'_' || b.is_ascii_alphanumeric() {
                        k = K::Name;
                        true
                    } else {
                        false
                    }
                }
            };
            if !accept {
                self.unget_char(c);
                break;
            }
            buf.push(b);
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let tok = match k {
            K::Number => Tok::Number(text.clone()),
            K::NumOrName => Tok::NumberOrName(text.clone()),
            K::Name => Tok::Name(text.clone()),
        };
        (tok, text)
    }

    fn read_name(&mut self, first: u8) -> (Tok, String) {
        let mut buf = vec![first];
        // ISC never checks the first character: `vc` counts as a possible hex number.
        let mut all_hex = true;
        let _ = first;
        loop {
            let c = self.get_char();
            if !(0..128).contains(&c) {
                self.unget_char(c);
                break;
            }
            let b = c as u8;
            if b != b'-' && b != b'_' && !b.is_ascii_alphanumeric() {
                self.unget_char(c);
                break;
            }
            if !b.is_ascii_hexdigit() {
                all_hex = false;
            }
            buf.push(b);
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let tok = match keyword(&text) {
            Some(k) => Tok::Kw(k),
            None if all_hex => Tok::NumberOrName(text.clone()),
            None => Tok::Name(text.clone()),
        };
        (tok, text)
    }

    /// Consume and return the next token (`next_token`).
    #[allow(clippy::should_implement_trait)] // ISC's name; a lexer is not an iterator here
    pub fn next(&mut self) -> Token {
        if let Some(t) = self.peeked.take() {
            if self.lexline != self.tline {
                self.token_line = self.cur;
            }
            self.lexchar = self.tlpos;
            self.lexline = self.tline;
            self.lexcol = self.tcol;
            t
        } else {
            let t = self.raw_token();
            self.token_line = self.cur;
            t
        }
    }

    /// Look at the next token without consuming it (`peek_token`).
    pub fn peek(&mut self) -> Token {
        if let Some(t) = &self.peeked {
            return t.clone();
        }
        self.tlpos = self.lexchar;
        self.tline = self.lexline;
        self.tcol = self.lexcol;
        let t = self.raw_token();
        if self.lexline != self.tline {
            self.token_line = 1 - self.cur;
        }
        std::mem::swap(&mut self.lexchar, &mut self.tlpos);
        std::mem::swap(&mut self.lexline, &mut self.tline);
        std::mem::swap(&mut self.lexcol, &mut self.tcol);
        self.peeked = Some(t.clone());
        t
    }

    /// Bytes of the input consumed so far, when no token is peeked (a peeked token's bytes
    /// are consumed already).
    pub fn offset(&self) -> Option<usize> {
        self.peeked.is_none().then_some(self.bufix)
    }

    /// Current line number of the last token (ISC's `lexline`).
    #[allow(clippy::misnamed_getters)] // ISC's `lexline`: the line of the last token
    pub fn line(&self) -> u32 {
        self.lexline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        let mut lx = Lexer::new("t", s.as_bytes());
        let mut v = Vec::new();
        loop {
            let t = lx.next();
            if t.tok == Tok::Eof {
                return v;
            }
            v.push(t.tok);
        }
    }

    #[test]
    fn names_numbers_hex_and_strings() {
        assert_eq!(
            kinds("Subnet 10.0.0.0 { 00:0a:F0; \"a\\tb\" foo-bar.baz # c\n"),
            vec![
                Tok::Kw("subnet"),
                Tok::Number("10".into()),
                Tok::Punct(b'.'),
                Tok::Number("0".into()),
                Tok::Punct(b'.'),
                Tok::Number("0".into()),
                Tok::Punct(b'.'),
                Tok::Number("0".into()),
                Tok::Punct(b'{'),
                Tok::Number("00".into()),
                Tok::Punct(b':'),
                Tok::NumberOrName("0a".into()),
                Tok::Punct(b':'),
                Tok::NumberOrName("F0".into()),
                Tok::Punct(b';'),
                Tok::Str(b"a\tb".to_vec()),
                Tok::Name("foo-bar".into()),
                Tok::Punct(b'.'),
                Tok::Name("baz".into()),
            ]
        );
    }

    #[test]
    fn octal_and_hex_escapes() {
        assert_eq!(
            kinds("\"\\101\\x41\\\"\""),
            vec![Tok::Str(b"AA\"".to_vec())]
        );
    }

    #[test]
    fn non_ascii_bytes_are_single_tokens() {
        assert_eq!(
            kinds("a\u{ff1b}"),
            vec![
                Tok::NumberOrName("a".into()),
                Tok::Punct(0xef),
                Tok::Punct(0xbc),
                Tok::Punct(0x9b)
            ]
        );
    }

    #[test]
    fn unterminated_string_warns() {
        let mut lx = Lexer::new("f.conf", b"filename \"abc");
        lx.next();
        let t = lx.next();
        assert_eq!(t.tok, Tok::Str(b"abc".to_vec()));
        assert_eq!(lx.diags.len(), 1);
        assert_eq!(lx.diags[0].message, "eof in string constant");
    }

    #[test]
    fn columns_are_one_based_bytes() {
        let mut lx = Lexer::new("t", b"ab  cd\n  ef");
        assert_eq!(lx.next().col, 1);
        assert_eq!(lx.next().col, 5);
        let t = lx.next();
        assert_eq!((t.line, t.col), (2, 3));
    }
}
