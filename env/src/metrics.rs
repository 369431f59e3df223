//! What an episode cost and how well it served: per-stage, per-service counters, a latency histogram,
//! and the report `serflow simulate --json` prints.

use serde::Serialize;

/// Sub-buckets per power of two: bucket width is at most 1/64 of the value, so a reported percentile
/// (the bucket midpoint) is within 0.8 % of the exact one.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;

/// A log-linear histogram of latencies in microseconds (HDR-style), constant memory and O(1) insert.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: f64,
    min_us: u64,
    max_us: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::index(u64::MAX) + 1],
            total: 0,
            sum_us: 0.0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS + 1;
        (SUB + u64::from(exp - SUB_BITS) * HALF + ((v >> shift) - HALF)) as usize
    }

    /// Midpoint of bucket `i`.
    fn value(i: usize) -> f64 {
        let i = i as u64;
        if i < SUB {
            return i as f64;
        }
        let exp = (i - SUB) / HALF + u64::from(SUB_BITS);
        let shift = exp - u64::from(SUB_BITS) + 1;
        let lower = ((i - SUB) % HALF + HALF) << shift;
        lower as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
    }

    /// Records one latency.
    pub fn record(&mut self, us: u64) {
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.sum_us += us as f64;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// Number recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Mean in microseconds (exact).
    pub fn mean_us(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.sum_us / self.total as f64 }
    }

    /// The `q`-quantile in microseconds (nearest rank), 0 when empty.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The exact extremes are known: a constant latency reports exactly.
                return Self::value(i).clamp(self.min_us as f64, self.max_us as f64);
            }
        }
        0.0
    }
}

/// The exact `q`-quantile of `values` (nearest rank), reordering them; 0 when empty.
pub fn quantile_in_place(values: &mut [u32], q: f64) -> u32 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    *values.select_nth_unstable(rank - 1).1
}

/// Fraction of `finished` requests that violated the SLO (0 when none finished): the one definition
/// every report, reward and multiplier uses.
pub fn violation_rate(violations: u64, finished: u64) -> f64 {
    if finished == 0 { 0.0 } else { violations as f64 / finished as f64 }
}

/// Fraction of `finished` requests within the SLO (1 when none finished).
pub fn attainment(violations: u64, finished: u64) -> f64 {
    1.0 - violation_rate(violations, finished)
}

/// A stage's VM-side totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VmTotals {
    /// Requests served on VMs.
    pub invocations: u64,
    /// Billed VM-seconds (rounded up per VM, minimum applied).
    pub billed_seconds: f64,
    /// Dollars.
    pub cost: f64,
    /// VMs launched (each a VM cold start).
    pub launches: u64,
    /// Mean time a VM run waited in the queue before starting (zero waits included), ms.
    pub mean_wait_ms: f64,
    /// Sum of waits, microseconds.
    #[serde(skip)]
    pub wait_us: u64,
}

/// A stage's FaaS-side totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaasTotals {
    /// Invocations started (warm or cold).
    pub invocations: u64,
    /// Invocations that needed a new container.
    pub cold_starts: u64,
    /// Invocations refused over the concurrency limit (failed requests).
    pub throttled: u64,
    /// Billed GB-seconds (rounded up to the granularity; init included when billed).
    pub gb_seconds: f64,
    /// Dollars: per-request fees.
    pub request_cost: f64,
    /// Dollars: billed duration.
    pub duration_cost: f64,
    /// Dollars: total.
    pub cost: f64,
}

/// One stage's totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub name: String,
    /// Requests that reached the stage.
    pub arrivals: u64,
    /// arrivals / front-end arrivals.
    pub reach_fraction: f64,
    /// VM side.
    pub vm: VmTotals,
    /// FaaS side.
    pub faas: FaasTotals,
    /// Dollars for moving this stage's output (cross-service transfer, storage detours).
    pub transfer_cost: f64,
}

/// Cost broken down by service.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CostReport {
    /// Everything.
    pub total: f64,
    /// VMs.
    pub vm: f64,
    /// FaaS.
    pub faas: f64,
    /// Transfers and storage.
    pub transfer: f64,
}

/// Requests served by each service (stage executions).
#[derive(Clone, Debug, Default, Serialize)]
pub struct InvocationReport {
    /// Stage executions on VMs.
    pub vm: u64,
    /// Stage executions on FaaS.
    pub faas: u64,
}

/// Request counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RequestReport {
    /// Requests that arrived.
    pub total: u64,
    /// Requests that exited with a result.
    pub completed: u64,
    /// Requests that failed (throttled).
    pub failed: u64,
}

/// Violations by cause.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ViolationReport {
    /// Completed, but slower than the SLO.
    pub latency: u64,
    /// Failed: throttled by the FaaS concurrency limit.
    pub throttled: u64,
}

/// SLO results. Percentiles are over completed requests; attainment counts failures as violations.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SloReport {
    /// The latency bound, ms.
    pub latency_ms: f64,
    /// The attainment target.
    pub target: f64,
    /// Fraction of requests within the bound.
    pub attainment: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// p95 latency, ms.
    pub p95_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Violations by cause.
    pub violations: ViolationReport,
}

/// Cold starts by service.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ColdStartReport {
    /// VM launches.
    pub vm: u64,
    /// FaaS cold starts.
    pub faas: u64,
}

/// Everything one episode produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EpisodeReport {
    /// The policy that ran.
    pub policy: String,
    /// The scenario's name.
    pub scenario: String,
    /// The episode seed.
    pub seed: u64,
    /// Simulated seconds (the horizon).
    pub duration_s: f64,
    /// Dollars.
    pub cost: CostReport,
    /// Billed VM-seconds, all stages.
    pub vm_seconds: f64,
    /// Stage executions per service.
    pub invocations: InvocationReport,
    /// Requests.
    pub requests: RequestReport,
    /// SLO.
    pub slo: SloReport,
    /// Cold starts.
    pub cold_starts: ColdStartReport,
    /// Per-stage breakdown.
    pub stages: Vec<StageReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_a_percent() {
        let mut h = LatencyHistogram::default();
        let values: Vec<u64> = (1..=100_000).map(|i| i * 37).collect();
        for &v in &values {
            h.record(v);
        }
        for q in [0.5, 0.95, 0.99] {
            let exact = values[(q * values.len() as f64).ceil() as usize - 1] as f64;
            let got = h.quantile_us(q);
            assert!((got / exact - 1.0).abs() < 0.008, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile_us(0.0), 37.0);
        assert!((h.mean_us() - 37.0 * 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn small_values_are_exact_and_indices_increase() {
        let mut last = 0;
        for v in [0u64, 1, 127, 128, 129, 255, 256, 1 << 20, u64::MAX] {
            let i = LatencyHistogram::index(v);
            assert!(i >= last);
            last = i;
        }
        assert_eq!(LatencyHistogram::value(LatencyHistogram::index(100)), 100.0);
    }

    #[test]
    fn exact_quantile_by_selection() {
        let mut v = vec![5, 1, 4, 2, 3];
        assert_eq!(quantile_in_place(&mut v, 0.95), 5);
        assert_eq!(quantile_in_place(&mut v, 0.5), 3);
        assert_eq!(quantile_in_place(&mut [], 0.5), 0);
    }

    #[test]
    fn violation_rate_and_attainment_are_complements_and_defined_without_requests() {
        assert_eq!(violation_rate(0, 0), 0.0);
        assert_eq!(attainment(0, 0), 1.0);
        assert_eq!(violation_rate(3, 12), 0.25);
        assert_eq!(attainment(3, 12), 0.75);
    }
}
