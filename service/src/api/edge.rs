//! The server's edge: accepting connections under limits a slow or idle client
//! cannot outlast.
//!
//! - a connection must deliver each request's headers within the header
//!   timeout, counted from when it is ready for a request, so the same bound
//!   ends kept-alive connections that sit idle;
//! - a response write that makes no progress (a client that stopped reading,
//!   a streamed answer nobody consumes) ends the connection after the stall
//!   timeout;
//! - at most `max_connections` are open; one more is answered `503` with
//!   `Retry-After` and closed, without reading it.
//!
//! The whole-request timeout is a middleware on the router (see `serve`): it
//! bounds the time to a response's head, so a streamed answer is bounded by the
//! stall timeout between its events instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Timeouts and limits at the edge; every one a `serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Time to receive a request's headers, from when the connection is ready
    /// for one; also how long a kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Time from a request's headers to its response's head.
    pub request_timeout: Duration,
    /// Longest a response write may make no progress.
    pub stall_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The connection slots of the process's server, for the open-connections gauge.
struct Open {
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
}

static OPEN: std::sync::OnceLock<Open> = std::sync::OnceLock::new();

/// Connections open now.
pub(super) fn open_connections() -> usize {
    OPEN.get()
        .map_or(0, |o| o.max - o.slots.available_permits())
}

/// Time a graceful shutdown gives open connections to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// What a connection over the limit is told before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 86\r\n\r\n{\"error\":{\"code\":\"overloaded\",\"message\":\"too many open connections; try again shortly\"}}";

/// Accepts connections on `listener` and serves `app` on each under `edge`,
/// until `shutdown` resolves; then lets open connections finish for a while.
pub(super) async fn accept(
    listener: TcpListener,
    app: Router,
    edge: Edge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(edge.max_connections));
    let _ = OPEN.set(Open {
        slots: slots.clone(),
        max: edge.max_connections,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(edge.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(edge.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                // A full file table or a connection reset before accept: the
                // listener itself is fine, so wait a moment and go on.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            crate::metrics::inc(
                "candor_http_connections_refused_total",
                "Connections closed at once because max_connections were open.",
                &[],
            );
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Stalling::new(stream, edge.stall_timeout));
        let service = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection_with_upgrades(io, service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _slot = slot;
            // A client that goes away, times out or sends garbage ends its own
            // connection; nothing to report beyond debug.
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {DRAIN:?} after shutdown began; closing them");
    }
    Ok(())
}

/// Tells a connection over the limit to come back, and closes it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(OVER_CAPACITY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A stream whose writes fail once they have made no progress for `limit`.
struct Stalling<T> {
    io: T,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Stalling<T> {
    fn new(io: T, limit: Duration) -> Self {
        Stalling {
            io,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's progress; a pending write starts (or checks) the
    /// stall timer, and progress resets it.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalling<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalling<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
