//! The scenario file: everything that defines one staged VM/FaaS system and its workload.
//!
//! Scenarios are RON, parsed with serde (unknown fields rejected) and validated once by
//! [`Scenario::from_config`], which reports the first bad value with its field path. Built-in scenarios
//! are embedded in the binary (`scenarios/*.ron`), each value commented with its source. Units are in
//! the field names: `_ms`, `_s`, `_mb`, `_bytes`, `price_per_*` in US dollars.

use crate::dist::Dist;
use crate::error::{Checker, ScenarioError};
use crate::workload::{LoadedWorkload, WorkloadConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

mod builtin;
mod options;
mod validate;

pub use builtin::{BUILTINS, TRACES_ENV, load_config, missing_traces, parse, trace_dirs};
pub use options::ScenarioOptions;

/// One stage: a block of layers ending in a classifier where requests may exit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Stage")]
pub struct StageConfig {
    /// A label for reports.
    pub name: String,
    /// Probability that a request finishing this stage exits here; the last stage must be 1.
    pub exit_probability: f64,
    /// Service time of one request on one VM slot, in milliseconds.
    pub vm_service_ms: Dist,
    /// Service time on FaaS in milliseconds; when absent, `vm_service_ms` times `faas.slowdown`.
    #[serde(default)]
    pub faas_service_ms: Option<Dist>,
    /// Memory configured for this stage's function, in MB (billing is per GB-second).
    pub faas_memory_mb: f64,
    /// Size of the activation this stage hands to the next, in bytes.
    pub activation_bytes: f64,
}

/// The VM type every stage's pool uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Vm")]
pub struct VmConfig {
    /// Instance type, for reports.
    pub name: String,
    /// On-demand price in $/hour.
    pub price_per_hour: f64,
    /// Requests one VM serves concurrently (workers); the rest wait in the pool's FIFO queue.
    pub slots: u32,
    /// Time from request to ready (image pull, model load), in seconds. Billed.
    pub boot_s: Dist,
    /// Billing minimum per VM, in seconds (AWS on-demand Linux: 60).
    pub billing_minimum_s: f64,
    /// Upper bound on VMs per stage (quota).
    pub max_per_stage: u32,
    /// VMs per stage already running when an episode starts (ready, billed from time zero).
    #[serde(default)]
    pub initial_per_stage: u32,
}

/// The FaaS platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Faas")]
pub struct FaasConfig {
    /// $ per GB-second of billed duration.
    pub price_per_gb_s: f64,
    /// $ per invocation.
    pub price_per_request: f64,
    /// Billed duration is rounded up to this, in milliseconds (AWS: 1).
    pub billing_granularity_ms: f64,
    /// Cold-start (container init) time, in milliseconds.
    pub cold_start_ms: Dist,
    /// Whether cold-start time is billed (AWS bills INIT for on-demand functions since Aug 2025).
    pub init_billed: bool,
    /// An idle container stays warm this long after its last invocation, in seconds.
    pub keep_alive_s: f64,
    /// Concurrent invocations per function; one more is throttled (a failed request).
    pub concurrency_limit: u32,
    /// Added to every invocation's latency, unbilled (API gateway / invoke path), in milliseconds.
    pub invocation_overhead_ms: f64,
    /// FaaS CPUs are slower than a VM's: FaaS service time = VM service time x this, for stages that
    /// give no `faas_service_ms`.
    pub slowdown: f64,
}

/// One network path: `latency + bytes / bandwidth`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Link")]
pub struct LinkConfig {
    /// One-way latency in milliseconds.
    pub latency_ms: f64,
    /// Bandwidth in megabits per second.
    pub bandwidth_mbps: f64,
}

/// Transmission between consecutive stages that run in different places.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Network")]
pub struct NetworkConfig {
    /// VM to VM (across or within a pool).
    pub vm_vm: LinkConfig,
    /// VM to FaaS and FaaS to VM.
    pub vm_faas: LinkConfig,
    /// FaaS to FaaS.
    pub faas_faas: LinkConfig,
    /// Largest synchronous FaaS payload in bytes (AWS: 6 MB); bigger activations go through storage.
    #[serde(default)]
    pub faas_payload_limit_bytes: Option<f64>,
    /// The detour through object storage (put + get) used above the payload limit.
    #[serde(default)]
    pub storage: Option<LinkConfig>,
    /// $ per storage request pair (put + get) on a detour.
    #[serde(default)]
    pub storage_price_per_request: f64,
    /// $ per GB moved between VMs and FaaS (0 within one region).
    #[serde(default)]
    pub transfer_price_per_gb: f64,
}

/// How the per-stage balancer treats requests offered to VMs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Balancer")]
pub struct BalancerConfig {
    /// A request offered to VMs is queued only if its estimated wait (queue ahead of it x mean
    /// service time / ready slots) is at most this, in milliseconds; otherwise it spills to FaaS.
    /// `None`: the VM queue is unbounded (LIBRA's model).
    pub vm_queue_wait_ms: Option<f64>,
}

/// The service-level objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Slo")]
pub struct SloConfig {
    /// End-to-end latency bound from arrival to exit, in milliseconds.
    pub latency_ms: f64,
    /// Target fraction of requests within the bound (throttled requests count as violations).
    pub attainment_target: f64,
}

/// Exit rates that drift over an episode: each non-final stage's exit probability is multiplied by
/// `1 + amplitude * sin(2 pi t / period_s + phase)`, with a phase drawn per episode, then clamped to
/// [0, 1]. Reconstructed: the paper says exit rates are input-dependent and vary, not how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "ExitDrift")]
pub struct ExitDriftConfig {
    /// Relative amplitude (0.3 = +-30 %).
    pub amplitude: f64,
    /// Period in seconds.
    pub period_s: f64,
}

/// Ties exits to request size when the workload carries one: a non-final stage's exit probability is
/// multiplied by `(median_size / size)^elasticity` and clamped to [0, 1], so bigger inputs exit later.
/// Reconstructed, like [`ExitDriftConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "SizeExit")]
pub struct SizeExitConfig {
    /// How strongly size moves exit probabilities (0 = not at all).
    pub elasticity: f64,
}

/// The reward the environment reports: `-(interval cost)/cost_scale - violation_penalty x
/// (interval violations)/(interval requests)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Reward")]
pub struct RewardConfig {
    /// Dollars per interval that count as one unit of negative reward.
    pub cost_scale: f64,
    /// The weight of the violation fraction (the Lagrange multiplier when fixed).
    pub violation_penalty: f64,
}

/// A whole scenario as written in RON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Scenario")]
pub struct ScenarioConfig {
    /// Name for reports.
    pub name: String,
    /// One paragraph on what this scenario models.
    #[serde(default)]
    pub description: String,
    /// Stages in pipeline order.
    pub stages: Vec<StageConfig>,
    /// The VM type.
    pub vm: VmConfig,
    /// The FaaS platform.
    pub faas: FaasConfig,
    /// Transmission between stages.
    pub network: NetworkConfig,
    /// The balancer's admission rule.
    pub balancer: BalancerConfig,
    /// The SLO.
    pub slo: SloConfig,
    /// One control decision per this many seconds of simulated time.
    pub control_interval_s: f64,
    /// Episode length in seconds (a multiple of the interval); hitting it truncates the episode.
    pub horizon_s: f64,
    /// Optional drift of exit probabilities over time.
    #[serde(default)]
    pub exit_drift: Option<ExitDriftConfig>,
    /// Optional dependence of exit probabilities on request size.
    #[serde(default)]
    pub size_exit: Option<SizeExitConfig>,
    /// Reward shaping for the environment.
    pub reward: RewardConfig,
    /// Where requests come from.
    pub workload: WorkloadConfig,
    /// The front-end mean rate, req/s, this system is sized for: a trace given on the command line
    /// (`--trace`) is rescaled to it unless `--trace-scale` says otherwise. None: traces replay as
    /// recorded.
    #[serde(default)]
    pub nominal_mean_rate_rps: Option<f64>,
}

impl ScenarioConfig {
    /// Milliseconds of VM-to-VM transfer on a request's way through every stage.
    pub fn vm_vm_transfers_ms(&self) -> f64 {
        let link = &self.network.vm_vm;
        self.stages[..self.stages.len().saturating_sub(1)]
            .iter()
            .map(|s| link.latency_ms + s.activation_bytes * 8.0 / (link.bandwidth_mbps * 1e3))
            .sum()
    }

    /// A note when the SLO leaves less room than the balancer lets VMs queue: a request that waits
    /// the balancer's bound at every stage, on top of the stages' median service times and the
    /// VM-to-VM transfers, is late. Policies that run VMs near capacity (the oracle, calibrated
    /// rules) then miss the target, as an eight-stage variant of `default` shows: its 50 ms bound,
    /// fitted to four stages, lets the oracle attain 98.3 %, and 27 ms, 99.9 %.
    pub fn queueing_note(&self) -> Option<String> {
        let bound = self.balancer.vm_queue_wait_ms?;
        let stages = self.stages.len();
        let path_ms: f64 = self.stages.iter().map(|s| s.vm_service_ms.quantile(0.5)).sum::<f64>()
            + self.vm_vm_transfers_ms();
        let slo = self.slo.latency_ms;
        let room = slo - path_ms;
        if room <= 0.0 {
            return Some(format!(
                "the stages' median VM service and transfer times add up to {path_ms:.0} ms, over the \
                 {slo} ms SLO: a request that runs every stage on VMs is late even without queueing"
            ));
        }
        let worst = path_ms + stages as f64 * bound;
        (worst > slo).then(|| {
            format!(
                "balancer.vm_queue_wait_ms lets a request queue {bound} ms on VMs at each of its {stages} \
                 stages: with their median service and transfer times that is {worst:.0} ms, over the {slo} ms \
                 SLO, so policies that run VMs near capacity (the oracle, calibrated rules) may miss the \
                 target; a bound of at most {:.0} ms fits",
                (room / stages as f64).floor()
            )
        })
    }

    /// The parts of the serving system in which `self` and `other` differ: stages, VMs, functions,
    /// network, balancer, SLO, control interval and exit behaviour. Name, description, workload,
    /// nominal rate, horizon and reward are left out: they change what runs and how it is scored,
    /// not how a given policy acts, so a calibration or a policy made for one system holds across
    /// them (a held-out trace is the same system under other traffic).
    pub fn system_differences(&self, other: &ScenarioConfig) -> Vec<&'static str> {
        let parts = [
            ("stages", self.stages == other.stages),
            ("vm", self.vm == other.vm),
            ("faas", self.faas == other.faas),
            ("network", self.network == other.network),
            ("balancer", self.balancer == other.balancer),
            ("slo", self.slo == other.slo),
            ("control_interval_s", self.control_interval_s == other.control_interval_s),
            ("exit_drift", self.exit_drift == other.exit_drift),
            ("size_exit", self.size_exit == other.size_exit),
        ];
        parts.into_iter().filter(|(_, same)| !same).map(|(part, _)| part).collect()
    }

    /// Replaces the workload with `traces` (paths as given): each rescaled to
    /// `nominal_mean_rate_rps` when the scenario declares one and `rate_scale` is None, else
    /// multiplied by `rate_scale` (1 when None), with time stretched by `time_scale`. Several traces
    /// become a mixture (one drawn per episode at a random offset); `random_offset` makes a single
    /// trace start at a random offset too.
    pub fn use_traces(
        &mut self,
        traces: &[String],
        rate_scale: Option<f64>,
        time_scale: f64,
        random_offset: bool,
    ) {
        let mean_rate = if rate_scale.is_none() { self.nominal_mean_rate_rps } else { None };
        let one = |path: &str| {
            let mut w = WorkloadConfig::trace(path, rate_scale.unwrap_or(1.0), mean_rate, time_scale);
            if let WorkloadConfig::Trace { random_offset: r, .. } = &mut w {
                *r = random_offset;
            }
            w
        };
        self.workload = match traces {
            [single] => one(single),
            _ => WorkloadConfig::Mixture {
                components: traces
                    .iter()
                    .map(|t| crate::workload::MixtureComponent { weight: 1.0, workload: one(t) })
                    .collect(),
                rate_scale: (1.0, 1.0),
                time_scale: (1.0, 1.0),
            },
        };
    }
}

/// A validated scenario with its workload loaded; cheap to share between environments.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The configuration as written (and validated).
    pub config: ScenarioConfig,
    /// Where the configuration came from (`builtin:default` or a path), for messages.
    pub source: String,
    /// The workload, traces read and parsed.
    pub workload: Arc<LoadedWorkload>,
}

/// Seconds rounded to the millisecond for a message (a trace squeezed by a tiny `time_scale`
/// would otherwise print hundreds of digits).
fn to_the_millisecond(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The trace files a workload replays, for a message: `trace a.txt` or `the shortest of traces a.txt, b.csv`.
fn trace_names(workload: &WorkloadConfig) -> String {
    match workload.trace_paths().as_slice() {
        [one] => format!("trace {one}"),
        many => format!("the shortest of traces {}", many.join(", ")),
    }
}

/// The longest whole number of `interval_s` intervals within `available_s` seconds.
fn whole_intervals(available_s: f64, interval_s: f64) -> f64 {
    (available_s / interval_s + 1e-9).floor() * interval_s
}

/// How long an episode lasts when the scenario is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Horizon {
    /// `horizon_s` as configured.
    AsConfigured,
    /// For trace workloads: the whole trace after `start_s`, rounded down to whole intervals.
    WholeTrace,
}

impl Scenario {
    /// A built-in scenario by name, or a RON file by path, as configured.
    pub fn load(name_or_path: &str) -> Result<Self, ScenarioError> {
        let (config, source, base) = load_config(name_or_path)?;
        Self::from_config(config, &source, &base, Horizon::AsConfigured)
    }

    /// Where this scenario's system differs from the built-in scenario of its name: `None` when no
    /// built-in has its name, else the parts that differ ([`ScenarioConfig::system_differences`];
    /// empty for the built-in itself, or a copy of it under other traffic). What serflow ships for a
    /// built-in (a calibration, a learned policy) was made for the built-in's system, so a copy of
    /// `default.ron` with another VM price, keeping the name, must not pass for it.
    pub fn differences_from_builtin(&self) -> Option<Vec<&'static str>> {
        let (name, text) = builtin::BUILTINS.iter().find(|(n, _)| *n == self.config.name)?;
        let builtin = builtin::parse(&format!("builtin:{name}"), text).expect("built-in scenarios parse");
        Some(builtin.system_differences(&self.config))
    }

    /// Validates a configuration and loads its workload; relative trace paths resolve against `base`.
    pub fn from_config(
        mut config: ScenarioConfig,
        source: &str,
        base: &Path,
        horizon: Horizon,
    ) -> Result<Self, ScenarioError> {
        let c = Checker { source };
        config.workload.validate(&c)?;
        let workload = LoadedWorkload::load(&config.workload, &c, base)?;
        if let (Horizon::WholeTrace, Some(available)) = (horizon, workload.available_s()) {
            let interval = config.control_interval_s;
            if interval > 0.0 && interval.is_finite() {
                config.horizon_s = whole_intervals(available, interval);
                c.ensure(config.horizon_s > 0.0, "workload", || {
                    format!(
                        "{} covers {} s (after start_s and time_scale), less than one \
                         control interval ({interval} s): nothing to replay",
                        trace_names(&config.workload),
                        to_the_millisecond(available)
                    )
                })?;
            }
        }
        validate::validate(&config, &c)?;
        crate::limits::check(&config, &workload, &c)?;
        if let Some(available) = workload.available_s() {
            c.ensure(config.horizon_s <= available + 1e-9, "horizon_s", || {
                format!(
                    "{} s exceeds the {} s {} covers (after start_s and time_scale)",
                    config.horizon_s,
                    to_the_millisecond(available),
                    trace_names(&config.workload)
                )
            })?;
        }
        Ok(Self { config, source: source.to_string(), workload: Arc::new(workload) })
    }

    /// The components of a mixture workload, each as a scenario of its own replaying it alone (no
    /// per-episode multipliers, offsets or phases; the horizon shortened to what a trace covers), and
    /// named by its trace file's stem or its kind: how a policy fares per workload. Empty when the
    /// workload is not a mixture.
    pub fn mixture_components(&self) -> Vec<(String, Arc<Scenario>)> {
        let (LoadedWorkload::Mixture(loaded), WorkloadConfig::Mixture { components, .. }) =
            (&*self.workload, &self.config.workload)
        else {
            return Vec::new();
        };
        let mut named: Vec<(String, Arc<Scenario>)> = Vec::new();
        for ((_, workload), component) in loaded.components.iter().zip(components) {
            let kind = component.workload.kind();
            let repeats =
                named.iter().filter(|(n, _)| n == &kind || n.starts_with(&format!("{kind}#"))).count();
            let name = if repeats == 0 { kind } else { format!("{kind}#{}", repeats + 1) };
            let mut config = self.config.clone();
            config.workload = component.workload.clone();
            if let Some(available) = workload.available_s() {
                config.horizon_s =
                    config.horizon_s.min(whole_intervals(available, config.control_interval_s));
            }
            let scenario = Scenario {
                config,
                source: format!("{} ({name})", self.source),
                workload: Arc::new(workload.clone()),
            };
            named.push((name, Arc::new(scenario)));
        }
        named
    }

    /// Requests a single-trace workload holds (0 otherwise), for throughput figures.
    pub fn workload_requests(&self) -> u64 {
        match &*self.workload {
            crate::workload::LoadedWorkload::Trace(plan) => plan.data.total_requests(),
            _ => 0,
        }
    }

    /// What a user should know about this system before trusting figures on it, as one line
    /// naming the file ([`ScenarioConfig::queueing_note`]).
    pub fn note(&self) -> Option<String> {
        self.config.queueing_note().map(|note| format!("note: {}: {note}", self.source))
    }

    /// Number of stages.
    pub fn n_stages(&self) -> usize {
        self.config.stages.len()
    }

    /// Control decisions per episode.
    pub fn steps_per_episode(&self) -> usize {
        (self.config.horizon_s / self.config.control_interval_s).round() as usize
    }

    /// FaaS service-time distribution of stage `k` (explicit, or the VM one slowed down).
    pub fn faas_service_ms(&self, k: usize) -> Dist {
        let stage = &self.config.stages[k];
        stage.faas_service_ms.clone().unwrap_or_else(|| stage.vm_service_ms.scaled(self.config.faas.slowdown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_validates() {
        for (name, _) in BUILTINS {
            match Scenario::load(name) {
                Ok(s) => assert!(s.steps_per_episode() > 0),
                // A trace outside the repository that this machine lacks: the error says how to fix it.
                Err(e) if e.reason.contains("cannot read trace") => {
                    assert!(e.reason.contains(TRACES_ENV), "{e}")
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn default_config() -> ScenarioConfig {
        parse("t", BUILTINS[0].1).unwrap()
    }

    #[test]
    fn a_balancer_bound_that_many_stages_add_past_the_slo_is_noted() {
        for (name, text) in BUILTINS {
            let builtin = parse(name, text).unwrap();
            assert_eq!(builtin.queueing_note(), None, "{name}");
        }
        // default cut into eight stages of its first: 8 x 50 ms of queueing no longer fits 300 ms.
        let mut eight = default_config();
        eight.stages = vec![eight.stages[0].clone(); 8];
        let note = eight.queueing_note().expect("eight stages at 50 ms each");
        let path_ms = 8.0 * eight.stages[0].vm_service_ms.quantile(0.5) + eight.vm_vm_transfers_ms();
        let fits = ((300.0 - path_ms) / 8.0).floor();
        assert!(
            note.contains("each of its 8 stages") && note.contains(&format!("at most {fits} ms fits")),
            "{note}"
        );
        eight.balancer.vm_queue_wait_ms = Some(fits);
        assert_eq!(eight.queueing_note(), None, "the bound it suggests fits");
        eight.balancer.vm_queue_wait_ms = None;
        assert_eq!(eight.queueing_note(), None, "an unbounded queue is LIBRA's model, not a bound to fit");
        // Stages whose median service alone takes the SLO are late however short the queue.
        eight.balancer.vm_queue_wait_ms = Some(1.0);
        eight.slo.latency_ms = path_ms * 0.9;
        assert!(eight.queueing_note().unwrap().contains("late even without queueing"));
    }

    fn err_of(mutate: impl FnOnce(&mut ScenarioConfig)) -> ScenarioError {
        let mut cfg = default_config();
        mutate(&mut cfg);
        Scenario::from_config(cfg, "t.ron", Path::new("."), Horizon::AsConfigured).unwrap_err()
    }

    #[test]
    fn mixture_components_replay_alone_under_their_names() {
        use crate::workload::{MixtureComponent, RateFn};
        let mut cfg = default_config();
        let poisson = |rate| WorkloadConfig::Poisson { rate, bursts: None };
        let diurnal = |mean| RateFn::Diurnal { mean, amplitude: 0.5, period_s: 600.0, phase_s: 0.0 };
        let components =
            vec![poisson(diurnal(100.0)), poisson(RateFn::Constant(50.0)), poisson(diurnal(80.0))];
        cfg.workload = WorkloadConfig::Mixture {
            components: components
                .iter()
                .map(|w| MixtureComponent { weight: 1.0, workload: w.clone() })
                .collect(),
            rate_scale: (0.5, 2.0),
            time_scale: (1.0, 1.0),
        };
        let mixture = Scenario::from_config(cfg, "m.ron", Path::new("."), Horizon::AsConfigured).unwrap();
        let parts = mixture.mixture_components();
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["diurnal", "constant", "diurnal#2"]);
        for (((_, part), written), mean) in parts.iter().zip(&components).zip([100.0, 50.0, 80.0]) {
            assert_eq!(&part.config.workload, written);
            assert!((part.workload.mean_rate(3600.0) - mean).abs() < 1e-9, "no multiplier drawn");
        }
        assert!(parts[0].1.mixture_components().is_empty());
    }

    #[test]
    fn validation_names_field_and_reason() {
        let e = err_of(|c| c.stages[3].exit_probability = 0.5);
        assert_eq!(e.field, "stages[3].exit_probability");
        assert!(e.reason.contains("last stage"), "{e}");
        assert_eq!(err_of(|c| c.stages[0].exit_probability = 1.5).field, "stages[0].exit_probability");
        assert_eq!(err_of(|c| c.vm.price_per_hour = -1.0).field, "vm.price_per_hour");
        assert_eq!(err_of(|c| c.vm.slots = 0).field, "vm.slots");
        assert_eq!(err_of(|c| c.horizon_s = 105.0).field, "horizon_s");
        assert_eq!(err_of(|c| c.faas.concurrency_limit = 0).field, "faas.concurrency_limit");
        assert_eq!(err_of(|c| c.stages.clear()).field, "stages");
        assert_eq!(err_of(|c| c.slo.attainment_target = f64::NAN).field, "slo.attainment_target");
    }

    #[test]
    fn sizes_past_the_limits_are_refused_before_any_work() {
        let e = err_of(|c| {
            c.vm.initial_per_stage = 4_000_000_000;
            c.vm.max_per_stage = 4_000_000_000;
        });
        assert_eq!(e.field, "vm.max_per_stage", "{e}");
        assert_eq!(err_of(|c| c.horizon_s = 1e12).field, "horizon_s");
        assert_eq!(err_of(|c| c.faas.concurrency_limit = u32::MAX).field, "faas.concurrency_limit");
        let e = err_of(|c| {
            c.workload =
                WorkloadConfig::Poisson { rate: crate::workload::RateFn::Constant(1e9), bursts: None }
        });
        assert_eq!(e.field, "workload.rate", "{e}");
        let e = err_of(|c| {
            c.workload =
                WorkloadConfig::Poisson { rate: crate::workload::RateFn::Constant(1e6), bursts: None }
        });
        assert_eq!(e.field, "horizon_s", "an hour at a million a second is 3.6e9 arrivals: {e}");
        assert!(e.reason.contains("limit"), "{e}");
    }

    #[test]
    fn builtin_traces_resolve_outside_the_working_directory() {
        let (_, _, base) = load_config("libra-wits").unwrap();
        assert!(base.is_absolute() || std::env::var_os(TRACES_ENV).is_some(), "{}", base.display());
    }

    #[test]
    fn unknown_fields_are_rejected_with_a_position() {
        let text = BUILTINS[0].1.replacen("horizon_s:", "horizon_seconds:", 1);
        let e = parse("x.ron", &text).unwrap_err();
        assert!(e.reason.contains("horizon_seconds"), "{e}");
        assert!(e.field.starts_with("line "), "{e}");
    }
}
