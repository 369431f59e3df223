//! The observation and action every serflow policy speaks, versioned so an exported policy can refuse
//! an observation it was not trained on.
//!
//! An observation is a flat `f32` vector: `STAGE_FEATURES.len()` features for each stage in pipeline
//! order, then the global features. Values are raw (rates in req/s, latencies in ms, dollars per hour):
//! normalisation is the agent's business, and its statistics travel with an exported policy.
//!
//! | feature | scope | unit | meaning |
//! |---|---|---|---|
//! | arrival_rate | stage | req/s | requests that reached the stage during the last interval, per second |
//! | reach_fraction | stage | 0..1 | stage arrivals / front-end arrivals during the last interval |
//! | vms_ready | stage | VMs | VMs serving (not booting, not draining) at the decision time |
//! | vms_booting | stage | VMs | VMs requested and still booting |
//! | vm_utilisation | stage | 0..1 | busy slot-seconds / ready slot-seconds over the last interval |
//! | vm_queue | stage | requests | requests waiting in the stage's VM queue now |
//! | faas_in_flight | stage | requests | FaaS invocations running now (cold starting included) |
//! | faas_warm | stage | containers | idle warm FaaS containers now |
//! | faas_share | stage | 0..1 | fraction of the stage's arrivals that ran on FaaS in the last interval |
//! | p95_latency_ms | stage | ms | p95 of the time requests spent in the stage (wait + cold start + service) |
//! | total_rate | global | req/s | front-end arrival rate over the last interval |
//! | rate_trend | global | req/s | total_rate minus the previous interval's total_rate |
//! | slo_attainment | global | 0..1 | fraction of requests finished in the last interval within the SLO |
//! | cost_rate | global | $/h | cost accrued over the last interval, as dollars per hour |

use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the observation/action layout; bumped whenever a feature is added, removed or reordered.
pub const SCHEMA_VERSION: u32 = 1;

/// Per-stage features, in the order they appear for each stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is documented in the module's feature table
pub enum StageFeature {
    ArrivalRate,
    ReachFraction,
    VmsReady,
    VmsBooting,
    VmUtilisation,
    VmQueue,
    FaasInFlight,
    FaasWarm,
    FaasShare,
    P95LatencyMs,
}

/// Features describing the whole service, after all stage features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is documented in the module's feature table
pub enum GlobalFeature {
    TotalRate,
    RateTrend,
    SloAttainment,
    CostRate,
}

/// Names of the per-stage features, indexed by `StageFeature as usize`.
pub const STAGE_FEATURES: [&str; 10] = [
    "arrival_rate",
    "reach_fraction",
    "vms_ready",
    "vms_booting",
    "vm_utilisation",
    "vm_queue",
    "faas_in_flight",
    "faas_warm",
    "faas_share",
    "p95_latency_ms",
];

/// Names of the global features, indexed by `GlobalFeature as usize`.
pub const GLOBAL_FEATURES: [&str; 4] = ["total_rate", "rate_trend", "slo_attainment", "cost_rate"];

/// The feature names of an observation for `n_stages` stages (`stage{k}.{feature}`, then globals).
pub fn feature_names(n_stages: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(observation_len(n_stages));
    for k in 0..n_stages {
        names.extend(STAGE_FEATURES.iter().map(|f| format!("stage{k}.{f}")));
    }
    names.extend(GLOBAL_FEATURES.iter().map(|f| (*f).to_string()));
    names
}

/// Length of the observation vector for `n_stages` stages.
pub const fn observation_len(n_stages: usize) -> usize {
    n_stages * STAGE_FEATURES.len() + GLOBAL_FEATURES.len()
}

/// Why an observation cannot be used by a policy.
#[derive(Clone, Debug, PartialEq)]
pub enum ObservationError {
    /// The vector length does not match the stage count.
    Length {
        /// Expected number of values.
        expected: usize,
        /// Number of values received.
        found: usize,
    },
    /// The observation is for another number of stages than the policy.
    Stages {
        /// Stages the policy controls.
        expected: usize,
        /// Stages in the observation.
        found: usize,
    },
    /// A value is NaN or infinite.
    NotFinite {
        /// Name of the offending feature.
        feature: String,
    },
}

impl fmt::Display for ObservationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { expected, found } => {
                write!(f, "observation has {found} values, expected {expected}")
            }
            Self::Stages { expected, found } => {
                write!(f, "observation is for {found} stages, the policy controls {expected}")
            }
            Self::NotFinite { feature } => write!(f, "observation feature {feature} is not finite"),
        }
    }
}

impl std::error::Error for ObservationError {}

/// A flat observation with typed accessors. See the module doc for the feature table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    n_stages: usize,
    values: Vec<f32>,
}

impl Observation {
    /// An all-zero observation for `n_stages` stages.
    pub fn zeros(n_stages: usize) -> Self {
        Self { n_stages, values: vec![0.0; observation_len(n_stages)] }
    }

    /// Wraps raw values (for example read from a metrics system); checks length and finiteness.
    pub fn from_values(n_stages: usize, values: Vec<f32>) -> Result<Self, ObservationError> {
        let obs = Self { n_stages, values };
        obs.check(n_stages)?;
        Ok(obs)
    }

    /// Checks that the observation fits a policy controlling `n_stages` stages and holds finite values.
    pub fn check(&self, n_stages: usize) -> Result<(), ObservationError> {
        if self.n_stages != n_stages {
            return Err(ObservationError::Stages { expected: n_stages, found: self.n_stages });
        }
        let expected = observation_len(n_stages);
        if self.values.len() != expected {
            return Err(ObservationError::Length { expected, found: self.values.len() });
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(ObservationError::NotFinite { feature: feature_names(n_stages)[i].clone() });
        }
        Ok(())
    }

    /// Number of stages described.
    pub fn n_stages(&self) -> usize {
        self.n_stages
    }

    /// The raw vector, in schema order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// One stage feature.
    pub fn stage(&self, stage: usize, feature: StageFeature) -> f32 {
        self.values[stage * STAGE_FEATURES.len() + feature as usize]
    }

    /// Sets one stage feature.
    pub fn set_stage(&mut self, stage: usize, feature: StageFeature, value: f32) {
        self.values[stage * STAGE_FEATURES.len() + feature as usize] = value;
    }

    /// One global feature.
    pub fn global(&self, feature: GlobalFeature) -> f32 {
        self.values[self.n_stages * STAGE_FEATURES.len() + feature as usize]
    }

    /// Sets one global feature.
    pub fn set_global(&mut self, feature: GlobalFeature, value: f32) {
        let i = self.n_stages * STAGE_FEATURES.len() + feature as usize;
        self.values[i] = value;
    }

    /// VMs a stage has committed to (ready + booting): the base a VM-count change applies to.
    pub fn committed_vms(&self, stage: usize) -> u32 {
        let ready = self.stage(stage, StageFeature::VmsReady);
        let booting = self.stage(stage, StageFeature::VmsBooting);
        (ready + booting).max(0.0).round() as u32
    }
}

/// What a policy decides for one stage for the next control interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageAction {
    /// VMs the stage should have (ready + booting). More starts VMs; fewer drains VMs.
    pub vm_target: u32,
    /// Fraction of the stage's arrivals the balancer offers to VMs (0..=1); the rest goes to FaaS.
    /// Requests offered to VMs that the VMs cannot take without breaking the SLO spill to FaaS.
    pub vm_share: f32,
    /// Optional cap, in requests per second of simulated time, on what is offered to VMs; arrivals
    /// over the cap within a second go to FaaS (LIBRA's "VM quota").
    pub vm_rate_limit: Option<f32>,
}

impl StageAction {
    /// Everything to FaaS, no VMs.
    pub const FAAS_ONLY: Self = Self { vm_target: 0, vm_share: 0.0, vm_rate_limit: None };

    /// Keep `vms` VMs (ready + booting) and offer them everything; what they cannot take spills to
    /// FaaS. What the controller's fallback, a missing stage and a cautious first decision do.
    pub const fn hold(vms: u32) -> Self {
        Self { vm_target: vms, vm_share: 1.0, vm_rate_limit: None }
    }
}

/// One decision: an action per stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Per-stage actions in pipeline order.
    pub stages: Vec<StageAction>,
}

impl Action {
    /// Every stage [`StageAction::hold`]s the VM count seen in `obs`: the safe default when nothing
    /// better is known.
    pub fn hold(obs: &Observation) -> Self {
        Self { stages: (0..obs.n_stages()).map(|k| StageAction::hold(obs.committed_vms(k))).collect() }
    }

    /// An action for `n_stages` stages that sends everything to FaaS.
    pub fn faas_only(n_stages: usize) -> Self {
        Self { stages: vec![StageAction::FAAS_ONLY; n_stages] }
    }
}

/// The discrete per-stage choices a learned policy picks from: a VM-count change and a VM share.
/// A stage's action is two indices, so the action space is `MultiDiscrete(nvec)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionSet {
    /// VM-count changes, e.g. `[-2, -1, 0, 1, 2]`.
    pub vm_deltas: Vec<i32>,
    /// VM shares, e.g. `[0.0, 0.25, 0.5, 0.75, 1.0]`.
    pub vm_shares: Vec<f32>,
}

impl Default for ActionSet {
    fn default() -> Self {
        Self { vm_deltas: vec![-2, -1, 0, 1, 2], vm_shares: vec![0.0, 0.25, 0.5, 0.75, 1.0] }
    }
}

impl ActionSet {
    /// Choices per action dimension: `[deltas, shares]` repeated for every stage.
    pub fn nvec(&self, n_stages: usize) -> Vec<usize> {
        (0..n_stages).flat_map(|_| [self.vm_deltas.len(), self.vm_shares.len()]).collect()
    }

    /// Writes the mask of allowed choices (true = allowed), laid out like the concatenated logits of
    /// `nvec`: a delta is allowed when it keeps the stage's VM count within `[0, max_vms[k]]`; every
    /// share is allowed.
    pub fn mask(&self, obs: &Observation, max_vms: &[u32], out: &mut [bool]) {
        let mut i = 0;
        for (k, &max) in max_vms.iter().enumerate() {
            let current = i64::from(obs.committed_vms(k));
            for &d in &self.vm_deltas {
                out[i] = (0..=i64::from(max)).contains(&(current + i64::from(d)));
                i += 1;
            }
            for _ in &self.vm_shares {
                out[i] = true;
                i += 1;
            }
        }
    }

    /// Turns chosen indices (two per stage) into an [`Action`], clamping VM counts to `[0, max]`.
    pub fn decode(&self, indices: &[usize], obs: &Observation, max_vms: &[u32], out: &mut Action) {
        out.stages.resize(max_vms.len(), StageAction::FAAS_ONLY);
        for (k, &max) in max_vms.iter().enumerate() {
            let delta = self.vm_deltas[indices[2 * k]];
            let current = i64::from(obs.committed_vms(k));
            out.stages[k] = StageAction {
                vm_target: (current + i64::from(delta)).clamp(0, i64::from(max)) as u32,
                vm_share: self.vm_shares[indices[2 * k + 1]],
                vm_rate_limit: None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_table_in_module_doc_has_one_row_per_feature() {
        let source = include_str!("schema.rs");
        let rows: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("//! | "))
            .map(|l| l.split(" |").next().unwrap_or(""))
            .filter(|name| *name != "feature" && !name.starts_with("---"))
            .collect();
        let expected: Vec<&str> = STAGE_FEATURES.iter().chain(GLOBAL_FEATURES.iter()).copied().collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn typed_accessors_index_the_named_feature() {
        let mut obs = Observation::zeros(2);
        obs.set_stage(1, StageFeature::VmQueue, 7.0);
        obs.set_global(GlobalFeature::CostRate, 3.0);
        let names = feature_names(2);
        let at = |name: &str| obs.values()[names.iter().position(|n| n == name).unwrap()];
        assert_eq!(at("stage1.vm_queue"), 7.0);
        assert_eq!(at("cost_rate"), 3.0);
        assert_eq!(names.len(), observation_len(2));
    }

    #[test]
    fn mask_forbids_counts_outside_bounds_and_decode_clamps() {
        let set = ActionSet::default();
        let mut obs = Observation::zeros(1);
        obs.set_stage(0, StageFeature::VmsReady, 1.0);
        let mut mask = vec![false; 10];
        set.mask(&obs, &[2], &mut mask);
        assert_eq!(&mask[..5], &[false, true, true, true, false]);
        assert!(mask[5..].iter().all(|&m| m));
        let mut action = Action::faas_only(1);
        set.decode(&[4, 2], &obs, &[2], &mut action);
        assert_eq!(action.stages[0].vm_target, 2);
        assert_eq!(action.stages[0].vm_share, 0.5);
    }

    #[test]
    fn check_rejects_wrong_shape_and_nan() {
        assert!(matches!(Observation::from_values(1, vec![0.0; 3]), Err(ObservationError::Length { .. })));
        let mut values = vec![0.0; observation_len(1)];
        values[2] = f32::NAN;
        let err = Observation::from_values(1, values).unwrap_err();
        assert_eq!(err.to_string(), "observation feature stage0.vms_ready is not finite");
        assert!(Observation::zeros(2).check(3).is_err());
    }
}
