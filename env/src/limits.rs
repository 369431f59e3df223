//! What one episode may ask for. Work and memory grow with arrivals, intervals and provisioned
//! counts; a scenario (or a command-line override) past these limits is refused with one line
//! before any simulation starts, instead of aborting on an allocation or running for days.
//!
//! | limit | value | why |
//! |---|---|---|
//! | stages | 256 | stage indices travel in every event |
//! | `vm.slots` | 1,024 | a ready VM lists its free slots |
//! | `vm.max_per_stage` | 10,000 | a pool keeps per-VM state; far above any cloud quota for one model block |
//! | `faas.concurrency_limit` | 10,000,000 | containers are kept per concurrent invocation |
//! | peak arrival rate | 10,000,000 req/s | one second of arrivals (scaled) is generated at once |
//! | arrivals per episode | 1,000,000,000 | about 5 minutes of simulation per episode on one core |
//! | control intervals per episode | 10,000,000 | one observation and decision each |
//! | `horizon_s` | 1,000,000,000 s (31 years) | simulated time is integer microseconds |

use crate::error::{Checker, ScenarioError};
use crate::scenario::ScenarioConfig;
use crate::workload::{LoadedWorkload, WorkloadConfig};

/// Most stages a scenario may have.
pub const MAX_STAGES: usize = 256;
/// Largest `vm.slots`.
pub const MAX_SLOTS_PER_VM: u32 = 1024;
/// Largest `vm.max_per_stage`.
pub const MAX_VMS_PER_STAGE: u32 = 10_000;
/// Largest `faas.concurrency_limit`.
pub const MAX_FAAS_CONCURRENCY: u32 = 10_000_000;
/// Highest peak arrival rate, requests per second.
pub const MAX_ARRIVAL_RATE: f64 = 1e7;
/// Most arrivals (or candidate arrivals the generator draws) expected in one episode.
pub const MAX_EPISODE_ARRIVALS: f64 = 1e9;
/// Longest episode, seconds of simulated time.
pub const MAX_HORIZON_S: f64 = 1e9;
/// Most control intervals in one episode.
pub const MAX_EPISODE_INTERVALS: f64 = 1e7;

/// Checks a validated configuration and its loaded workload against the limits.
pub(crate) fn check(
    s: &ScenarioConfig,
    workload: &LoadedWorkload,
    c: &Checker<'_>,
) -> Result<(), ScenarioError> {
    c.ensure(s.stages.len() <= MAX_STAGES, "stages", || {
        format!("{} stages exceed the limit of {MAX_STAGES}", s.stages.len())
    })?;
    c.ensure(s.vm.slots <= MAX_SLOTS_PER_VM, "vm.slots", || {
        format!("{} exceeds the limit of {MAX_SLOTS_PER_VM} slots per VM", s.vm.slots)
    })?;
    c.ensure(s.vm.max_per_stage <= MAX_VMS_PER_STAGE, "vm.max_per_stage", || {
        format!("{} exceeds the limit of {MAX_VMS_PER_STAGE} VMs per stage", s.vm.max_per_stage)
    })?;
    c.ensure(s.faas.concurrency_limit <= MAX_FAAS_CONCURRENCY, "faas.concurrency_limit", || {
        format!("{} exceeds the limit of {MAX_FAAS_CONCURRENCY}", s.faas.concurrency_limit)
    })?;
    c.ensure(s.horizon_s <= MAX_HORIZON_S, "horizon_s", || {
        format!("{} s exceeds the limit of {MAX_HORIZON_S:.0e} s per episode", readable(s.horizon_s))
    })?;
    let intervals = s.horizon_s / s.control_interval_s;
    c.ensure(intervals <= MAX_EPISODE_INTERVALS, "horizon_s", || {
        format!(
            "{} s is {intervals:.3e} control intervals of {} s, over the limit of {MAX_EPISODE_INTERVALS:.0e} per episode",
            readable(s.horizon_s),
            readable(s.control_interval_s)
        )
    })?;
    let rate_field = match &s.workload {
        WorkloadConfig::Poisson { .. } => "workload.rate",
        WorkloadConfig::Mmpp { .. } => "workload.rates",
        WorkloadConfig::Trace { mean_rate: None, .. } => "workload.rate_scale",
        WorkloadConfig::Trace { mean_rate: Some(_), .. } => "workload.mean_rate",
        WorkloadConfig::Mixture { .. } => "workload.rate_scale",
    };
    let peak = workload.peak_rate();
    c.ensure(peak <= MAX_ARRIVAL_RATE, rate_field, || {
        format!("a peak of {peak:.3e} arrivals per second exceeds the limit of {MAX_ARRIVAL_RATE:.0e}")
    })?;
    let arrivals = workload.generated_per_second() * s.horizon_s;
    c.ensure(arrivals <= MAX_EPISODE_ARRIVALS, "horizon_s", || {
        format!(
            "{} s at {:.3e} arrivals per second is {arrivals:.3e} arrivals, over the limit of {MAX_EPISODE_ARRIVALS:.0e} per episode",
            readable(s.horizon_s),
            workload.generated_per_second()
        )
    })
}

/// `x` as written when it is of everyday size, else in scientific notation (1e300 printed plainly
/// is 301 digits).
fn readable(x: f64) -> String {
    if x == 0.0 || (1e-3..1e9).contains(&x.abs()) { x.to_string() } else { format!("{x:.3e}") }
}
