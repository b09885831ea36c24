//! Files and directory listings from trees: validators, conditional requests, byte
//! ranges (single, multipart/byteranges, suffix, 416) and streaming bodies.

use crate::body::{Body, Part};
use crate::conditional::{self, Decision, Validators};
use crate::html::{self, Entry, EntryKind};
use crate::range::{self, ByteRange, Ranges};
use crate::safe_path::{self, Resolved};
use crate::{mime, service::plain};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use std::fs::{File, Metadata};
use std::hash::BuildHasher;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Files up to this size are read whole right after the open, on the async thread (one
/// `pread`, from the page cache as a rule, as nginx does); larger ones stream in chunks
/// read on the blocking pool.
pub const SMALL_FILE: u64 = 64 * 1024;

/// Most entries a listing shows.
pub const MAX_LISTING: usize = 20_000;

fn set(resp: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn with_status(status: StatusCode, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// How the response is built, decided before any byte is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    NotModified,
    PreconditionFailed,
    Whole,
    Single(ByteRange),
    Multi(Vec<ByteRange>),
    Unsatisfiable,
}

/// Ranges that overlap are served whole (RFC 9110 §14.2 lets a server ignore them:
/// they multiply the bytes sent for no reason but a denial of service).
fn overlapping(parts: &[ByteRange]) -> bool {
    let mut sorted = parts.to_vec();
    sorted.sort_by_key(|r| r.first);
    sorted.windows(2).any(|w| w[1].first <= w[0].last)
}

/// Pure: what to send for a file of `len` bytes with validators `v`.
pub fn plan(method: &Method, headers: &HeaderMap, v: &Validators, len: u64) -> Plan {
    match conditional::evaluate(method, headers, v) {
        Decision::NotModified => Plan::NotModified,
        Decision::Failed => Plan::PreconditionFailed,
        Decision::Send { honor_range } => {
            // Range is defined for GET only (RFC 9110 §14.2); HEAD gets the whole length.
            let range = headers
                .get(header::RANGE)
                .and_then(|r| r.to_str().ok())
                .filter(|_| honor_range && method == Method::GET);
            match range.map(|r| range::parse(r, len)) {
                None | Some(Ranges::Whole) => Plan::Whole,
                Some(Ranges::Unsatisfiable) => Plan::Unsatisfiable,
                Some(Ranges::Parts(parts)) if parts.len() == 1 => Plan::Single(parts[0]),
                Some(Ranges::Parts(parts)) if overlapping(&parts) => Plan::Whole,
                Some(Ranges::Parts(parts)) => Plan::Multi(parts),
            }
        }
    }
}

/// A boundary that the content cannot predict.
fn boundary() -> String {
    let h = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("pxe-suite-{h:016x}")
}

/// Opens a resolved file and, when it is a small regular file, reads it whole.
///
/// The file usually comes open from routing (see [`safe_path::resolve`]); otherwise it
/// is opened here. This runs on the calling (async) thread: `open` and `fstat` are
/// metadata operations like the path resolution the router already does in place, and
/// a small file is one `pread` from the page cache. A round trip through the blocking
/// pool costs more than all of them together (two thread wake-ups per request). Larger
/// files stream in chunks read on the blocking pool (see [`crate::body`]).
fn open_small(file: &Resolved) -> std::io::Result<(Arc<File>, Metadata, Option<Bytes>)> {
    let (f, m) = match &file.handle {
        Some(h) => (Arc::clone(&h.file), h.meta.clone()),
        None => {
            let f = safe_path::open(file)?;
            let m = f.metadata()?;
            (Arc::new(f), m)
        }
    };
    let small = if m.is_file() && m.len() <= SMALL_FILE {
        let mut buf = vec![0u8; m.len() as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*f, &mut buf, 0)?;
        Some(Bytes::from(buf))
    } else {
        None
    };
    Ok((f, m, small))
}

/// Serves a resolved regular file.
pub async fn serve(method: &Method, headers: &HeaderMap, file: Resolved) -> Response<Body> {
    let (f, meta, small) = match open_small(&file) {
        Ok(x) => x,
        Err(e) => return open_error(&e),
    };
    let path = file.path;
    if !meta.is_file() {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let len = meta.len();
    let v = Validators::new(meta.ino(), len, meta.modified().unwrap_or(UNIX_EPOCH));
    let ctype = mime::content_type(&path);
    let head = method == Method::HEAD;
    let file = f;
    let mut resp = match plan(method, headers, &v, len) {
        Plan::NotModified => with_status(StatusCode::NOT_MODIFIED, Body::empty()),
        Plan::PreconditionFailed => {
            return plain(StatusCode::PRECONDITION_FAILED, "precondition failed\n");
        }
        Plan::Unsatisfiable => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            set(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
            set(&mut r, header::ACCEPT_RANGES, "bytes");
            return r;
        }
        Plan::Whole => {
            let body = match (head, small) {
                (true, _) => Body::empty(),
                (false, Some(bytes)) => Body::bytes(bytes),
                (false, None) => Body::parts(vec![Part::File {
                    file,
                    offset: 0,
                    len,
                }]),
            };
            let mut r = with_status(StatusCode::OK, body);
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            set(&mut r, header::CONTENT_TYPE, &ctype);
            r
        }
        Plan::Single(br) => {
            let body = match small {
                Some(bytes) => Body::bytes(bytes.slice(br.first as usize..=br.last as usize)),
                None => Body::parts(vec![Part::File {
                    file,
                    offset: br.first,
                    len: br.len(),
                }]),
            };
            let mut r = with_status(StatusCode::PARTIAL_CONTENT, body);
            set(&mut r, header::CONTENT_LENGTH, &br.len().to_string());
            set(&mut r, header::CONTENT_RANGE, &br.content_range(len));
            set(&mut r, header::CONTENT_TYPE, &ctype);
            r
        }
        Plan::Multi(ranges) => {
            let b = boundary();
            let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
            for br in &ranges {
                parts.push(Part::Bytes(Bytes::from(format!(
                    "\r\n--{b}\r\nContent-Type: {ctype}\r\nContent-Range: {}\r\n\r\n",
                    br.content_range(len)
                ))));
                parts.push(Part::File {
                    file: Arc::clone(&file),
                    offset: br.first,
                    len: br.len(),
                });
            }
            parts.push(Part::Bytes(Bytes::from(format!("\r\n--{b}--\r\n"))));
            let body = Body::parts(parts);
            let total = body.len();
            let mut r = with_status(StatusCode::PARTIAL_CONTENT, body);
            set(&mut r, header::CONTENT_LENGTH, &total.to_string());
            set(
                &mut r,
                header::CONTENT_TYPE,
                &format!("multipart/byteranges; boundary={b}"),
            );
            r
        }
    };
    set(&mut resp, header::ETAG, &v.etag);
    set(&mut resp, header::LAST_MODIFIED, &v.last_modified_http());
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    resp
}

fn open_error(e: &std::io::Error) -> Response<Body> {
    use nix::errno::Errno;
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => plain(StatusCode::NOT_FOUND, "not found\n"),
        ErrorKind::PermissionDenied => plain(StatusCode::FORBIDDEN, "not readable\n"),
        // ELOOP/EXDEV from openat2: a symlink appeared on the way.
        _ if [Errno::ELOOP, Errno::EXDEV]
            .iter()
            .any(|&n| e.raw_os_error() == Some(n as i32)) =>
        {
            plain(StatusCode::FORBIDDEN, "path leaves the tree\n")
        }
        _ => {
            tracing::error!(%e, "cannot open a file");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot open the file\n")
        }
    }
}

fn read_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)?.take(MAX_LISTING) {
        let entry = entry?;
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            EntryKind::Link
        } else {
            EntryKind::Other
        };
        out.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind,
            size: meta.len(),
            modified_ms: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
        });
    }
    Ok(out)
}

/// An HTML listing of a directory.
pub async fn listing(dir: PathBuf, shown: String) -> Response<Body> {
    match tokio::task::spawn_blocking(move || read_entries(&dir)).await {
        Ok(Ok(entries)) => {
            let mut r = Response::new(Body::bytes(html::listing(&shown, &entries)));
            set(&mut r, header::CONTENT_TYPE, mime::HTML);
            r
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            plain(StatusCode::FORBIDDEN, "not readable\n")
        }
        Ok(Err(e)) => {
            tracing::error!(%e, "cannot list a directory");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot list the directory\n",
            )
        }
        Err(e) => {
            tracing::error!(%e, "listing task failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn v() -> Validators {
        Validators::new(
            7,
            1000,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        )
    }

    fn plan_for(method: Method, pairs: &[(header::HeaderName, &str)]) -> Plan {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(val).expect("value"));
        }
        plan(&method, &h, &v(), 1000)
    }

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    #[test]
    fn plans() {
        let etag = v().etag;
        assert_eq!(plan_for(Method::GET, &[]), Plan::Whole);
        assert_eq!(
            plan_for(Method::GET, &[(header::RANGE, "bytes=0-9")]),
            Plan::Single(r(0, 9))
        );
        assert_eq!(
            plan_for(Method::HEAD, &[(header::RANGE, "bytes=0-9")]),
            Plan::Whole
        );
        assert_eq!(
            plan_for(Method::GET, &[(header::RANGE, "bytes=0-9,20-29")]),
            Plan::Multi(vec![r(0, 9), r(20, 29)])
        );
        assert_eq!(
            plan_for(Method::GET, &[(header::RANGE, "bytes=0-9,5-29")]),
            Plan::Whole
        );
        assert_eq!(
            plan_for(Method::GET, &[(header::RANGE, "bytes=5000-")]),
            Plan::Unsatisfiable
        );
        assert_eq!(
            plan_for(
                Method::GET,
                &[(header::RANGE, "bytes=0-9"), (header::IF_RANGE, &etag)]
            ),
            Plan::Single(r(0, 9))
        );
        assert_eq!(
            plan_for(
                Method::GET,
                &[(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"old\"")]
            ),
            Plan::Whole
        );
        assert_eq!(
            plan_for(
                Method::GET,
                &[(header::IF_NONE_MATCH, &etag), (header::RANGE, "bytes=0-9")]
            ),
            Plan::NotModified
        );
        assert_eq!(
            plan_for(Method::GET, &[(header::IF_MATCH, "\"old\"")]),
            Plan::PreconditionFailed
        );
    }
}
