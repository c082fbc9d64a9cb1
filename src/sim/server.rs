//! Accept loops: HTTP/1.1 and HTTP/2 on a TCP listener, a cap on open
//! connections, and a shutdown signal that stops accepting and lets the
//! connections in flight finish. Every request carries a [`Connection`]
//! extension (connection id and peer address): sticky routing and the
//! admin API's loopback check read it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Default cap on connections per listener (`SimConfig::max_connections`);
/// further clients wait in the kernel's accept queue (as a busy server's would).
pub const MAX_CONNECTIONS: usize = 8192;

/// The connection a request arrived on (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Unique within the process.
    pub id: u64,
    pub peer: SocketAddr,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Serves `handler` on `listener` until `shutdown` turns true, with at most
/// `max_connections` open at once. A handler error closes the connection
/// without a response (an injected reset).
pub async fn serve<F, Fut, B, E>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    max_connections: usize,
    handler: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                // Transient accept errors (EMFILE, aborted handshakes): keep serving.
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let connection = Connection {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            peer,
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(connection);
                handler.clone()(req)
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client may shut its write side once its request is sent
            // (curl, netcat, raw sockets); without this hyper drops the
            // connection on that EOF, racing the answer it was writing.
            builder.http1().half_close(true);
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            drop(permit);
        });
    }
}
