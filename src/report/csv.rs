//! `timeseries.csv`: one row per interval × op × class that had requests,
//! for plotting how rates, failures and latency moved during the run.
//!
//! Rows come straight from the metrics' interval rows (the summary holds
//! only whole-run numbers); columns carry their units in their names.

use std::io::{self, Write};
use std::time::Duration;

use crate::observe::metrics::Metrics;
use crate::observe::outcome::OutcomeClass;

/// The header, in column order.
pub const TIMESERIES_HEADER: [&str; 8] = [
    "second",
    "op",
    "class",
    "count",
    "latency_ms_p50",
    "latency_ms_p99",
    "latency_ms_max",
    "rate_per_s_target",
];

/// Writes the header and every (interval, op, class) row with a count, in
/// time order. `latency_ms_*` are corrected latencies; `rate_per_s_target`
/// is empty where the pacer set none.
pub fn write_timeseries(metrics: &Metrics, out: impl Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(TIMESERIES_HEADER)?;
    for row in metrics.rows() {
        let op = metrics.op_names().get(row.op).map_or("", String::as_str);
        writer.write_record([
            fmt_second(row.start),
            op.to_owned(),
            row.class.as_str().to_owned(),
            row.count.to_string(),
            fmt_us_as_ms(row.latency_us_p50),
            fmt_us_as_ms(row.latency_us_p99),
            fmt_us_as_ms(row.latency_us_max),
            row.rate_per_s_target
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ])?;
    }
    writer.flush()
}

/// Writes typed rows as [`write_timeseries`] writes the metrics' rows: how
/// `iamstorm merge` writes the time series it merged from shards.
pub fn write_rows(rows: &[TimeseriesRow], out: impl Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(TIMESERIES_HEADER)?;
    let us = |ms: f64| (ms * 1000.0).round().max(0.0) as u64;
    for row in rows {
        writer.write_record([
            fmt_second(Duration::from_secs_f64(row.second.max(0.0))),
            row.op.clone(),
            row.class.as_str().to_owned(),
            row.count.to_string(),
            fmt_us_as_ms(us(row.latency_ms_p50)),
            fmt_us_as_ms(us(row.latency_ms_p99)),
            fmt_us_as_ms(us(row.latency_ms_max)),
            row.rate_per_s_target
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ])?;
    }
    writer.flush()
}

/// One `timeseries.csv` row, typed: what charts are drawn from, whether the
/// run just ended ([`rows_from_metrics`]) or is re-rendered ([`read_timeseries`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TimeseriesRow {
    /// Interval start, s since the run's start.
    pub second: f64,
    pub op: String,
    pub class: OutcomeClass,
    pub count: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub rate_per_s_target: Option<f64>,
}

/// The rows the metrics hold, as `write_timeseries` writes them.
pub fn rows_from_metrics(metrics: &Metrics) -> Vec<TimeseriesRow> {
    let ms = |us: u64| us as f64 / 1000.0;
    metrics
        .rows()
        .map(|row| TimeseriesRow {
            second: row.start.as_secs_f64(),
            op: metrics.op_names().get(row.op).cloned().unwrap_or_default(),
            class: row.class,
            count: row.count,
            latency_ms_p50: ms(row.latency_us_p50),
            latency_ms_p99: ms(row.latency_us_p99),
            latency_ms_max: ms(row.latency_us_max),
            rate_per_s_target: row.rate_per_s_target,
        })
        .collect()
}

/// Reads `timeseries.csv` back; an error names the line.
pub fn read_timeseries(input: impl std::io::Read) -> Result<Vec<TimeseriesRow>, String> {
    let mut reader = ::csv::Reader::from_reader(input);
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    if headers.iter().ne(TIMESERIES_HEADER) {
        return Err(format!(
            "header is {:?}, expected {:?}",
            headers.iter().collect::<Vec<_>>(),
            TIMESERIES_HEADER
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let field = |c: usize| record.get(c).unwrap_or("");
        let number = |c: usize| {
            field(c).parse::<f64>().map_err(|_| {
                format!(
                    "line {line}: {} {:?} is not a number",
                    TIMESERIES_HEADER[c],
                    field(c)
                )
            })
        };
        let class = OutcomeClass::ALL
            .into_iter()
            .find(|c| c.as_str() == field(2))
            .ok_or_else(|| format!("line {line}: unknown class {:?}", field(2)))?;
        rows.push(TimeseriesRow {
            second: number(0)?,
            op: field(1).to_owned(),
            class,
            count: field(3)
                .parse()
                .map_err(|_| format!("line {line}: count {:?} is not a whole number", field(3)))?,
            latency_ms_p50: number(4)?,
            latency_ms_p99: number(5)?,
            latency_ms_max: number(6)?,
            rate_per_s_target: if field(7).is_empty() {
                None
            } else {
                Some(number(7)?)
            },
        });
    }
    Ok(rows)
}

/// Interval start in seconds: `21` for whole seconds, `21.5` otherwise.
fn fmt_second(start: Duration) -> String {
    if start.subsec_nanos() == 0 {
        start.as_secs().to_string()
    } else {
        let text = format!("{:.3}", start.as_secs_f64());
        text.trim_end_matches('0').to_owned()
    }
}

/// µs as ms with three decimals (µs resolution, no float noise).
fn fmt_us_as_ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::outcome::OutcomeClass;
    use crate::report::summary::fixtures::{metrics, record};

    #[test]
    fn rows_read_back_as_the_metrics_hold_them() {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        m.set_rate_target(0, Duration::ZERO, 50.0);
        record(&mut m, 0, OutcomeClass::Ok, 100, 1_234);
        record(&mut m, 0, OutcomeClass::Throttled, 1_100, 300);
        record(&mut m, 1, OutcomeClass::Ok, 1_200, 2_000);
        let text = csv_text(&m);
        let back = read_timeseries(text.as_bytes()).expect("reads back");
        assert_eq!(back, rows_from_metrics(&m));
        assert_eq!(back.len(), 3);
        let broken = text.replacen("throttled", "sideways", 1);
        let e = read_timeseries(broken.as_bytes()).expect_err("unknown class");
        assert!(e.starts_with("line 3: unknown class"), "{e}");
    }

    #[test]
    fn typed_rows_write_the_same_text_as_the_metrics() {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        m.set_rate_target(0, Duration::ZERO, 50.0);
        record(&mut m, 0, OutcomeClass::Ok, 100, 1_234);
        record(&mut m, 0, OutcomeClass::Throttled, 1_100, 300);
        record(&mut m, 1, OutcomeClass::Ok, 1_200, 2_000);
        let mut buf = Vec::new();
        write_rows(&rows_from_metrics(&m), &mut buf).expect("writes");
        assert_eq!(String::from_utf8(buf).expect("utf-8"), csv_text(&m));
    }

    fn csv_text(m: &Metrics) -> String {
        let mut buf = Vec::new();
        write_timeseries(m, &mut buf).expect("writes to memory");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn header_then_one_row_per_second_op_and_class_with_requests() {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        m.set_rate_target(0, Duration::ZERO, 50.0);
        record(&mut m, 0, OutcomeClass::Ok, 100, 1_000);
        record(&mut m, 0, OutcomeClass::Ok, 200, 2_000);
        record(&mut m, 0, OutcomeClass::AccessDenied, 300, 1_500);
        record(&mut m, 1, OutcomeClass::Throttled, 2_100, 250);
        let text = csv_text(&m);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "second,op,class,count,latency_ms_p50,latency_ms_p99,latency_ms_max,rate_per_s_target",
                "0,s3:GetObject,ok,2,1.000,2.000,2.000,50",
                "0,s3:GetObject,access_denied,1,1.500,1.500,1.500,50",
                "2,sts:GetCallerIdentity,throttled,1,0.250,0.250,0.250,",
            ]
        );
        // Readable back by the same crate, with the same number of fields.
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().expect("header").len(), 8);
        assert_eq!(reader.records().count(), 3);
    }

    #[test]
    fn empty_run_is_just_the_header_and_sub_second_intervals_keep_decimals() {
        let m = metrics(&["s3:GetObject"]);
        assert_eq!(csv_text(&m), format!("{}\n", TIMESERIES_HEADER.join(",")));
        assert_eq!(fmt_second(Duration::from_millis(21_500)), "21.5");
        assert_eq!(fmt_second(Duration::from_millis(250)), "0.25");
        assert_eq!(fmt_us_as_ms(1_234_567), "1234.567");
    }
}
