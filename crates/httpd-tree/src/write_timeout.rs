//! A connection wrapper that keeps a client from holding a connection (and its slot):
//! a write that makes no progress for too long fails; with [`Pacing`], a response sent
//! slower than a minimum rate fails too, and a keep-alive connection that stays idle
//! after its response ends is closed sooner than the header timeout would.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Limits on how a client reads responses and idles between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// An idle keep-alive connection (its response sent, no new request begun) is closed
    /// after this long.
    pub idle: Duration,
    /// Bytes per second a response must average once it has been sending for
    /// [`Pacing::measure_after`]; 0 turns the check off.
    pub min_rate: u64,
    /// How long a response sends before its rate is judged (small bodies never are).
    pub measure_after: Duration,
}

/// `io` whose writes time out after `limit` without progress.
#[derive(Debug)]
pub struct WriteTimeout<T> {
    io: T,
    limit: Duration,
    /// Armed while a write is pending.
    timer: Option<Pin<Box<Sleep>>>,
    pacing: Option<Pacing>,
    /// When bytes were last written.
    last_write: Option<Instant>,
    /// Bytes were read since the last write: a request is under way, not idle.
    read_since_write: bool,
    /// The idle timer, armed while a read waits on an idle connection.
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// Since when the current response sends, and how many bytes so far.
    window: Option<(Instant, u64)>,
}

impl<T> WriteTimeout<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        WriteTimeout {
            io,
            limit,
            timer: None,
            pacing: None,
            last_write: None,
            read_since_write: false,
            idle_timer: None,
            window: None,
        }
    }

    /// With the idle and minimum-rate limits of `pacing`.
    pub fn with_pacing(io: T, limit: Duration, pacing: Pacing) -> Self {
        WriteTimeout {
            pacing: Some(pacing),
            ..WriteTimeout::new(io, limit)
        }
    }

    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// `n` bytes were written: the response's rate is checked once it has sent long
    /// enough.
    fn wrote(&mut self, n: usize) -> io::Result<()> {
        self.timer = None;
        if n == 0 {
            return Ok(());
        }
        let now = Instant::now();
        if self.read_since_write || self.window.is_none() {
            // The first write of a new response.
            self.window = Some((now, 0));
        }
        self.read_since_write = false;
        self.last_write = Some(now);
        let Some(p) = self.pacing else { return Ok(()) };
        let Some((start, bytes)) = self.window.as_mut() else {
            return Ok(());
        };
        *bytes += n as u64;
        let elapsed = now.duration_since(*start);
        if p.min_rate > 0 && elapsed >= p.measure_after {
            let rate = *bytes as f64 / elapsed.as_secs_f64();
            if rate < p.min_rate as f64 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "client reads {rate:.0} bytes/s, slower than the minimum {} bytes/s",
                        p.min_rate
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A read is waiting: `true` once an idle keep-alive connection has idled too long.
    fn idle_over(&mut self, cx: &mut Context<'_>) -> bool {
        let (Some(p), Some(last)) = (self.pacing, self.last_write) else {
            return false;
        };
        if self.read_since_write {
            return false;
        }
        let deadline = last + p.idle;
        let timer = self
            .idle_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }

    fn written(&mut self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => Poll::Ready(self.wrote(n).map(|()| n)),
            other => {
                self.timer = None;
                other
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.read_since_write = true;
                    self.idle_timer = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.idle_over(cx) => {
                // End of input: hyper closes an idle connection quietly.
                self.idle_timer = None;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => self.written(ready),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => self.written(ready),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => {
                self.timer = None;
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_fails_and_a_moving_one_does_not() {
        // A duplex pipe with a 16-byte buffer that nobody reads: writes stall.
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = WriteTimeout::new(a, Duration::from_secs(5));
        w.write_all(&[0u8; 16]).await.expect("fits in the buffer");
        let err = w
            .write_all(&[0u8; 16])
            .await
            .expect_err("stalls, then times out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // With a reader, the same writes go through.
        let (a, mut r) = tokio::io::duplex(16);
        let mut w = WriteTimeout::new(a, Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut r, &mut buf)
                .await
                .map(|_| buf.len())
        });
        w.write_all(&[1u8; 1000]).await.expect("progress");
        w.shutdown().await.expect("shutdown");
        drop(w);
        assert_eq!(reader.await.expect("join").expect("read"), 1000);
        drop(b.shutdown().await);
    }

    const PACING: Pacing = Pacing {
        idle: Duration::from_secs(5),
        min_rate: 1000,
        measure_after: Duration::from_secs(10),
    };

    #[tokio::test(start_paused = true)]
    async fn a_reader_slower_than_the_minimum_rate_is_dropped() {
        use tokio::io::AsyncReadExt;
        let (a, mut r) = tokio::io::duplex(64);
        let mut w = WriteTimeout::with_pacing(a, Duration::from_secs(60), PACING);
        // The reader takes 100 bytes a second: never stalled, but 10 times too slow.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 100];
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        let err = w.write_all(&[0u8; 100_000]).await.expect_err("too slow");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("slower than the minimum"), "{err}");
        drop(w);
        reader.await.expect("join");
        // A reader at full speed sends the same bytes.
        let (a, mut r) = tokio::io::duplex(64);
        let mut w = WriteTimeout::with_pacing(a, Duration::from_secs(60), PACING);
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).await.map(|_| buf.len())
        });
        w.write_all(&[0u8; 100_000]).await.expect("fast enough");
        w.shutdown().await.expect("shutdown");
        drop(w);
        assert_eq!(reader.await.expect("join").expect("read"), 100_000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_ends_after_the_idle_limit() {
        use tokio::io::AsyncReadExt;
        let (a, mut client) = tokio::io::duplex(1024);
        let mut server = WriteTimeout::with_pacing(a, Duration::from_secs(60), PACING);
        let mut buf = [0u8; 16];
        // Before any response, a read waits (the header timeout's business).
        let waited = tokio::time::timeout(Duration::from_secs(30), server.read(&mut buf)).await;
        assert!(waited.is_err(), "no idle limit before the first response");
        client.write_all(b"GET").await.expect("request");
        assert_eq!(server.read(&mut buf).await.expect("read"), 3);
        server.write_all(b"response").await.expect("response");
        let started = Instant::now();
        // Idle after the response: end of input after the idle limit.
        assert_eq!(server.read(&mut buf).await.expect("eof"), 0);
        assert_eq!(started.elapsed(), PACING.idle);
        // A new request within the limit is read as usual.
        let (a, mut client) = tokio::io::duplex(1024);
        let mut server = WriteTimeout::with_pacing(a, Duration::from_secs(60), PACING);
        client.write_all(b"GET").await.expect("request");
        assert_eq!(server.read(&mut buf).await.expect("read"), 3);
        server.write_all(b"response").await.expect("response");
        tokio::time::sleep(Duration::from_secs(4)).await;
        client.write_all(b"GET2").await.expect("request");
        assert_eq!(server.read(&mut buf).await.expect("read"), 4);
        let mut rest = Vec::new();
        drop(server);
        client.read_to_end(&mut rest).await.expect("read");
    }
}
