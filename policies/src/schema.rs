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

use crate::baselines::{Stabiliser, Trend};
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
    /// A value is negative where the feature cannot be (every feature but `rate_trend`).
    Negative {
        /// Name of the offending feature.
        feature: String,
        /// The value received.
        value: f32,
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
            Self::Negative { feature, value } => {
                write!(f, "observation feature {feature} is negative ({value}); only rate_trend may be")
            }
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

    /// Wraps raw values (for example read from a metrics system), checked as [`Observation::check`].
    pub fn from_values(n_stages: usize, values: Vec<f32>) -> Result<Self, ObservationError> {
        let obs = Self { n_stages, values };
        obs.check(n_stages)?;
        Ok(obs)
    }

    /// Checks that the observation fits a policy controlling `n_stages` stages and holds finite
    /// values, none negative but `rate_trend` (a negative rate or count is a metrics glitch, such as
    /// a rate taken across a counter reset, that a policy would read as no load).
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
        let trend = n_stages * STAGE_FEATURES.len() + GlobalFeature::RateTrend as usize;
        let negative = self.values.iter().enumerate().find(|&(i, v)| *v < 0.0 && i != trend);
        if let Some((i, &value)) = negative {
            return Err(ObservationError::Negative { feature: feature_names(n_stages)[i].clone(), value });
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

/// The discrete per-stage choices a learned policy picks from: a VM choice and a VM share. A
/// stage's action is two indices, so the action space is `MultiDiscrete(nvec)`.
///
/// The VM choice comes in one of two forms. With `vm_deltas` it changes the stage's committed VM
/// count by a few VMs (the first agents; going from 2 to 30 VMs takes many decisions). With
/// `vm_need_multiples` it sets the count outright, as a multiple of the stage's *need*: its arrival
/// rate over the interval just closed divided by what one fully busy VM serves (`vm_capacity_rps`,
/// slots over mean service time), so a multiple is the inverse of a target utilisation (1.43 keeps
/// VMs 70 % busy); choice 0 holds the committed count, choice `i` asks for
/// `ceil(vm_need_multiples[i - 1] x need)` VMs. Targets follow the load from the first decision, so
/// a policy only has to learn how much headroom to keep, and when to hold. A target below the
/// committed count by no more than `vm_scale_in_tolerance` (a fraction of it) keeps the count, as
/// Kubernetes' HPA tolerance does: without it the noise of a measured rate drains a VM one interval
/// and boots one the next, paying a boot and the FaaS spill while it lasts. While the cost rate is
/// 0, every need-relative choice holds and the trend takes no sample. At the first decision of an
/// episode no interval has closed, and a rate of 0 means "unknown", not "idle". Later it means an
/// interval that billed nothing (silent, no VM up or booting), where holding keeps the 0 VMs the
/// need would ask for.
///
/// A VM booted now serves only after its boot, so a target on the rate just measured arrives late on
/// every ramp. With `vm_need_leads` the need is also *forecast*: Holt's linear trend of each stage's
/// per-interval rate ([`Trend`]), extrapolated that many intervals ahead and never below the measured
/// rate (what `predictive-hpa` scales on). The choices are then hold, every multiple of the need at
/// the first lead, every multiple at the second, and so on, so a policy can also learn when a
/// forecast is worth trusting. With `vm_scale_in_window` a target below the committed count is
/// raised to the highest target of that many recent decisions (HPA's scale-in stabilisation), so a
/// forecast that dips for an interval does not drain VMs a ramp needs back. Trends and recent
/// targets are decoding state, a [`DecodeMemory`] that whoever decodes keeps and clears when an
/// episode starts.
///
/// With `vm_offer_limit_rps` a stage's VMs are offered at most that many requests per second per
/// ready VM (their SLO-feasible capacity) and FaaS takes the overflow, as `tuned-hpa` routes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionSet {
    /// VM-count changes, e.g. `[-2, -1, 0, 1, 2]` (empty when `vm_need_multiples` is used).
    #[serde(default)]
    pub vm_deltas: Vec<i32>,
    /// VM shares, e.g. `[0.0, 0.25, 0.5, 0.75, 1.0]`.
    pub vm_shares: Vec<f32>,
    /// Multiples of a stage's need, e.g. `[0.0, 0.8, 1.0, 1.25, 1.6]` (empty when `vm_deltas` is
    /// used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_need_multiples: Vec<f32>,
    /// Per stage, the requests per second one fully busy VM serves: the unit of need (one entry per
    /// stage when `vm_need_multiples` is used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_capacity_rps: Vec<f32>,
    /// With `vm_need_multiples`: a target at least `(1 - this) x` the committed count keeps it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vm_scale_in_tolerance: f32,
    /// With `vm_need_multiples`: control intervals ahead the need is forecast, one block of choices
    /// per lead (0: the measured rate). Empty: the measured rate only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_need_leads: Vec<f32>,
    /// Per stage, the most requests per second each ready VM is offered; FaaS takes the rest.
    /// Empty: VMs are offered their share of the arrivals, whatever it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_offer_limit_rps: Vec<f32>,
    /// Decisions a scale-in waits out: a target below the committed count becomes the highest of
    /// the last this many targets. 0 or 1: none.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub vm_scale_in_window: u32,
}

/// True for a count of 0, which files leave out (for `skip_serializing_if`).
pub fn is_zero_u32(x: &u32) -> bool {
    *x == 0
}

/// What decoding remembers between an episode's decisions, per stage: the rate trend a need is
/// forecast from and the recent targets a scale-in waits out (see [`ActionSet`]).
#[derive(Clone, Debug)]
pub struct DecodeMemory {
    trends: Vec<Trend>,
    stabilisers: Vec<Stabiliser>,
}

impl DecodeMemory {
    /// Empty memory for decoding `set` over `n_stages` stages.
    pub fn new(set: &ActionSet, n_stages: usize) -> Self {
        Self {
            trends: vec![Trend::default(); n_stages],
            stabilisers: vec![Stabiliser::new(set.vm_scale_in_window as usize); n_stages],
        }
    }

    /// Forgets every decision: the state of an episode's start.
    pub fn clear(&mut self) {
        self.trends.iter_mut().for_each(Trend::clear);
        self.stabilisers.iter_mut().for_each(Stabiliser::clear);
    }
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl Default for ActionSet {
    fn default() -> Self {
        Self {
            vm_deltas: vec![-2, -1, 0, 1, 2],
            vm_shares: vec![0.0, 0.25, 0.5, 0.75, 1.0],
            vm_need_multiples: Vec::new(),
            vm_capacity_rps: Vec::new(),
            vm_scale_in_tolerance: 0.0,
            vm_need_leads: Vec::new(),
            vm_offer_limit_rps: Vec::new(),
            vm_scale_in_window: 0,
        }
    }
}

impl ActionSet {
    /// VM targets as multiples of each stage's need (`capacity_rps` per stage) with a scale-in
    /// tolerance, and the default shares.
    pub fn need_relative(multiples: Vec<f32>, capacity_rps: Vec<f32>, scale_in_tolerance: f32) -> Self {
        Self {
            vm_deltas: Vec::new(),
            vm_need_multiples: multiples,
            vm_capacity_rps: capacity_rps,
            vm_scale_in_tolerance: scale_in_tolerance,
            ..Self::default()
        }
    }

    /// Whether the VM choice is a multiple of the need (else a change of the count).
    pub fn is_need_relative(&self) -> bool {
        !self.vm_need_multiples.is_empty()
    }

    /// Checks that the set is usable for `n_stages` stages; the error names the field.
    pub fn check(&self, n_stages: usize) -> Result<(), String> {
        if self.vm_shares.is_empty() || self.vm_shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Err("action_set.vm_shares: needs at least one share, each in [0, 1]".into());
        }
        match (self.vm_deltas.is_empty(), self.vm_need_multiples.is_empty()) {
            (true, true) | (false, false) => {
                Err("action_set: give exactly one of vm_deltas and vm_need_multiples".into())
            }
            _ if !self.vm_offer_limit_rps.is_empty() && self.vm_offer_limit_rps.len() != n_stages => {
                Err(format!(
                    "action_set.vm_offer_limit_rps: has {} entries for {n_stages} stages",
                    self.vm_offer_limit_rps.len()
                ))
            }
            _ if self.vm_offer_limit_rps.iter().any(|c| !(c.is_finite() && *c > 0.0)) => {
                Err("action_set.vm_offer_limit_rps: each must be finite and > 0".into())
            }
            (false, true)
                if !self.vm_capacity_rps.is_empty()
                    || self.vm_scale_in_tolerance != 0.0
                    || !self.vm_need_leads.is_empty() =>
            {
                Err("action_set: vm_capacity_rps, vm_scale_in_tolerance and vm_need_leads go with \
                     vm_need_multiples"
                    .into())
            }
            (false, true) => Ok(()),
            (true, false) => {
                if self.vm_need_multiples.iter().any(|m| !(m.is_finite() && *m >= 0.0)) {
                    return Err("action_set.vm_need_multiples: each must be finite and >= 0".into());
                }
                if self.vm_capacity_rps.len() != n_stages {
                    return Err(format!(
                        "action_set.vm_capacity_rps: has {} entries for {n_stages} stages",
                        self.vm_capacity_rps.len()
                    ));
                }
                if self.vm_capacity_rps.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
                    return Err("action_set.vm_capacity_rps: each must be finite and > 0".into());
                }
                if !(0.0..1.0).contains(&self.vm_scale_in_tolerance) {
                    return Err("action_set.vm_scale_in_tolerance: must lie in [0, 1)".into());
                }
                if self.vm_need_leads.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
                    return Err("action_set.vm_need_leads: each must be finite and >= 0".into());
                }
                Ok(())
            }
        }
    }

    /// Number of VM choices per stage.
    fn vm_choices(&self) -> usize {
        if self.is_need_relative() {
            1 + self.vm_need_multiples.len() * self.vm_need_leads.len().max(1)
        } else {
            self.vm_deltas.len()
        }
    }

    /// Choices per action dimension: `[vm, shares]` repeated for every stage.
    pub fn nvec(&self, n_stages: usize) -> Vec<usize> {
        (0..n_stages).flat_map(|_| [self.vm_choices(), self.vm_shares.len()]).collect()
    }

    /// The indices of the default a new actor leans to: delta 0 (keep what runs), or the first need
    /// multiple listed; and the share nearest 1 (offer VMs everything).
    pub fn default_indices(&self, n_stages: usize) -> Vec<usize> {
        let nearest = |values: &mut dyn Iterator<Item = f32>, to: f32| {
            values
                .enumerate()
                .min_by(|(_, a), (_, b)| (a - to).abs().total_cmp(&(b - to).abs()))
                .map_or(0, |(i, _)| i)
        };
        let vm = if self.is_need_relative() {
            1
        } else {
            nearest(&mut self.vm_deltas.iter().map(|&d| d as f32), 0.0)
        };
        let share = nearest(&mut self.vm_shares.iter().copied(), 1.0);
        (0..n_stages).flat_map(|_| [vm, share]).collect()
    }

    /// Writes the mask of allowed choices (true = allowed), laid out like the concatenated logits of
    /// `nvec`: a delta is allowed when it keeps the stage's VM count within `[0, max_vms[k]]`; every
    /// need multiple (clamped on decoding) and every share is allowed.
    pub fn mask(&self, obs: &Observation, max_vms: &[u32], out: &mut [bool]) {
        let mut i = 0;
        for (k, &max) in max_vms.iter().enumerate() {
            let current = i64::from(obs.committed_vms(k));
            if self.is_need_relative() {
                out[i..i + self.vm_choices()].fill(true);
            } else {
                for (o, &d) in out[i..].iter_mut().zip(&self.vm_deltas) {
                    *o = (0..=i64::from(max)).contains(&(current + i64::from(d)));
                }
            }
            i += self.vm_choices();
            out[i..i + self.vm_shares.len()].fill(true);
            i += self.vm_shares.len();
        }
    }

    /// Turns chosen indices (two per stage) into an [`Action`], clamping VM counts to `[0, max]`.
    /// Each call is one decision `memory` (made by [`DecodeMemory::new`] for this set) remembers.
    pub fn decode(
        &self,
        indices: &[usize],
        obs: &Observation,
        max_vms: &[u32],
        memory: &mut DecodeMemory,
        out: &mut Action,
    ) {
        out.stages.resize(max_vms.len(), StageAction::FAAS_ONLY);
        let measured = obs.global(GlobalFeature::CostRate) > 0.0;
        let forecasting = measured && !self.vm_need_leads.is_empty();
        for (k, &max) in max_vms.iter().enumerate() {
            let vm = indices[2 * k];
            let current = i64::from(obs.committed_vms(k));
            let rate = f64::from(obs.stage(k, StageFeature::ArrivalRate).max(0.0));
            let trend = &mut memory.trends[k];
            if forecasting {
                trend.update(rate);
            }
            let target = if !self.is_need_relative() {
                current + i64::from(self.vm_deltas[vm])
            } else if vm == 0 || !measured {
                current
            } else {
                let per_lead = self.vm_need_multiples.len();
                let (lead, multiple) = ((vm - 1) / per_lead, self.vm_need_multiples[(vm - 1) % per_lead]);
                let rate = match self.vm_need_leads.get(lead) {
                    Some(&ahead) if ahead > 0.0 => rate.max(trend.forecast(f64::from(ahead))),
                    _ => rate,
                };
                let need = rate / f64::from(self.vm_capacity_rps[k]);
                // Saturating: a huge need clamps to `max` below.
                let wanted = (f64::from(multiple) * need).ceil() as i64;
                let tolerated = current as f64 * (1.0 - f64::from(self.vm_scale_in_tolerance));
                if wanted < current && wanted as f64 >= tolerated { current } else { wanted }
            };
            let target = target.clamp(0, i64::from(max)) as u32;
            let ready = obs.stage(k, StageFeature::VmsReady);
            out.stages[k] = StageAction {
                vm_target: memory.stabilisers[k].recommend(target, current as u32),
                vm_share: self.vm_shares[indices[2 * k + 1]],
                vm_rate_limit: self.vm_offer_limit_rps.get(k).map(|limit| ready * limit),
            };
        }
    }

    /// Marks in `out` (laid out like the actor's logits) the choices nearest what `teacher` decided
    /// for `obs` (an imitation label, or an expert's choice): per stage, every allowed VM choice
    /// whose decoded target is nearest the teacher's (a target above it winning a tie with one as
    /// far below, as a shortfall spills to FaaS), and every allowed share nearest the teacher's.
    /// Decoding is tried on copies of `memory`, which is left as it was.
    pub fn nearest_choices(
        &self,
        obs: &Observation,
        max_vms: &[u32],
        memory: &DecodeMemory,
        teacher: &Action,
        allowed: &[bool],
        out: &mut [bool],
    ) {
        let nvec = self.nvec(max_vms.len());
        let vm_choices = nvec[0];
        let stride = vm_choices + nvec[1];
        let mut keys = vec![u64::MAX; max_vms.len() * vm_choices];
        let mut trial = Action::faas_only(max_vms.len());
        let mut indices = vec![0usize; nvec.len()];
        for choice in 0..vm_choices {
            indices.iter_mut().step_by(2).for_each(|i| *i = choice);
            self.decode(&indices, obs, max_vms, &mut memory.clone(), &mut trial);
            for (k, (mine, wanted)) in trial.stages.iter().zip(&teacher.stages).enumerate() {
                if allowed[k * stride + choice] {
                    let (got, want) = (u64::from(mine.vm_target), u64::from(wanted.vm_target));
                    keys[k * vm_choices + choice] = 2 * got.abs_diff(want) + u64::from(got < want);
                }
            }
        }
        for (k, wanted) in teacher.stages.iter().enumerate() {
            let stage_keys = &keys[k * vm_choices..(k + 1) * vm_choices];
            let best = stage_keys.iter().copied().min().unwrap_or(u64::MAX);
            let row = &mut out[k * stride..(k + 1) * stride];
            for (o, &key) in row.iter_mut().zip(stage_keys) {
                *o = key == best && key != u64::MAX;
            }
            let distance = |s: f32| (s - wanted.vm_share).abs();
            let nearest = self.vm_shares.iter().map(|&s| distance(s)).fold(f32::INFINITY, f32::min);
            for ((o, &s), &a) in
                row[vm_choices..].iter_mut().zip(&self.vm_shares).zip(&allowed[k * stride + vm_choices..])
            {
                *o = a && distance(s) == nearest;
            }
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
        set.decode(&[4, 2], &obs, &[2], &mut DecodeMemory::new(&set, 2), &mut action);
        assert_eq!(action.stages[0].vm_target, 2);
        assert_eq!(action.stages[0].vm_share, 0.5);
    }

    #[test]
    fn need_multiples_set_targets_from_the_arrival_rate() {
        let set = ActionSet::need_relative(vec![0.0, 1.0, 1.5], vec![100.0, 10.0], 0.0);
        set.check(2).unwrap();
        assert_eq!(set.nvec(2), vec![4, 5, 4, 5]);
        assert_eq!(set.default_indices(2), vec![1, 4, 1, 4]);
        let mut obs = Observation::zeros(2);
        obs.set_stage(0, StageFeature::VmsReady, 3.0);
        let mut action = Action::faas_only(2);
        set.decode(&[2, 4, 1, 4], &obs, &[20, 20], &mut DecodeMemory::new(&set, 2), &mut action);
        assert_eq!(action.stages[0].vm_target, 3, "nothing measured yet: hold");
        obs.set_global(GlobalFeature::CostRate, 1.0);
        obs.set_stage(0, StageFeature::ArrivalRate, 1_050.0);
        obs.set_stage(1, StageFeature::ArrivalRate, 1_000.0);
        let mut mask = vec![false; 18];
        set.mask(&obs, &[20, 20], &mut mask);
        assert!(mask.iter().all(|&m| m));
        let target = |action: &Action, k: usize| action.stages[k].vm_target;
        set.decode(&[2, 4, 3, 0], &obs, &[20, 20], &mut DecodeMemory::new(&set, 2), &mut action);
        assert_eq!((target(&action, 0), target(&action, 1)), (11, 20)); // ceil(10.5); 150 clamped
        assert_eq!(action.stages[1].vm_share, 0.0);
        set.decode(&[0, 4, 1, 4], &obs, &[20, 20], &mut DecodeMemory::new(&set, 2), &mut action);
        assert_eq!((target(&action, 0), target(&action, 1)), (3, 0)); // hold; multiple 0

        // With a 20 % scale-in tolerance, 12 committed VMs stay for a target of 10 or 11, not 9.
        let tolerant = ActionSet { vm_scale_in_tolerance: 0.2, ..set };
        obs.set_stage(0, StageFeature::VmsReady, 12.0);
        let mut decoded = |rate: f32, action: &mut Action| {
            obs.set_stage(0, StageFeature::ArrivalRate, rate);
            tolerant.decode(&[2, 4, 2, 4], &obs, &[20, 20], &mut DecodeMemory::new(&tolerant, 2), action);
            action.stages[0].vm_target
        };
        assert_eq!(decoded(1_050.0, &mut action), 12);
        assert_eq!(decoded(950.0, &mut action), 12);
        assert_eq!(decoded(850.0, &mut action), 9);
        assert_eq!(decoded(1_250.0, &mut action), 13);
    }

    #[test]
    fn need_leads_target_a_forecast_that_never_undercuts_the_measured_rate() {
        // One stage, 10 req/s per busy VM; choice 1: the need forecast 10 intervals ahead, choice 2:
        // the need measured; VMs offered at most 8 req/s each.
        let set = ActionSet {
            vm_need_leads: vec![10.0, 0.0],
            vm_offer_limit_rps: vec![8.0],
            ..ActionSet::need_relative(vec![1.0], vec![10.0], 0.0)
        };
        set.check(1).unwrap();
        assert_eq!(set.nvec(1), vec![3, 5]);
        let decide = |obs: &mut Observation, rate: f32, choice: usize, memory: &mut DecodeMemory| {
            let mut action = Action::faas_only(1);
            obs.set_stage(0, StageFeature::ArrivalRate, rate);
            set.decode(&[choice, 4], obs, &[100], memory, &mut action);
            action.stages[0]
        };
        let mut trends = DecodeMemory::new(&set, 1);
        let mut obs = Observation::zeros(1);
        obs.set_stage(0, StageFeature::VmsReady, 4.0);
        assert_eq!(decide(&mut obs, 500.0, 1, &mut trends).vm_target, 4, "nothing measured: hold");
        assert_eq!(trends.trends[0], Trend::default(), "an unmeasured rate is not a sample");
        obs.set_global(GlobalFeature::CostRate, 1.0);
        // A ramp of 20 req/s per interval: the forecast leads the measured need by 200 req/s.
        let mut last = (StageAction::FAAS_ONLY, StageAction::FAAS_ONLY);
        for i in 0..30 {
            let rate = 105.0 + 20.0 * i as f32;
            let measured = decide(&mut obs, rate, 2, &mut trends.clone());
            last = (decide(&mut obs, rate, 1, &mut trends), measured);
        }
        assert_eq!((last.0.vm_target, last.1.vm_target), (89, 69)); // ceil(88.5), ceil(68.5)
        assert_eq!(last.0.vm_rate_limit, Some(32.0), "4 ready VMs x 8 req/s");
        // The load falls: the forecast points down, the measured rate is the floor.
        for _ in 0..5 {
            decide(&mut obs, 100.0, 1, &mut trends);
        }
        assert_eq!(decide(&mut obs, 100.0, 1, &mut trends).vm_target, 10);
    }

    #[test]
    fn a_scale_in_window_keeps_the_highest_recent_target() {
        let set = ActionSet { vm_scale_in_window: 3, ..ActionSet::need_relative(vec![1.0], vec![10.0], 0.0) };
        let mut memory = DecodeMemory::new(&set, 1);
        let mut obs = Observation::zeros(1);
        obs.set_global(GlobalFeature::CostRate, 1.0);
        let mut targets = vec![];
        for (rate, ready) in [(200.0, 5.0), (50.0, 20.0), (50.0, 20.0), (50.0, 20.0), (300.0, 5.0)] {
            obs.set_stage(0, StageFeature::ArrivalRate, rate);
            obs.set_stage(0, StageFeature::VmsReady, ready);
            let mut action = Action::faas_only(1);
            set.decode(&[1, 4], &obs, &[100], &mut memory, &mut action);
            targets.push(action.stages[0].vm_target);
        }
        assert_eq!(targets, [20, 20, 20, 5, 30], "scale in after 3 decisions, out at once");
        memory.clear();
        let mut action = Action::faas_only(1);
        obs.set_stage(0, StageFeature::ArrivalRate, 50.0);
        obs.set_stage(0, StageFeature::VmsReady, 20.0);
        set.decode(&[1, 4], &obs, &[100], &mut memory, &mut action);
        assert_eq!(action.stages[0].vm_target, 5, "a cleared memory has no recent targets");
    }

    #[test]
    fn action_set_check_names_the_field() {
        let fields = |set: ActionSet| set.check(2).unwrap_err();
        assert!(ActionSet::default().check(2).is_ok());
        assert!(fields(ActionSet { vm_deltas: Vec::new(), ..ActionSet::default() }).contains("exactly one"));
        assert!(fields(ActionSet::need_relative(vec![1.0], vec![5.0], 0.0)).contains("vm_capacity_rps"));
        assert!(
            fields(ActionSet::need_relative(vec![f32::NAN], vec![5.0, 5.0], 0.0))
                .contains("vm_need_multiples")
        );
        assert!(
            fields(ActionSet::need_relative(vec![1.0], vec![5.0, 5.0], 1.0))
                .contains("vm_scale_in_tolerance")
        );
        assert!(
            fields(ActionSet { vm_scale_in_tolerance: 0.1, ..ActionSet::default() })
                .contains("need_multiples")
        );
        assert!(fields(ActionSet { vm_shares: vec![1.5], ..ActionSet::default() }).contains("vm_shares"));
        let both = ActionSet {
            vm_need_multiples: vec![1.0],
            vm_capacity_rps: vec![1.0, 1.0],
            ..ActionSet::default()
        };
        assert!(fields(both).contains("exactly one"));
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

    #[test]
    fn check_rejects_a_negative_feature_but_the_trend() {
        let mut obs = Observation::zeros(2);
        obs.set_global(GlobalFeature::RateTrend, -40.0); // the load fell: fine
        assert_eq!(obs.check(2), Ok(()));
        obs.set_stage(1, StageFeature::ArrivalRate, -12.5); // a rate across a counter reset
        assert_eq!(
            obs.check(2).unwrap_err().to_string(),
            "observation feature stage1.arrival_rate is negative (-12.5); only rate_trend may be"
        );
        obs.set_stage(1, StageFeature::ArrivalRate, -0.0);
        assert_eq!(obs.check(2), Ok(()));
    }

    #[test]
    fn the_nearest_choices_decode_nearest_the_target_above_winning_ties() {
        // One stage, hold or 1x / 2x a need of 4.5 VMs: targets 3 (committed), 5 and 9.
        let set = ActionSet::need_relative(vec![1.0, 2.0], vec![10.0], 0.0);
        let mut obs = Observation::zeros(1);
        obs.set_stage(0, StageFeature::VmsReady, 2.0);
        obs.set_stage(0, StageFeature::VmsBooting, 1.0);
        obs.set_stage(0, StageFeature::ArrivalRate, 45.0);
        obs.set_global(GlobalFeature::CostRate, 1.0);
        let memory = DecodeMemory::new(&set, 1);
        let allowed = vec![true; 3 + 5];
        let labels = |obs: &Observation, target: u32, share: f32, allowed: &[bool]| {
            let teacher = Action {
                stages: vec![StageAction { vm_target: target, vm_share: share, vm_rate_limit: None }],
            };
            let mut out = vec![false; 8];
            set.nearest_choices(obs, &[20], &memory, &teacher, allowed, &mut out);
            out
        };
        let vm = |out: Vec<bool>| out[..3].to_vec();
        assert_eq!(vm(labels(&obs, 5, 1.0, &allowed)), [false, true, false]);
        assert_eq!(
            vm(labels(&obs, 4, 1.0, &allowed)),
            [false, true, false],
            "5 and 3 are as far: above wins"
        );
        assert_eq!(
            vm(labels(&obs, 7, 1.0, &allowed)),
            [false, false, true],
            "9 and 5 are as far: above wins"
        );
        assert_eq!(vm(labels(&obs, 0, 1.0, &allowed)), [true, false, false]);
        assert_eq!(vm(labels(&obs, 30, 1.0, &allowed)), [false, false, true]);
        let mut without_two = allowed.clone();
        without_two[2] = false;
        assert_eq!(vm(labels(&obs, 30, 1.0, &without_two)), [false, true, false], "only allowed choices");
        assert_eq!(
            labels(&obs, 5, 0.6, &allowed)[3..],
            [false, false, true, false, false],
            "share 0.5 nearest"
        );

        // Choices that decode alike are all the teacher's: with 5 committed, hold is 1x the need.
        obs.set_stage(0, StageFeature::VmsBooting, 3.0);
        assert_eq!(vm(labels(&obs, 5, 1.0, &allowed)), [true, true, false]);
        let mut after = memory.clone();
        let mut action = Action::faas_only(1);
        set.decode(&[1, 4], &obs, &[20], &mut after, &mut action);
        assert_eq!(action.stages[0].vm_target, 5, "the decoding the labels assume");
    }
}
