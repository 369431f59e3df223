//! Trace replay: per-second count files (one integer per line: arrivals in second n) and timestamped
//! request CSVs (`TIMESTAMP,ContextTokens,GeneratedTokens`), parsed once, shared between environments.

use super::{Arrival, TracePlan};
use crate::engine::{SimDuration, SimTime};
use crate::error::ScenarioError;
use crate::rng::SimRng;
use crate::scenario::TRACES_ENV;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// How a trace file is laid out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TraceFormat {
    /// One non-negative integer per line: the arrivals in second n (line n). Arrivals are spread
    /// uniformly at random within their second.
    Counts,
    /// CSV with a header; a `TIMESTAMP` column (`YYYY-MM-DD HH:MM:SS[.fraction]`, or plain seconds)
    /// gives each request's arrival; `size_column`, when named, gives its size.
    Csv {
        /// Column whose value is the request size (e.g. `ContextTokens`).
        #[serde(default)]
        size_column: Option<String>,
        /// Replay without sizes when the header has no `size_column`, instead of refusing the
        /// file: how `--trace FILE.csv` reads any timestamped request log.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        size_column_optional: bool,
    },
}

#[derive(Debug)]
enum TraceInner {
    Counts(Vec<u32>),
    Requests { times: Vec<f64>, sizes: Option<Vec<f32>> },
}

/// A parsed trace (cheap to clone: the data is shared).
#[derive(Clone, Debug)]
pub struct TraceData(Arc<TraceInner>);

impl TraceData {
    /// Reads and parses `path`.
    pub fn read(path: &Path, format: &TraceFormat) -> Result<Self, ScenarioError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| {
                // A missing trace is most often one serflow cannot ship: say where to find it.
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound => format!(
                        " (traces/README.md says where each trace comes from; built-in scenarios look in ${TRACES_ENV} first)"
                    ),
                    _ => String::new(),
                };
                ScenarioError::new(&source, "", format!("cannot read trace: {e}{hint}"))
            })?;
        match format {
            TraceFormat::Counts => parse_counts(&source, &text),
            TraceFormat::Csv { size_column, size_column_optional } => {
                let size_column =
                    size_column.as_deref().filter(|c| !size_column_optional || csv_has_column(&text, c));
                parse_csv(&source, &text, size_column)
            }
        }
    }

    /// Seconds of trace time covered.
    pub fn duration_s(&self) -> f64 {
        match &*self.0 {
            TraceInner::Counts(c) => c.len() as f64,
            TraceInner::Requests { times, .. } => times.last().map_or(0.0, |t| t.floor() + 1.0),
        }
    }

    /// Number of requests in the trace.
    pub fn total_requests(&self) -> u64 {
        match &*self.0 {
            TraceInner::Counts(c) => c.iter().map(|&n| u64::from(n)).sum(),
            TraceInner::Requests { times, .. } => times.len() as u64,
        }
    }

    /// Mean time between requests, seconds of trace time.
    pub fn mean_gap_s(&self) -> f64 {
        self.duration_s() / self.total_requests().max(1) as f64
    }

    /// The most requests in any one second of trace time.
    pub fn peak_per_second(&self) -> u64 {
        match &*self.0 {
            TraceInner::Counts(c) => c.iter().copied().max().map_or(0, u64::from),
            TraceInner::Requests { times, .. } => {
                // `times` is sorted: count runs of equal whole seconds.
                let (mut peak, mut run, mut second) = (0, 0, f64::NAN);
                for t in times {
                    let s = t.floor();
                    run = if s == second { run + 1 } else { 1 };
                    second = s;
                    peak = peak.max(run);
                }
                peak
            }
        }
    }

    /// Median request size, when the trace has sizes.
    pub fn median_size(&self) -> Option<f64> {
        let TraceInner::Requests { sizes: Some(sizes), .. } = &*self.0 else {
            return None;
        };
        let mut sorted = sizes.clone();
        sorted.sort_by(f32::total_cmp);
        sorted.get(sorted.len() / 2).map(|&s| f64::from(s))
    }
}

/// The text of a trace file without a leading byte-order mark (Windows editors write one).
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses a per-second count trace. A byte-order mark, CRLF line ends and blank lines at the end are
/// accepted; a blank line inside the trace is an error (it would shift every later second).
pub fn parse_counts(source: &str, text: &str) -> Result<TraceData, ScenarioError> {
    let body = without_bom(text).trim_end();
    let mut counts = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let value = line.trim();
        let n = value.parse::<u32>().map_err(|_| {
            ScenarioError::new(
                source,
                format!("line {}", i + 1),
                format!("expected a non-negative integer count, got `{value}`"),
            )
        })?;
        counts.push(n);
    }
    if counts.is_empty() {
        return Err(ScenarioError::new(source, "", "trace is empty"));
    }
    Ok(TraceData(Arc::new(TraceInner::Counts(counts))))
}

/// Parses a timestamped request CSV; timestamps become seconds since the earliest one. A byte-order
/// mark, CRLF line ends and blank lines are accepted.
pub fn parse_csv(source: &str, text: &str, size_column: Option<&str>) -> Result<TraceData, ScenarioError> {
    let mut lines = without_bom(text).lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| ScenarioError::new(source, "", "trace is empty"))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        columns.iter().position(|c| c.eq_ignore_ascii_case(name)).ok_or_else(|| {
            ScenarioError::new(source, "line 1", format!("no `{name}` column in header `{header}`"))
        })
    };
    let time_col = find("TIMESTAMP")?;
    let size_col = size_column.map(find).transpose()?;
    let mut rows: Vec<(f64, f32)> = Vec::new();
    for (i, line) in lines {
        let at = format!("line {}", i + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(ScenarioError::new(
                source,
                at,
                format!("expected {} fields, found {}", columns.len(), fields.len()),
            ));
        }
        let t = parse_timestamp(fields[time_col]).ok_or_else(|| {
            ScenarioError::new(source, &at, format!("bad timestamp `{}`", fields[time_col]))
        })?;
        let size = match size_col {
            Some(c) => fields[c]
                .parse::<f32>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| ScenarioError::new(source, &at, format!("bad size `{}`", fields[c])))?,
            None => 0.0,
        };
        rows.push((t, size));
    }
    if rows.is_empty() {
        return Err(ScenarioError::new(source, "", "trace has a header but no requests"));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let t0 = rows[0].0;
    let times = rows.iter().map(|r| r.0 - t0).collect();
    let sizes = size_col.map(|_| rows.iter().map(|r| r.1).collect());
    Ok(TraceData(Arc::new(TraceInner::Requests { times, sizes })))
}

/// Whether a CSV's header names `column` (case-insensitively, as `parse_csv` matches it).
fn csv_has_column(text: &str, column: &str) -> bool {
    let header = without_bom(text).lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    header.split(',').any(|c| c.trim().eq_ignore_ascii_case(column))
}

/// `YYYY-MM-DD HH:MM:SS[.frac]` (or `T` as separator) as seconds since 1970, or plain seconds.
fn parse_timestamp(s: &str) -> Option<f64> {
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then_some(secs);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.trim_end_matches('Z').split(':');
    let (h, min) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let sec = t.next()?.parse::<f64>().ok()?;
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0.0..61.0).contains(&sec);
    valid.then(|| (days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Replays one episode's window of a trace.
pub(super) struct TraceSource {
    plan: TracePlan,
    offset_s: f64,
    rng: SimRng,
    /// Counts: the next trace second to expand. Requests: the next row to expand.
    next_second: usize,
    next_row: usize,
    /// Arrival times (trace seconds) still to emit, latest first; for requests, all copies of the
    /// row `pending_row`.
    pending: Vec<f64>,
    pending_row: usize,
}

impl TraceSource {
    pub fn new(plan: TracePlan, horizon: SimTime, mut rng: SimRng) -> Self {
        let mut offset_s = plan.start_s;
        if plan.random_offset {
            let slack = plan.data.duration_s() - plan.start_s - horizon.as_secs_f64() / plan.time_scale;
            if slack >= 1.0 {
                offset_s += rng.below(slack.floor() as u64 + 1) as f64;
            }
        }
        let next_row = match &*plan.data.0 {
            TraceInner::Requests { times, .. } => times.partition_point(|&t| t < offset_s),
            TraceInner::Counts(_) => 0,
        };
        Self {
            offset_s,
            rng,
            next_second: offset_s as usize,
            pending: Vec::new(),
            next_row,
            pending_row: 0,
            plan,
        }
    }

    fn sim_time(&self, trace_t: f64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs_f64((trace_t - self.offset_s) * self.plan.time_scale)
    }

    pub fn next_arrival(&mut self) -> Option<Arrival> {
        match &*self.plan.data.0 {
            TraceInner::Counts(counts) => {
                while self.pending.is_empty() {
                    let &count = counts.get(self.next_second)?;
                    let n = scaled(f64::from(count), self.plan.rate_scale, &mut self.rng);
                    let second = self.next_second as f64;
                    self.pending.extend((0..n).map(|_| second + self.rng.uniform()));
                    // Sorted descending so pop() yields arrivals in time order. The times are
                    // non-negative, where the order of the bits is the order of the numbers.
                    self.pending.sort_unstable_by_key(|t| std::cmp::Reverse(t.to_bits()));
                    self.next_second += 1;
                }
                let t = self.pending.pop()?;
                Some(Arrival { time: self.sim_time(t), size: 0.0 })
            }
            TraceInner::Requests { times, sizes } => {
                while self.pending.is_empty() {
                    let row = self.next_row;
                    let &t = times.get(row)?;
                    let copies = scaled(1.0, self.plan.rate_scale, &mut self.rng);
                    if copies > 0 {
                        // The request itself, then its extra copies spread uniformly over the gap to
                        // the next request (the trace's mean gap after the last one): a scaled trace
                        // keeps the original's rate over time instead of stacking copies on one
                        // instant.
                        let gap =
                            times.get(row + 1).map_or_else(|| self.plan.data.mean_gap_s(), |next| next - t);
                        self.pending.extend((1..copies).map(|_| t + self.rng.uniform() * gap));
                        self.pending.push(t);
                        self.pending.sort_by(|a, b| b.total_cmp(a));
                        self.pending_row = row;
                    }
                    self.next_row += 1;
                }
                let t = self.pending.pop()?;
                let size = sizes.as_ref().map_or(0.0, |s| s[self.pending_row]);
                Some(Arrival { time: self.sim_time(t), size })
            }
        }
    }
}

/// `n x rate_scale` rounded to `floor + Bernoulli(frac)`, so the expected count scales exactly (and
/// an unscaled trace draws nothing).
fn scaled(n: f64, rate_scale: f64, rng: &mut SimRng) -> u32 {
    if rate_scale == 1.0 {
        return n as u32;
    }
    let x = n * rate_scale;
    let whole = x.floor();
    whole as u32 + u32::from(rng.bernoulli(x - whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn plan(data: TraceData, rate_scale: f64, time_scale: f64) -> TracePlan {
        TracePlan { data, rate_scale, time_scale, start_s: 0.0, random_offset: false }
    }

    fn drain(plan: TracePlan, horizon_s: u64) -> Vec<Arrival> {
        let mut src = TraceSource::new(plan, SimTime::from_secs(horizon_s), SimRng::new(1, Stream::Arrivals));
        std::iter::from_fn(|| src.next_arrival()).collect()
    }

    #[test]
    fn counts_land_in_their_second_in_order() {
        let data = parse_counts("t", "2\n0\n3 \n\n").unwrap();
        assert_eq!(data.duration_s(), 3.0);
        let arrivals = drain(plan(data, 1.0, 1.0), 3);
        assert_eq!(arrivals.len(), 5);
        let secs: Vec<u64> = arrivals.iter().map(|a| a.time.0 / 1_000_000).collect();
        assert_eq!(secs, vec![0, 0, 2, 2, 2]);
        assert!(arrivals.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn windows_files_and_trailing_blank_lines_are_read() {
        let plain = parse_counts("t", "2\n0\n3\n").unwrap();
        for text in ["\u{feff}2\r\n0\r\n3\r\n", "2\n0\n3\n\n\n", "\u{feff}2\r\n0\r\n3\r\n\r\n  \r\n"] {
            let data = parse_counts("t", text).unwrap();
            assert_eq!(
                (data.duration_s(), data.total_requests()),
                (plain.duration_s(), plain.total_requests())
            );
        }
        let e = parse_counts("t", "2\n\n3\n").unwrap_err();
        assert_eq!(e.field, "line 2", "a blank line inside the trace is refused");
        let csv =
            "\u{feff}TIMESTAMP,ContextTokens\r\n2023-11-16 18:15:46,374\r\n2023-11-16 18:15:47,10\r\n\r\n";
        let data = parse_csv("a.csv", csv, Some("ContextTokens")).unwrap();
        assert_eq!((data.total_requests(), data.median_size()), (2, Some(374.0)));
    }

    #[test]
    fn peak_per_second_counts_the_busiest_second() {
        assert_eq!(parse_counts("t", "2\n9\n3\n").unwrap().peak_per_second(), 9);
        let csv = "TIMESTAMP\n0.1\n0.5\n1.2\n1.3\n1.9\n7\n";
        assert_eq!(parse_csv("a.csv", csv, None).unwrap().peak_per_second(), 3);
    }

    #[test]
    fn rate_and_time_scaling() {
        let data = parse_counts("t", &"100\n".repeat(100)).unwrap();
        let n = drain(plan(data.clone(), 0.25, 1.0), 100).len();
        assert!((2300..2700).contains(&n), "{n}");
        let stretched = drain(plan(data, 1.0, 2.0), 200);
        assert_eq!(stretched.len(), 10_000);
        assert!(stretched.last().unwrap().time > SimTime::from_secs(198));
    }

    #[test]
    fn scaling_a_timestamped_trace_up_spreads_the_copies_instead_of_stacking_them() {
        // One request a second for 200 s, scaled x60: about 60 a second, one per instant.
        let text: String =
            std::iter::once("TIMESTAMP\n".to_string()).chain((0..200).map(|i| format!("{i}\n"))).collect();
        let arrivals = drain(plan(parse_csv("t.csv", &text, None).unwrap(), 60.0, 1.0), 200);
        let n = arrivals.len();
        assert!((11_500..12_500).contains(&n), "{n} arrivals");
        let gaps: Vec<f64> =
            arrivals.windows(2).map(|w| w[1].time.since(w[0].time).0 as f64 * 1e-6).collect();
        assert!(gaps.iter().all(|&g| g >= 0.0), "arrivals in time order");
        let stacked = gaps.iter().filter(|&&g| g == 0.0).count();
        assert!(stacked <= n / 1000, "{stacked} arrivals share an instant with the one before");
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 1.0 / 60.0).abs() < 0.001, "mean gap {mean}");
        // Uniform spreading within each second: gaps close to exponential (coefficient of variation ~1).
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((0.8..1.2).contains(&cv), "coefficient of variation {cv}");
        let per_second = |s: u64| arrivals.iter().filter(|a| a.time.0 / 1_000_000 == s).count();
        assert!((30..90).contains(&per_second(100)), "{} in second 100", per_second(100));
    }

    #[test]
    fn csv_timestamps_become_relative_seconds_with_sizes() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:50.5,396,1\n2023-11-16 18:15:46.0,374,44\n2023-11-17 00:00:00,10,1\n";
        let data = parse_csv("t", text, Some("ContextTokens")).unwrap();
        let arrivals = drain(plan(data.clone(), 1.0, 1.0), 30_000);
        assert_eq!(arrivals[0], Arrival { time: SimTime::ZERO, size: 374.0 });
        assert_eq!(arrivals[1], Arrival { time: SimTime(4_500_000), size: 396.0 });
        assert_eq!(arrivals[2].time, SimTime::from_secs(5 * 3600 + 44 * 60 + 14));
        assert_eq!(data.median_size(), Some(374.0));
    }

    #[test]
    fn a_guessed_size_column_is_used_when_present_and_a_named_one_is_required() {
        let dir = std::env::temp_dir().join(format!("serflow-trace-sizes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (sized, bare) = (dir.join("sized.csv"), dir.join("bare.csv"));
        std::fs::write(&sized, "timestamp,contexttokens\n0.5,374\n1.5,10\n").unwrap();
        std::fs::write(&bare, "TIMESTAMP\n0.5\n1.5\n").unwrap();
        let format = |optional| TraceFormat::Csv {
            size_column: Some("ContextTokens".into()),
            size_column_optional: optional,
        };
        let guessed = TraceData::read(&sized, &format(true)).unwrap();
        assert_eq!(guessed.median_size(), Some(374.0), "the column is used when the header has it");
        let guessed = TraceData::read(&bare, &format(true)).unwrap();
        assert_eq!((guessed.total_requests(), guessed.median_size()), (2, None));
        let e = TraceData::read(&bare, &format(false)).unwrap_err();
        assert_eq!(e.field, "line 1", "a scenario that names the column requires it: {e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(
            parse_counts("w.txt", "1\n-4\n").unwrap_err().to_string(),
            "w.txt: line 2: expected a non-negative integer count, got `-4`"
        );
        let e = parse_csv("a.csv", "TIMESTAMP,ContextTokens\n2023-13-01 00:00:00,5\n", Some("ContextTokens"))
            .unwrap_err();
        assert_eq!(e.field, "line 2");
        let e = parse_csv("a.csv", "TIME,ContextTokens\n1,5\n", None).unwrap_err();
        assert!(e.reason.contains("TIMESTAMP"));
    }

    #[test]
    fn random_offsets_stay_inside_the_trace() {
        let data = parse_counts("t", &(0..100).map(|i| format!("{i}\n")).collect::<String>()).unwrap();
        for seed in 0..20 {
            let p = TracePlan { random_offset: true, ..plan(data.clone(), 1.0, 1.0) };
            let mut src = TraceSource::new(p, SimTime::from_secs(10), SimRng::new(seed, Stream::Arrivals));
            assert!(src.offset_s <= 90.0);
            assert!(src.next_arrival().is_some());
        }
    }
}
