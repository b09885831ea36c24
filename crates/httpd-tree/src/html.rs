//! HTML helpers: escaping, link encoding, and directory listings.

use pxe_daemon::time;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    Dir,
    File,
    /// A symbolic link (not followed for the listing).
    Link,
    Other,
}

/// One row of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Unix milliseconds.
    pub modified_ms: Option<u64>,
}

/// `1.5 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The page around a body: title, a little CSS, no scripts.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 1.5em; }}\n\
         table {{ border-collapse: collapse; }}\n\
         th, td {{ text-align: left; padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; vertical-align: top; }}\n\
         td.num {{ text-align: right; }}\n\
         .pending {{ color: #8a6d00; }} .installing {{ color: #0b5cad; }} .installed {{ color: #217a21; }}\n\
         </style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A directory listing. `shown_path` is the decoded URL path of the directory (ending
/// in `/`); links are relative, so they stay right behind any prefix.
pub fn listing(shown_path: &str, entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        (a.kind != EntryKind::Dir, &a.name).cmp(&(b.kind != EntryKind::Dir, &b.name))
    });
    let mut body = String::new();
    let _ = writeln!(body, "<h1>Index of {}</h1>", escape(shown_path));
    body.push_str("<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n");
    if shown_path != "/" {
        body.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in sorted {
        let slash = if e.kind == EntryKind::Dir { "/" } else { "" };
        let size = match e.kind {
            EntryKind::File => human_size(e.size),
            EntryKind::Dir => "-".to_owned(),
            EntryKind::Link => "link".to_owned(),
            EntryKind::Other => "?".to_owned(),
        };
        let modified = e.modified_ms.map(time::readable).unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr><td><a href=\"./{}{slash}\">{}{slash}</a></td><td class=\"num\">{size}</td><td>{modified}</td></tr>",
            encode_segment(&e.name),
            escape(&e.name),
        );
    }
    body.push_str("</table>\n");
    page(&format!("Index of {shown_path}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(encode_segment("a b/c?#%é"), "a%20b%2Fc%3F%23%25%C3%A9");
        assert_eq!(encode_segment("vmlinuz-6.1_x~"), "vmlinuz-6.1_x~");
    }

    #[test]
    fn listing_escapes_names_and_sorts_dirs_first() {
        let entries = vec![
            Entry {
                name: "<script>alert(1)</script>".into(),
                kind: EntryKind::File,
                size: 2048,
                modified_ms: Some(0),
            },
            Entry {
                name: "images".into(),
                kind: EntryKind::Dir,
                size: 0,
                modified_ms: None,
            },
        ];
        let html = listing("/trees/c7/", &entries);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("href=\"./%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
        assert!(html.find("images/").expect("dir") < html.find("&lt;script").expect("file"));
        assert!(html.contains("2.0 KiB"));
        assert!(html.contains("href=\"../\""));
        assert!(!listing("/", &entries).contains("href=\"../\""));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
    }
}
