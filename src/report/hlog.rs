//! `latency.hlog`: the run's corrected latency as an HdrHistogram interval
//! log (format 1.3, V2 + deflate compressed histograms, base64), readable by
//! HdrHistogram's own tools (`HistogramLogProcessor`, `IntervalLogIterator`).
//!
//! One untagged histogram per interval (the whole interval: what log
//! processors read by default), then one per (op, class) cell tagged
//! `OP/CLASS`. Values are µs; `Interval_Max` is in ms. The log is streamed
//! while the run goes — sealed intervals arrive from the aggregator over a
//! channel to a writer thread — into `latency.hlog.tmp`, renamed when the
//! run's results are written, so memory stays bounded however long the run.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::observe::metrics::SealedHistogram;

/// The file name in a results directory.
pub const LATENCY_HLOG: &str = "latency.hlog";

/// A running log writer.
pub struct HlogWriter {
    tx: mpsc::Sender<SealedHistogram>,
    thread: JoinHandle<io::Result<()>>,
    tmp: PathBuf,
    path: PathBuf,
}

/// A tag for a cell: `OP/CLASS`, with what tags cannot hold replaced.
pub fn tag_text(op: &str, class: &str) -> String {
    format!("{op}/{class}")
        .chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl HlogWriter {
    /// Creates `dir/latency.hlog.tmp` and starts the writer thread.
    /// `op_names` name the ops in tags; `started` is the run's start.
    pub fn start(dir: &Path, op_names: Vec<String>, started: SystemTime) -> io::Result<HlogWriter> {
        HlogWriter::start_file(
            dir,
            LATENCY_HLOG,
            "corrected latency (from intended start)",
            op_names,
            started,
        )
    }

    /// The same log format under another `name`, holding `what` (said in
    /// its header comment): `latency_raw.hlog` of a shard.
    pub fn start_file(
        dir: &Path,
        name: &str,
        what: &str,
        op_names: Vec<String>,
        started: SystemTime,
    ) -> io::Result<HlogWriter> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let header = format!("iamstorm latency log: {what}, values in us");
        let file = File::create(&tmp)?;
        let (tx, rx) = mpsc::channel::<SealedHistogram>();
        let thread = std::thread::Builder::new()
            .name("iamstorm-hlog".into())
            .spawn(move || -> io::Result<()> {
                let mut out = BufWriter::new(file);
                let mut serializer = V2DeflateSerializer::new();
                {
                    let mut log = IntervalLogWriterBuilder::new()
                        .add_comment(&header)
                        .add_comment("untagged: every request of the interval; Tag=OP/CLASS: one op and outcome class")
                        .with_start_time(started)
                        .with_base_time(started)
                        .with_max_value_divisor(1000.0)
                        .begin_log_with(&mut out, &mut serializer)?;
                    for h in rx {
                        let text = match (h.op, h.class) {
                            (Some(op), Some(class)) => Some(tag_text(
                                op_names.get(op).map_or("?", String::as_str),
                                class.as_str(),
                            )),
                            _ => None,
                        };
                        let tag = text.as_deref().and_then(Tag::new);
                        log.write_histogram(&h.corrected, h.interval_start, h.interval, tag)
                            .map_err(|e| io::Error::other(format!("{e:?}")))?;
                    }
                }
                let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
                file.sync_all()
            })?;
        Ok(HlogWriter {
            tx,
            thread,
            tmp,
            path,
        })
    }

    /// Where sealed histograms go.
    pub fn sender(&self) -> mpsc::Sender<SealedHistogram> {
        self.tx.clone()
    }

    /// Ends the log (every sender must be dropped or this waits for them)
    /// and moves it into place.
    pub fn finish(self) -> io::Result<()> {
        drop(self.tx);
        let written = self
            .thread
            .join()
            .map_err(|_| io::Error::other("the latency log writer panicked"))?;
        match written {
            Ok(()) => fs::rename(&self.tmp, &self.path),
            Err(e) => {
                let _ = fs::remove_file(&self.tmp);
                Err(e)
            }
        }
    }
}

/// Raw latency (from send) of a shard's whole run, one histogram per
/// (op, class) over the run: `latency.hlog` holds corrected latency only,
/// and `iamstorm merge` needs both to merge exactly.
pub const LATENCY_RAW_HLOG: &str = "latency_raw.hlog";

/// One histogram read back from an interval log.
#[derive(Clone, Debug)]
pub struct LoggedHistogram {
    /// From the log's base time (the run's start).
    pub interval_start: std::time::Duration,
    pub interval: std::time::Duration,
    /// `OP/CLASS` ([`tag_text`]); `None`: the whole interval.
    pub tag: Option<String>,
    pub histogram: hdrhistogram::Histogram<u64>,
}

/// Reads every histogram of an interval log this module wrote (or any
/// V2/V2-deflate log); an error names the entry that broke.
pub fn read(bytes: &[u8]) -> Result<Vec<LoggedHistogram>, String> {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut deserializer = Deserializer::new();
    let mut out = Vec::new();
    for (n, entry) in IntervalLogIterator::new(bytes).enumerate() {
        let entry = entry.map_err(|e| format!("log entry {}: {e:?}", n + 1))?;
        let LogEntry::Interval(i) = entry else {
            continue;
        };
        let encoded = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            i.encoded_histogram(),
        )
        .map_err(|e| format!("histogram {}: not base64: {e}", out.len() + 1))?;
        let histogram: hdrhistogram::Histogram<u64> = deserializer
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| format!("histogram {}: {e:?}", out.len() + 1))?;
        out.push(LoggedHistogram {
            interval_start: i.start_timestamp(),
            interval: i.duration(),
            tag: i.tag().map(|t| t.as_str().to_owned()),
            histogram,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::observe::outcome::OutcomeClass;

    #[test]
    fn the_log_reads_back_with_hdrhistograms_own_parser() {
        let dir = std::env::temp_dir().join(format!("iamstorm-hlog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let writer = HlogWriter::start(&dir, vec!["reads, hot".into()], SystemTime::UNIX_EPOCH)
            .expect("starts");
        let tx = writer.sender();
        for second in 0..3u64 {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            for v in 0..=second * 10 {
                h.record(1_000 + v).expect("in range");
            }
            let start = Duration::from_secs(second);
            let interval = Duration::from_secs(1);
            tx.send(SealedHistogram {
                interval_start: start,
                interval,
                op: None,
                class: None,
                corrected: h.clone(),
            })
            .expect("sends");
            tx.send(SealedHistogram {
                interval_start: start,
                interval,
                op: Some(0),
                class: Some(OutcomeClass::AccessDenied),
                corrected: h,
            })
            .expect("sends");
        }
        drop(tx);
        writer.finish().expect("finishes");
        assert!(!dir.join("latency.hlog.tmp").exists());
        let text = fs::read(dir.join(LATENCY_HLOG)).expect("log written");
        let mut deserializer = Deserializer::new();
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(i) = entry.expect("parses") {
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    i.encoded_histogram(),
                )
                .expect("base64");
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut bytes.as_slice())
                    .expect("a V2 histogram");
                seen.push((
                    i.tag().map(|t| t.as_str().to_owned()),
                    i.start_timestamp(),
                    h.len(),
                    i.max(),
                ));
            }
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert_eq!(seen[0].0, None);
        assert_eq!(seen[1].0.as_deref(), Some("reads__hot/access_denied"));
        assert_eq!(seen[4].1, Duration::from_secs(2));
        assert_eq!(seen[4].2, 21);
        // Interval_Max in ms.
        assert!((seen[4].3 - 1.020).abs() < 0.01, "{seen:?}");
    }
}
