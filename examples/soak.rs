//! Soak: a long steady run of the `iamstorm` binary against a standalone
//! `iamstorm sim` (as `--target endpoint`), sampling both processes' RSS and
//! open file descriptors, then the run's errors per minute from its
//! timeseries.csv. Not part of `cargo test`: it runs for minutes.
//!
//! ```sh
//! cargo build --release && cargo run --release --example soak -- --minutes 30 [--rate 200] [--out results/soak.md]
//! ```
//!
//! The binary is the `iamstorm` next to this example's directory (or
//! `$IAMSTORM_BIN`). Prints a Markdown report (and writes it to `--out`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    minutes: f64,
    rate: u32,
    sample_s: u64,
    out: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        minutes: 30.0,
        rate: 200,
        sample_s: 10,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--minutes" => a.minutes = value().parse().unwrap_or_else(|_| usage("--minutes N")),
            "--rate" => a.rate = value().parse().unwrap_or_else(|_| usage("--rate N")),
            "--sample-s" => a.sample_s = value().parse().unwrap_or_else(|_| usage("--sample-s N")),
            "--out" => a.out = Some(PathBuf::from(value())),
            "--bench" => {}
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if !a.minutes.is_finite() || a.minutes <= 0.0 || a.rate == 0 || a.sample_s == 0 {
        usage("--minutes, --rate and --sample-s must be positive");
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!("error: {why}\nusage: soak [--minutes 30] [--rate 200] [--sample-s 10] [--out FILE]");
    std::process::exit(2);
}

fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("IAMSTORM_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/soak → target/<profile>/iamstorm
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("iamstorm"))
        .expect("a target directory");
    if !bin.exists() {
        usage(&format!(
            "{} not found: build it first (cargo build --release) or set IAMSTORM_BIN",
            bin.display()
        ));
    }
    bin
}

/// `VmRSS` in KiB and the number of open descriptors of `pid`.
fn sample(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;

fn scenario(dir: &Path, minutes: f64, rate: u32) -> PathBuf {
    std::fs::write(dir.join("read.json"), POLICY).expect("policy");
    let path = dir.join("soak.toml");
    let seconds = (minutes * 60.0).round() as u64;
    std::fs::write(
        &path,
        format!(
            r#"name = "soak"
seed = 1
duration = "{seconds}s"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ read = "read.json" }}

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "obj-{{0..99}}"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 4
workers_per_instance = 16

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{{0..99}}"
rate = {read}

[[load]]
name = "whoami"
op = "sts:GetCallerIdentity"
rate = {sts}
"#,
            read = rate * 9 / 10,
            sts = (rate / 10).max(1),
        ),
    )
    .expect("scenario");
    path
}

struct Sim(Child, String);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(bin: &Path) -> Sim {
    let mut child = Command::new(bin)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("iamstorm sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(u) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            url = u.to_owned();
        }
        if line.starts_with("export AWS_DEFAULT_REGION") {
            break;
        }
    }
    assert!(!url.is_empty(), "iamstorm sim printed its endpoint");
    Sim(child, url)
}

/// Non-ok requests per whole minute, from timeseries.csv
/// (`second,op,class,count,…`).
fn errors_per_minute(out: &Path) -> (Vec<u64>, Vec<u64>) {
    let text = std::fs::read_to_string(out.join("timeseries.csv")).unwrap_or_default();
    let (mut errors, mut total) = (Vec::<u64>::new(), Vec::<u64>::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(second), Some(class), Some(count)) = (
            f.first().and_then(|s| s.parse::<f64>().ok()),
            f.get(2),
            f.get(3).and_then(|c| c.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let minute = (second / 60.0) as usize;
        if errors.len() <= minute {
            errors.resize(minute + 1, 0);
            total.resize(minute + 1, 0);
        }
        total[minute] += count;
        if *class != "ok" {
            errors[minute] += count;
        }
    }
    (errors, total)
}

fn main() {
    let a = args();
    let bin = binary();
    let dir = std::env::temp_dir().join(format!("iamstorm-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = scenario(&dir, a.minutes, a.rate);
    let sim = start_sim(&bin);
    let out = dir.join("out");
    let started = Instant::now();
    let mut run = Command::new(&bin)
        .args([
            "run",
            path.to_str().expect("utf-8"),
            "--quiet",
            "--target",
            "endpoint",
        ])
        .args([
            "--endpoint-url",
            &sim.1,
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/iamstorm-soak")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/iamstorm-soak")
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iamstorm run starts");
    let mut rows = Vec::new();
    let exit = loop {
        if let Some(status) = run.try_wait().expect("wait") {
            break status;
        }
        if let (Some(h), Some(d)) = (sample(run.id()), sample(sim.0.id())) {
            rows.push((started.elapsed().as_secs(), h, d));
            eprintln!(
                "t={:>5}s harness {:>7} KiB {:>4} fds | double {:>7} KiB {:>4} fds",
                started.elapsed().as_secs(),
                h.0,
                h.1,
                d.0,
                d.1
            );
        }
        // A sampling interval (measurement), not synchronisation: the
        // loop ends on the run's exit.
        std::thread::sleep(Duration::from_secs(a.sample_s));
    };
    let (errors, total) = errors_per_minute(&out);
    let mut md = format!(
        "Command: `cargo run --release --example soak -- --minutes {} --rate {}`; the `iamstorm` binary ({}) against a standalone `iamstorm sim` as `--target endpoint`, {}/s (90 % s3:GetObject, 10 % sts:GetCallerIdentity), 4 instances × 16 workers; exit {:?}. RSS (`VmRSS`) and open fds every {} s.\n\n",
        a.minutes,
        a.rate,
        bin.display(),
        a.rate,
        exit.code(),
        a.sample_s
    );
    md.push_str("| t (s) | harness RSS (MiB) | harness fds | double RSS (MiB) | double fds |\n|---:|---:|---:|---:|---:|\n");
    for (t, h, d) in &rows {
        md.push_str(&format!(
            "| {t} | {:.1} | {} | {:.1} | {} |\n",
            h.0 as f64 / 1024.0,
            h.1,
            d.0 as f64 / 1024.0,
            d.1
        ));
    }
    md.push_str("\n| minute | requests | errors (non-ok) |\n|---:|---:|---:|\n");
    for (m, (e, t)) in errors.iter().zip(&total).enumerate() {
        md.push_str(&format!("| {m} | {t} | {e} |\n"));
    }
    if let (Some(first), Some(last)) = (rows.get(rows.len().min(6).saturating_sub(1)), rows.last())
    {
        md.push_str(&format!(
            "\nFrom t={} s to t={} s: harness RSS {:+.1} %, double RSS {:+.1} %, harness fds {:+}, double fds {:+}.\n",
            first.0,
            last.0,
            (last.1.0 as f64 / first.1.0 as f64 - 1.0) * 100.0,
            (last.2.0 as f64 / first.2.0 as f64 - 1.0) * 100.0,
            last.1.1 as i64 - first.1.1 as i64,
            last.2.1 as i64 - first.2.1 as i64,
        ));
    }
    print!("{md}");
    if let Some(path) = &a.out {
        std::fs::write(path, &md).expect("write --out");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
