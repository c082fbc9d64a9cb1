//! One instance's IMDS accept loop. Unlike the edge's (`sim::server`), it
//! obeys the instance's fault knobs at the socket level: during a `refuse`
//! outage the listener is closed (connection refused) and open connections
//! are dropped, and past `max_connections` a new connection is closed as
//! soon as it is accepted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::Instance;
use super::controls::OutageMode;
use crate::sim::server::MAX_CONNECTIONS;
use crate::sim::state::SimState;

/// How long to wait before retrying to rebind the port after an outage.
const REBIND_RETRY: Duration = Duration::from_millis(20);

/// Decrements the open-connection count when a connection ends.
struct OpenGuard(Arc<Instance>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .counters
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `instance`'s IMDS until the double shuts down.
pub async fn serve(state: Arc<SimState>, instance: Arc<Instance>, listener: TcpListener) {
    let mut listener = Some(listener);
    let mut shutdown = state.shutdown.clone();
    let mut wake = instance.wake.subscribe();
    loop {
        if *shutdown.borrow() {
            return;
        }
        if instance.is_terminated() {
            drop(listener.take());
            instance.listening.send_replace(false);
            return;
        }
        let now = Instant::now();
        let (outage, until) = instance.outage(now);
        if outage == Some(OutageMode::Refuse) {
            // Dropping the listener closes the port: connection refused.
            listener = None;
            instance.listening.send_replace(false);
            let window_end = async {
                match until {
                    Some(u) => tokio::time::sleep_until(u.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = window_end => {}
                _ = wake.changed() => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        if listener.is_none() {
            match TcpListener::bind(instance.imds_addr).await {
                Ok(l) => {
                    listener = Some(l);
                    instance.listening.send_replace(true);
                }
                Err(_) => {
                    tokio::time::sleep(REBIND_RETRY).await;
                    continue;
                }
            }
        }
        let Some(l) = listener.as_ref() else {
            continue;
        };
        let stream = tokio::select! {
            accepted = l.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = wake.changed() => continue,
            _ = shutdown.changed() => return,
        };
        let cap = instance
            .controls()
            .max_connections
            .map_or(MAX_CONNECTIONS, |c| (c as usize).min(MAX_CONNECTIONS));
        let open = instance
            .counters
            .open_connections
            .fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(instance.clone());
        if open >= cap {
            instance
                .counters
                .connections_dropped
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            drop(guard);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (st, inst) = (state.clone(), instance.clone());
        let mut kill = instance.kill.subscribe();
        tokio::spawn(async move {
            let _guard = guard;
            let svc =
                hyper::service::service_fn(move |req| super::handle(st.clone(), inst.clone(), req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                // A `refuse` outage began: drop the connection mid-flight.
                _ = kill.changed() => {}
            }
        });
    }
}
