//! The bench's servers, all children on 127.0.0.1: the minimal hyper
//! server (this binary re-executed) and the world a standalone
//! `iamstorm sim` serves.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::Full;

use crate::BODY;

/// The baseline server: hyper 1, HTTP/1.1 keep-alive, a fixed 100-byte body.
pub(crate) fn minimal_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        println!("{}", listener.local_addr().expect("addr").port());
        std::io::stdout().flush().expect("flush");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(BODY))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A child process and what it printed first.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) lines: Vec<String>,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and reads stdout lines until `done` says so.
pub(crate) fn spawn(mut cmd: Command, done: impl Fn(&[String]) -> bool) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut server = Server {
        child,
        lines: Vec::new(),
    };
    for line in BufReader::new(stdout).lines() {
        server.lines.push(line.expect("utf-8"));
        if done(&server.lines) {
            return server;
        }
    }
    // Dropping `server` kills and reaps the child.
    panic!("server exited early: {:?}", server.lines);
}

/// The role, profile and bucket every harness scenario uses (the bench
/// world's `read.json` grants GetObject on the bucket).
pub(crate) const WORLD: &str = r#"
[[iam.roles]]
name = "bench-role"
trust = "ec2"
inline = { read = "read.json" }

[[iam.instance_profiles]]
name = "bench-profile"
role = "bench-role"

[[s3.buckets]]
name = "bench"
objects = "obj-{0..99}"
object_size = "100B"
"#;

/// The world the double serves: a role whose instances may read the bucket,
/// two instances, quotas raised so nothing throttles.
pub(crate) fn world(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("read.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bench/*"}]}"#,
    )
    .expect("policy");
    let path = dir.join("world.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "bench"
seed = 1
duration = "1h"

[sim.quotas]
s3_read_per_s = 1000000
s3_write_per_s = 1000000
sts_per_s = 1000000
imds_per_s = 1000000
{WORLD}
[[fleet]]
group = "bench"
instance_profile = "bench-profile"
instances = 1
workers_per_instance = 64

[[load]]
op = "s3:GetObject"
bucket = "bench"
keys = "obj-{{0..99}}"
rate = 1
"#
        ),
    )
    .expect("world");
    path
}
