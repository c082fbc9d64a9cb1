//! Live progress end to end: a run whose stderr is not a terminal prints
//! `progress` lines, and `--metrics-addr` serves Prometheus text with the
//! counters those lines come from, while the run goes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn progress_lines_and_prometheus_text_while_the_run_goes() {
    let out = std::env::temp_dir().join(format!("iamstorm-live-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "run",
            "tests/data/scenarios/revoke.toml",
            "--metrics-addr",
            "127.0.0.1:0",
            "--out",
            out.to_str().expect("utf-8 path"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iamstorm runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut url = None;
    let mut progress = None;
    for line in lines.by_ref() {
        let line = line.expect("utf-8");
        if let Some(u) = line.strip_prefix("metrics: http://") {
            url = Some(u.trim_end_matches("/metrics").to_owned());
        }
        if line.starts_with("progress ") {
            progress = Some(line);
            break;
        }
    }
    let progress = progress.expect("a progress line while the run goes");
    assert!(
        progress.contains("/s") && progress.contains(" ok "),
        "{progress}"
    );
    // The endpoint serves at least the snapshot that line was drawn from.
    let addr = url.expect("the metrics address is announced");
    let mut stream = TcpStream::connect(&addr).expect("metrics endpoint listens");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let ok: u64 = response
        .lines()
        .find_map(|l| l.strip_prefix("iamstorm_requests_total{op=\"s3:GetObject\",class=\"ok\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ok counter: {response}"));
    assert!(ok > 0, "{response}");
    assert!(
        response.contains("iamstorm_latency_ms{op=\"s3:GetObject\",quantile=\"0.99\"}"),
        "{response}"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().expect("exits").success(), "{rest:?}");
    // Line-oriented: a line every 5 s, not one per second.
    let more = rest.iter().filter(|l| l.starts_with("progress ")).count();
    assert!(more <= 2, "{rest:?}");
    let _ = std::fs::remove_dir_all(&out);
}
