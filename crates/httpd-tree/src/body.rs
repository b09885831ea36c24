//! Response bodies: nothing, bytes in memory, or a sequence of parts read from a file
//! in chunks on the blocking pool (never the whole file in memory), which also carries
//! the multipart/byteranges framing.

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

/// How much of a file is read per step.
pub const CHUNK: u64 = 256 * 1024;

/// One piece of a streamed body.
#[derive(Debug)]
pub enum Part {
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// A response body.
#[derive(Debug, Default)]
pub struct Body {
    parts: VecDeque<Part>,
    reading: Option<JoinHandle<io::Result<Bytes>>>,
    /// Bytes not yet yielded.
    remaining: u64,
    /// A stream of unknown length (server-sent events): chunks as they are sent, until
    /// the sender is dropped.
    live: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

impl Body {
    pub fn empty() -> Body {
        Body::default()
    }

    pub fn bytes(b: impl Into<Bytes>) -> Body {
        Body::parts(vec![Part::Bytes(b.into())])
    }

    pub fn parts(parts: Vec<Part>) -> Body {
        let parts: VecDeque<Part> = parts.into_iter().filter(|p| p.len() > 0).collect();
        Body {
            remaining: parts.iter().map(Part::len).sum(),
            parts,
            reading: None,
            live: None,
        }
    }

    /// A body of chunks received from `rx` until its sender is dropped.
    pub fn live(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
        Body {
            live: Some(rx),
            ..Body::default()
        }
    }

    /// The exact length of the body.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

/// Reads exactly `len` bytes at `offset`; a file that shrank is an error, never a short body.
fn read_chunk(file: &File, offset: u64, len: u64) -> io::Result<Bytes> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if let Some(handle) = &mut this.reading {
            let result = match Pin::new(handle).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            this.reading = None;
            return Poll::Ready(Some(match result {
                Ok(Ok(bytes)) => {
                    this.remaining = this.remaining.saturating_sub(bytes.len() as u64);
                    Ok(Frame::data(bytes))
                }
                Ok(Err(e)) => Err(e),
                Err(join) => Err(io::Error::other(join)),
            }));
        }
        let Some(front) = this.parts.front_mut() else {
            return match &mut this.live {
                Some(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
                None => Poll::Ready(None),
            };
        };
        match front {
            Part::Bytes(_) => {
                let Some(Part::Bytes(b)) = this.parts.pop_front() else {
                    return Poll::Ready(None);
                };
                this.remaining = this.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Part::File { file, offset, len } => {
                let n = (*len).min(CHUNK);
                let (f, at) = (Arc::clone(file), *offset);
                *offset += n;
                *len -= n;
                if *len == 0 {
                    this.parts.pop_front();
                }
                this.reading = Some(tokio::task::spawn_blocking(move || read_chunk(&f, at, n)));
                // Poll the read at once so its waker is registered.
                self.poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty() && self.reading.is_none() && self.live.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.live.is_some() {
            return SizeHint::default();
        }
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    #[tokio::test]
    async fn streams_parts_in_order_in_chunks() {
        let mut f = tempfile::tempfile().expect("tempfile");
        let data: Vec<u8> = (0..(CHUNK as usize * 2 + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        f.write_all(&data).expect("write");
        let file = Arc::new(f);
        let body = Body::parts(vec![
            Part::Bytes(Bytes::from_static(b"head")),
            Part::File {
                file: Arc::clone(&file),
                offset: 10,
                len: CHUNK + 50,
            },
            Part::Bytes(Bytes::new()),
            Part::File {
                file,
                offset: 0,
                len: 3,
            },
        ]);
        assert_eq!(body.len(), 4 + CHUNK + 50 + 3);
        let mut frames = 0;
        let mut got = Vec::new();
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let data = frame.expect("frame").into_data().expect("data");
            assert!(data.len() as u64 <= CHUNK);
            got.extend_from_slice(&data);
            frames += 1;
        }
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[10..10 + CHUNK as usize + 50]);
        want.extend_from_slice(&data[..3]);
        assert_eq!(got, want);
        assert_eq!(frames, 4);
    }

    #[tokio::test]
    async fn a_file_that_shrank_is_an_error() {
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(b"short").expect("write");
        let mut body = Body::parts(vec![Part::File {
            file: Arc::new(f),
            offset: 0,
            len: 100,
        }]);
        let frame = body.frame().await.expect("a frame");
        assert!(frame.is_err());
    }
}
