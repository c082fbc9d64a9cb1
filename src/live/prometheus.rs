//! `--metrics-addr 127.0.0.1:PORT`: the live [`Snapshot`] as Prometheus
//! text (exposition format 0.0.4) on `GET /metrics`, for a dashboard
//! watching a long run: request counters per op and class, and per-op
//! corrected-latency summaries (p50/p90/p99, sum, count).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Snapshot;

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text for a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP iamstorm_requests_total Requests answered, by op and outcome class."
    );
    let _ = writeln!(out, "# TYPE iamstorm_requests_total counter");
    for c in &s.cells {
        let _ = writeln!(
            out,
            "iamstorm_requests_total{{op=\"{}\",class=\"{}\"}} {}",
            label(&c.op),
            c.class.as_str(),
            c.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP iamstorm_latency_ms Latency from the intended start, ms."
    );
    let _ = writeln!(out, "# TYPE iamstorm_latency_ms summary");
    for l in &s.latency {
        let op = label(&l.op);
        for (q, v) in [("0.5", l.p50_ms), ("0.9", l.p90_ms), ("0.99", l.p99_ms)] {
            let _ = writeln!(
                out,
                "iamstorm_latency_ms{{op=\"{op}\",quantile=\"{q}\"}} {v}"
            );
        }
        let _ = writeln!(out, "iamstorm_latency_ms_sum{{op=\"{op}\"}} {}", l.sum_ms);
        let _ = writeln!(out, "iamstorm_latency_ms_count{{op=\"{op}\"}} {}", l.count);
    }
    let _ = writeln!(
        out,
        "# HELP iamstorm_elapsed_seconds Time since the load started."
    );
    let _ = writeln!(out, "# TYPE iamstorm_elapsed_seconds gauge");
    let _ = writeln!(out, "iamstorm_elapsed_seconds {}", s.elapsed.as_secs_f64());
    out
}

/// Binds `addr` (the caller checks it is loopback unless told otherwise).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` from the latest snapshot until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    rx: watch::Receiver<Snapshot>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let rx = rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let rx = rx.clone();
                async move {
                    let response = if req.uri().path() == "/metrics" {
                        Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(render(&rx.borrow()))))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(b"try /metrics\n")))
                    };
                    Ok::<_, Infallible>(
                        response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
                    )
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{CellTotal, OpLatency};
    use crate::observe::outcome::OutcomeClass;

    #[test]
    fn counters_and_summaries_in_exposition_format() {
        let s = Snapshot {
            cells: vec![CellTotal {
                op: "re\"ads".into(),
                class: OutcomeClass::AccessDenied,
                count: 7,
            }],
            latency: vec![OpLatency {
                op: "reads".into(),
                count: 7,
                p50_ms: 1.5,
                p90_ms: 2.0,
                p99_ms: 3.25,
                sum_ms: 11.0,
            }],
            ..Snapshot::default()
        };
        let text = render(&s);
        assert!(
            text.contains("iamstorm_requests_total{op=\"re\\\"ads\",class=\"access_denied\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("iamstorm_latency_ms{op=\"reads\",quantile=\"0.99\"} 3.25\n"),
            "{text}"
        );
        assert!(
            text.contains("iamstorm_latency_ms_count{op=\"reads\"} 7\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE iamstorm_requests_total counter"));
    }
}
