//! What the OS says a process used (CPU from `/proc/PID/stat`, RSS and
//! open files from `/proc/PID/status` and `/proc/PID/fd`), and the
//! saturating client loop whose windows it accounts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::TASKS;


/// CPU seconds (user + system) the process has used, from `/proc/PID/stat`.
pub(crate) fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces), from `state`.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// Resident set size, KiB (`VmRSS` in `/proc/PID/status`).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Open file descriptors (entries of `/proc/PID/fd`).
pub(crate) fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One measured window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    pub(crate) client_cpu_s: f64,
    pub(crate) server_cpu_s: f64,
}

impl Window {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    pub(crate) fn client_us(&self) -> f64 {
        self.client_cpu_s * 1e6 / self.requests.max(1) as f64
    }
    pub(crate) fn server_us(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.requests.max(1) as f64
    }
}

/// Runs `TASKS` loops of `call` for a warm-up second and then `window`,
/// accounting CPU of this process and of `server` over the window only.
pub(crate) async fn saturate<F, Fut>(server: u32, window: Duration, call: F) -> Window
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS as u64)
        .map(|t| {
            let (call, done, errors, stop) =
                (call.clone(), done.clone(), errors.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    if !call(i).await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += TASKS as u64;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (n0, e0, c0, s0, t0) = (
        done.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        cpu_s(std::process::id()),
        cpu_s(server),
        Instant::now(),
    );
    tokio::time::sleep(window).await;
    let w = Window {
        requests: done.load(Ordering::Relaxed) - n0,
        errors: errors.load(Ordering::Relaxed) - e0,
        secs: t0.elapsed().as_secs_f64(),
        client_cpu_s: cpu_s(std::process::id()) - c0,
        server_cpu_s: cpu_s(server) - s0,
    };
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    w
}

