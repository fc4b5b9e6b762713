//! Bounded capture of a plugin's stdout and stderr.
//!
//! A plugin may print freely: the first bytes are kept for the log and the rest
//! is dropped and counted. A write never fails, because a Rust guest panics when
//! printing fails, and a full log must not turn into a crash.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A shared, bounded byte sink.
#[derive(Clone)]
pub struct Bounded {
    inner: Arc<Mutex<Sink>>,
}

struct Sink {
    kept: Vec<u8>,
    capacity: usize,
    dropped: usize,
}

impl Bounded {
    /// A sink that keeps at most `capacity` bytes.
    pub fn new(capacity: usize) -> Bounded {
        Bounded {
            inner: Arc::new(Mutex::new(Sink {
                kept: Vec::new(),
                capacity,
                dropped: 0,
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        if let Ok(mut s) = self.inner.lock() {
            let room = s.capacity.saturating_sub(s.kept.len());
            let n = room.min(bytes.len());
            s.kept.extend_from_slice(&bytes[..n]);
            s.dropped += bytes.len() - n;
        }
    }

    /// What was printed (lossy UTF-8), with a note of what was dropped; None when
    /// nothing was printed.
    pub fn take(&self) -> Option<String> {
        let s = self.inner.lock().ok()?;
        if s.kept.is_empty() && s.dropped == 0 {
            return None;
        }
        let mut text = String::from_utf8_lossy(&s.kept).trim_end().to_owned();
        if s.dropped > 0 {
            text.push_str(&format!(" [{} more bytes dropped]", s.dropped));
        }
        Some(text)
    }
}

impl IsTerminal for Bounded {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Bounded {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Bounded {
    async fn ready(&mut self) {}
}

impl OutputStream for Bounded {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Bounded {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let b = super::Bounded::new(5);
        assert_eq!(b.take(), None);
        b.push(b"hello world");
        assert_eq!(b.take().as_deref(), Some("hello [6 more bytes dropped]"));
    }
}
