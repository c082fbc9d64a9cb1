//! moto server as a second baseline, when its venv is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::BODY;
use crate::accounting::Window;
use crate::clients::{get_loop, s3_client};
use crate::servers::Server;


pub(crate) fn moto_server_path() -> Option<PathBuf> {
    let venv = std::env::var("IAMSTORM_MOTO_VENV")
        .unwrap_or_else(|_| "/var/tmp/iamstorm-moto-venv".into());
    let path = Path::new(&venv).join("bin/moto_server");
    path.exists().then_some(path)
}

pub(crate) async fn moto(window: Duration) -> Option<Window> {
    let path = moto_server_path()?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        l.local_addr().ok()?.port()
    };
    let mut cmd = Command::new(path);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server {
        child,
        lines: Vec::new(),
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let creds = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new("testing", "testing", None, None, "bench"),
    );
    let client = s3_client(&endpoint, false, creds);
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.create_bucket().bucket("bench").send().await.is_err() {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..100 {
        client
            .put_object()
            .bucket("bench")
            .key(format!("obj-{i}"))
            .body(Bytes::from_static(BODY).into())
            .send()
            .await
            .ok()?;
    }
    Some(get_loop(client, "bench", server.pid(), window).await)
}

