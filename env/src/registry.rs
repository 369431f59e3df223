//! Policies by name for one scenario: the baselines and the shipped learned policies, so every command
//! offers the same set. The scenario's offline profile (what the heuristics size VMs from) is
//! computed once per registry, not once per policy and seed.

use crate::ScenarioError;
use crate::comparison::{StageArrivals, steps_per_interval};
use crate::profile::{pool_capacity, profile};
use crate::scenario::Scenario;
use serflow_policies::baselines::{
    FaasOnly, Hpa, HpaConfig, Libra, Oracle, PoolCapacity, Serflow, StaticAllocation,
};
use serflow_policies::calibration::{Calibrated, Calibration};
use serflow_policies::learned::FORMAT_VERSION;
use serflow_policies::mlp::Mlp;
use serflow_policies::planner::{GateConfig, PLANNER_FORMAT_VERSION, SeasonalConfig};
use serflow_policies::schema::{SCHEMA_VERSION, feature_names};
use serflow_policies::{
    ActionSet, ForecastPlanner, ForecastPlannerFile, LearnedPolicyFile, Policy, SystemProfile, TrainedPolicy,
};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Names [`PolicyRegistry::build`] accepts, with one line each.
pub const POLICIES: [(&str, &str); 10] = [
    ("faas-only", "every request to FaaS"),
    ("vm-only", "HPA-like: VMs at 60 % target utilisation, stabilised scale-in"),
    ("libra", "LIBRA (IC2E 2021): EWMA mean+std, 300 s updates, 80 % quota to VMs, exits ignored"),
    ("serflow", "SERFLOW heuristic with its published defaults: per-stage S-CIP/T-CIP, FaaS for bursts"),
    ("static-best", "the cheapest fixed allocation meeting the target on training seeds (serflow tune)"),
    ("tuned-hpa", "target tracking with FaaS overflow, calibrated on training seeds (serflow tune)"),
    (
        "predictive-hpa",
        "tuned-hpa scaling out on a trend forecast about one VM boot ahead, calibrated (serflow tune)",
    ),
    ("serflow-tuned", "SERFLOW heuristic, transfer-aware, calibrated on training seeds (serflow tune)"),
    ("oracle", "knows every future arrival: plans VMs by dynamic programming, launches a p95 boot ahead"),
    (
        "learned",
        "the policy shipped for the scenario: PPO's on default, the learned-forecast planner on production",
    ),
];

/// The policies that need a calibration (`serflow tune`).
pub const CALIBRATED: [&str; 4] = ["static-best", "tuned-hpa", "predictive-hpa", "serflow-tuned"];

/// A file shipped in the repository and compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct ShippedFile {
    /// The scenario it belongs to.
    pub scenario: &'static str,
    /// Its path in the repository.
    pub path: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The shipped PPO policies (exported actors), each reproduced by `serflow train` on its
/// scenario's embedded config; `learned` resolves to one where no planner is shipped for the
/// scenario, on a scenario without its own to the first.
pub const SHIPPED: [ShippedFile; 2] = [
    ShippedFile {
        scenario: "default",
        path: "checkpoints/default/policy.ron",
        text: include_str!("../../checkpoints/default/policy.ron"),
    },
    ShippedFile {
        scenario: "production",
        path: "checkpoints/production/policy.ron",
        text: include_str!("../../checkpoints/production/policy.ron"),
    },
];

/// The shipped learned-forecast planners, which `learned` resolves to on their scenario (the main
/// job fits each).
pub const SHIPPED_PLANNERS: [ShippedFile; 1] = [ShippedFile {
    scenario: "production",
    path: "checkpoints/production/planner.ron",
    text: include_str!("../../checkpoints/production/planner.ron"),
}];

/// The shipped calibrations (`serflow tune --scenario NAME` reproduces each).
pub const SHIPPED_CALIBRATIONS: [ShippedFile; 2] = [
    ShippedFile {
        scenario: "default",
        path: "checkpoints/default/baselines.ron",
        text: include_str!("../../checkpoints/default/baselines.ron"),
    },
    ShippedFile {
        scenario: "production",
        path: "checkpoints/production/baselines.ron",
        text: include_str!("../../checkpoints/production/baselines.ron"),
    },
];

/// The shipped policy `learned` resolves to on a scenario named `scenario`.
pub fn shipped_for(scenario: &str) -> &'static ShippedFile {
    let mine = |p: &&ShippedFile| p.scenario == scenario;
    SHIPPED_PLANNERS.iter().find(mine).or_else(|| SHIPPED.iter().find(mine)).unwrap_or(&SHIPPED[0])
}

/// Builds policies by name for one scenario.
pub struct PolicyRegistry<'a> {
    scenario: &'a Arc<Scenario>,
    profile: SystemProfile,
    /// The calibration of the rule-based baselines, if any.
    calibration: Option<Calibration>,
    /// What n VMs of each stage serve within the SLO, measured when the oracle is first built.
    pools: OnceLock<PoolCapacity>,
    /// The parts of the built-in system of the scenario's name that it changes (empty for that
    /// system, or when no built-in has its name): what serflow ships for the name is not for it.
    changed: Vec<&'static str>,
}

impl<'a> PolicyRegistry<'a> {
    /// The registry of `scenario` (profiles it once), with the shipped calibration of a scenario of
    /// that name when there is one.
    pub fn new(scenario: &'a Arc<Scenario>) -> Self {
        let changed = scenario.differences_from_builtin().unwrap_or_default();
        let shipped = SHIPPED_CALIBRATIONS.iter().find(|c| c.scenario == scenario.config.name);
        let shipped = shipped.filter(|_| changed.is_empty());
        let calibration = shipped.and_then(|file| {
            let calibration = Calibration::parse(file.text).ok()?;
            (calibration.n_stages == scenario.n_stages()).then_some(calibration)
        });
        Self { scenario, profile: profile(scenario), calibration, pools: OnceLock::new(), changed }
    }

    /// Uses the calibration file `path` (written by `serflow tune`) instead of a shipped one.
    pub fn with_calibration(mut self, path: &Path) -> Result<Self, ScenarioError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&source, "", format!("cannot read: {e}")))?;
        let calibration = Calibration::parse(&text).map_err(|e| ScenarioError::new(&source, "", e))?;
        if calibration.n_stages != self.scenario.n_stages() {
            return Err(ScenarioError::new(
                &source,
                "n_stages",
                format!(
                    "calibrated for {} stages ({}), scenario {} has {}",
                    calibration.n_stages,
                    calibration.scenario,
                    self.scenario.config.name,
                    self.scenario.n_stages()
                ),
            ));
        }
        self.calibration = Some(calibration);
        Ok(self)
    }

    /// The scenario's offline profile.
    pub fn profile(&self) -> &SystemProfile {
        &self.profile
    }

    /// The calibration in use, if any.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// What `compare` runs when not told: the published baselines, the calibrated ones when a
    /// calibration is at hand, the oracle, and the learned policy when a shipped one controls this
    /// scenario's stages.
    pub fn default_policies(&self) -> Vec<String> {
        let mut names = vec!["faas-only", "vm-only", "libra", "serflow"];
        if self.calibration.is_some() {
            names.extend(CALIBRATED);
        }
        names.push("oracle");
        if shipped_learned(self.scenario).is_ok() {
            names.push("learned");
        }
        names.into_iter().map(String::from).collect()
    }

    /// Checks that `name` can be built here (the oracle too), before any work.
    pub fn check(&self, name: &str) -> Result<(), ScenarioError> {
        if name == "oracle" { Ok(()) } else { self.build(name).map(drop) }
    }

    /// Checks every one of `names` as [`Self::check`] does, and that none is listed twice (its rows
    /// would only repeat).
    pub fn check_all<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Result<(), ScenarioError> {
        let mut seen = Vec::new();
        for name in names {
            if seen.contains(&name) {
                return Err(ScenarioError::new(name, "", "listed twice"));
            }
            self.check(name)?;
            seen.push(name);
        }
        Ok(())
    }

    /// What a user should know before trusting `name`'s figures here: `learned` on a scenario
    /// without a shipped policy of its own runs one trained on another system, and a planner file
    /// plans with the prices and capacities of the system it was fitted for.
    pub fn caveat(&self, name: &str) -> Option<String> {
        if crate::names_a_file(name) {
            return self.planner_caveat(name);
        }
        if name != "learned" {
            return None;
        }
        let shipped = shipped_for(&self.scenario.config.name);
        let advice = "train one with `serflow train --scenario ...` and pass its runs/<run>/policy.ron";
        if shipped.scenario != self.scenario.config.name {
            return Some(format!(
                "note: `learned` is the policy shipped for scenario `{}` ({}); scenario `{}` was never \
                 trained on and may miss the SLO under it: {advice}",
                shipped.scenario, shipped.path, self.scenario.config.name
            ));
        }
        let changed = self.changed_parts()?;
        Some(format!(
            "note: `learned` is the policy shipped for the built-in `{}` ({}); {changed}, a system it was \
             never trained on, and may miss the SLO under it: {advice}",
            shipped.scenario, shipped.path,
        ))
    }

    /// Where the planner file `path` was fitted for another system than the scenario's.
    fn planner_caveat(&self, path: &str) -> Option<String> {
        let Ok(TrainedPolicy::Planner(planner)) = TrainedPolicy::load(path) else {
            return None;
        };
        let differences = planner.file().profile.differences(&self.profile);
        let shown = differences.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        let more = match differences.len() {
            0 => return None,
            1..=3 => String::new(),
            n => format!(" and {} more", n - 3),
        };
        Some(format!(
            "note: {path} plans with the figures of the system it was fitted for, not scenario `{}`'s \
             (the file's against the scenario's: {shown}{more}); fit one for it with `serflow \
             fit-planner --scenario ...`",
            self.scenario.config.name
        ))
    }

    /// `FILE changes its vm, slo` when the scenario changes the built-in system of its name.
    fn changed_parts(&self) -> Option<String> {
        let parts = self.changed.join(", ");
        (!self.changed.is_empty()).then(|| format!("{} changes its {parts}", self.scenario.source))
    }

    /// The policy `name` for one episode whose stage arrivals are `arrivals` (from
    /// [`crate::comparison::stage_arrivals`]): the oracle plans with them, any other policy is
    /// [`Self::build`].
    pub fn build_for_episode(
        &self,
        name: &str,
        arrivals: &StageArrivals,
    ) -> Result<Box<dyn Policy>, ScenarioError> {
        if name == "oracle" {
            let pools = self.pools.get_or_init(|| pool_capacity(self.scenario, &self.profile));
            let oracle = Oracle::new(&self.profile, pools, &arrivals.per_step, arrivals.steps_per_interval);
            return Ok(Box::new(oracle));
        }
        self.build(name)
    }

    /// The policy `name`: a built-in, or a learned-policy file (anything ending `.ron` or containing
    /// `/`), configured for the scenario. The oracle needs its episode: see [`Self::build_for_episode`].
    pub fn build(&self, name: &str) -> Result<Box<dyn Policy>, ScenarioError> {
        if crate::names_a_file(name) {
            return load_learned(name, self.scenario).map(TrainedPolicy::into_policy);
        }
        let profile = || self.profile.clone();
        Ok(match name {
            "faas-only" => Box::new(FaasOnly),
            "vm-only" => Box::new(Hpa::new("vm-only", profile(), HpaConfig::vm_only())),
            "libra" => Box::new(Libra::new(profile(), Default::default())),
            "serflow" => Box::new(Serflow::new("serflow", profile(), Default::default())),
            "static-best" => self.calibrated(
                name,
                |c| &c.static_best.0,
                |stages| Box::new(StaticAllocation::new(profile(), stages.clone())),
            )?,
            "tuned-hpa" => self.calibrated(
                name,
                |c| &c.tuned_hpa.0,
                |config| Box::new(Hpa::new("tuned-hpa", profile(), config.clone())),
            )?,
            "predictive-hpa" => self.calibrated(
                name,
                |c| &c.predictive_hpa.0,
                |config| Box::new(Hpa::new("predictive-hpa", profile(), config.clone())),
            )?,
            "serflow-tuned" => self.calibrated(
                name,
                |c| &c.serflow_tuned.0,
                |config| Box::new(Serflow::new("serflow-tuned", profile(), config.clone())),
            )?,
            "oracle" => {
                return Err(ScenarioError::new(
                    name,
                    "",
                    "the oracle plans with one episode's future arrivals: build it with build_for_episode",
                ));
            }
            "learned" => shipped_learned(self.scenario)?.into_policy(),
            _ => {
                let known: Vec<&str> = POLICIES.iter().map(|p| p.0).collect();
                let (source, what) =
                    if name.is_empty() { ("policy", "the name is empty") } else { (name, "unknown policy") };
                return Err(ScenarioError::new(
                    source,
                    "",
                    format!("{what}; known: {}, or a policy file (.ron)", known.join(", ")),
                ));
            }
        })
    }

    /// A calibrated baseline: the rule `entry` picks from the calibration, or its fallback.
    fn calibrated<T>(
        &self,
        name: &str,
        entry: impl Fn(&Calibration) -> &Calibrated<T>,
        rule: impl Fn(&T) -> Box<dyn Policy>,
    ) -> Result<Box<dyn Policy>, ScenarioError> {
        let Some(calibration) = &self.calibration else {
            let why = self.changed_parts().map_or(String::new(), |changed| {
                format!(" (the shipped one is for the built-in `{}`; {changed})", self.scenario.config.name)
            });
            return Err(ScenarioError::new(
                name,
                "",
                format!(
                    "no calibration for scenario {}{why}: run `serflow tune --scenario {}` and pass its file with --calibration",
                    self.scenario.config.name,
                    self.scenario.source.trim_start_matches("builtin:")
                ),
            ));
        };
        Ok(match entry(calibration) {
            Calibrated::Rule(config) => rule(config),
            Calibrated::FaasOnly => Box::new(FaasOnly),
            Calibrated::VmOnly => Box::new(Hpa::new("vm-only", self.profile.clone(), HpaConfig::vm_only())),
        })
    }
}

/// How the shipped learned-forecast planner plans, besides its forecaster.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannerSettings {
    /// Intervals planned ahead.
    pub lookahead: usize,
    /// Forecasts are multiplied by this before planning.
    pub margin: f64,
    /// `(window, threshold, hold)` of the noise gate to the calibrated `tuned-hpa`, if any.
    pub gate: Option<(usize, f64, usize)>,
    /// When a stage's rates count as repeating, its last period replayed; none: never.
    pub seasonal: Option<SeasonalConfig>,
}

impl<'a> PolicyRegistry<'a> {
    /// A planner file for this scenario: `forecaster` planned on as `settings` say, with the
    /// scenario's prices, boot time and pool capacities, gated to this registry's calibrated
    /// `tuned-hpa` (which must be a rule).
    pub fn planner_file(
        &self,
        forecaster: Mlp,
        settings: &PlannerSettings,
        notes: String,
    ) -> Result<ForecastPlannerFile, ScenarioError> {
        let gate = match settings.gate {
            None => None,
            Some((window, threshold, hold)) => {
                let rule = match self.calibration.as_ref().map(|c| &c.tuned_hpa.0) {
                    Some(Calibrated::Rule(rule)) => rule.clone(),
                    Some(Calibrated::VmOnly) => HpaConfig::vm_only(),
                    _ => {
                        return Err(ScenarioError::new(
                            "tuned-hpa",
                            "",
                            "the planner's gate hands noisy intervals to the calibrated tuned-hpa rule: \
                             calibrate one with `serflow tune`",
                        ));
                    }
                };
                Some(GateConfig { window, threshold, hold, fallback: rule })
            }
        };
        let pools = self.pools.get_or_init(|| pool_capacity(self.scenario, &self.profile));
        let file = ForecastPlannerFile {
            format_version: PLANNER_FORMAT_VERSION,
            profile: self.profile.clone(),
            pool_rps: pools.rps.clone(),
            cap_vm_offers: !pools.balancer_spills,
            plan_steps: steps_per_interval(self.scenario.config.control_interval_s),
            lookahead: settings.lookahead,
            margin: settings.margin,
            forecaster,
            gate,
            seasonal: settings.seasonal.clone(),
            notes,
        };
        ForecastPlanner::new(file.clone()).map_err(|e| ScenarioError::new("planner", "", e))?;
        Ok(file)
    }
}

/// A policy file for an actor trained on `scenario`'s serving environment: `actor` over observations
/// normalised as `clip((obs - obs_mean) / obs_std, ±obs_clip)`, choosing from `action_set`; the
/// versions, feature names and VM maxima come from this build and the scenario.
pub fn learned_policy_file(
    scenario: &Scenario,
    actor: Mlp,
    (obs_mean, obs_std, obs_clip): (Vec<f32>, Vec<f32>, f32),
    action_set: ActionSet,
    frame_stack: usize,
    notes: String,
) -> LearnedPolicyFile {
    let n_stages = scenario.n_stages();
    LearnedPolicyFile {
        format_version: FORMAT_VERSION,
        schema_version: SCHEMA_VERSION,
        n_stages,
        feature_names: feature_names(n_stages),
        obs_mean,
        obs_std,
        obs_clip,
        action_set,
        max_vms: vec![scenario.config.vm.max_per_stage; n_stages],
        actor,
        frame_stack,
        notes,
    }
}

/// The shipped learned policy for `scenario` (see [`shipped_for`]), checked against its stages.
pub fn shipped_learned(scenario: &Scenario) -> Result<TrainedPolicy, ScenarioError> {
    let shipped = shipped_for(&scenario.config.name);
    let policy = TrainedPolicy::parse(shipped.text, shipped.path)
        .map_err(|e| ScenarioError::new(&e.path, "", e.reason))?;
    check_stages(policy, shipped.path, scenario)
}

/// Loads a policy file of either kind (an exported actor or a planner) and checks it controls
/// `scenario`'s stages.
pub fn load_learned(path: &str, scenario: &Scenario) -> Result<TrainedPolicy, ScenarioError> {
    let policy = TrainedPolicy::load(path).map_err(|e| ScenarioError::new(&e.path, "", e.reason))?;
    check_stages(policy, path, scenario)
}

fn check_stages(
    policy: TrainedPolicy,
    path: &str,
    scenario: &Scenario,
) -> Result<TrainedPolicy, ScenarioError> {
    let n_stages = policy.n_stages();
    if n_stages != scenario.n_stages() {
        return Err(ScenarioError::new(
            path,
            "n_stages",
            format!(
                "the policy controls {} stages, scenario {} has {}",
                n_stages,
                scenario.config.name,
                scenario.n_stages()
            ),
        ));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Horizon;

    #[test]
    fn learned_resolves_to_each_scenarios_own_shipped_policy() {
        use serflow_policies::Learned;
        assert_eq!(shipped_for("default").path, SHIPPED[0].path);
        for shipped in &SHIPPED {
            assert!(matches!(TrainedPolicy::parse(shipped.text, shipped.path), Ok(TrainedPolicy::Actor(_))));
        }
        for shipped in &SHIPPED_PLANNERS {
            assert_eq!(shipped_for(shipped.scenario).path, shipped.path, "a planner before an actor");
            let planner = TrainedPolicy::parse(shipped.text, shipped.path);
            assert!(matches!(planner, Ok(TrainedPolicy::Planner(_))), "{}", shipped.path);
        }
        assert_eq!(shipped_for("my-scenario").path, SHIPPED[0].path, "others fall back to the first");
        let mut config = Scenario::load("default").unwrap().config.clone();
        config.name = "my-scenario".into();
        let mine = Arc::new(
            Scenario::from_config(config, "mine.ron", Path::new("."), Horizon::AsConfigured).unwrap(),
        );
        let note = PolicyRegistry::new(&mine).caveat("learned").unwrap();
        assert!(
            note.contains("`default` (checkpoints/default/policy.ron)") && note.contains("`my-scenario`"),
            "{note}"
        );
        assert_eq!(PolicyRegistry::new(&mine).caveat("tuned-hpa"), None);
        let default = Arc::new(Scenario::load("default").unwrap());
        assert_eq!(PolicyRegistry::new(&default).caveat("learned"), None, "its own policy");
        let production = SHIPPED.iter().find(|s| s.scenario == "production").unwrap();
        let production = Learned::parse(production.text, production.path).unwrap();
        let actions = &production.file().action_set;
        assert!(actions.is_need_relative(), "the production PPO policy sets VM targets");
        assert!(
            actions.vm_need_leads.contains(&0.0) && actions.vm_need_leads.len() == 2,
            "on a forecast need or the measured one"
        );
    }

    /// A planner file plans with the figures of the system it was fitted for: on another system
    /// the note names the figures that differ; on its own, or for an actor (which carries no
    /// figures), there is nothing to say.
    #[test]
    fn a_planner_file_on_another_system_names_the_figures_it_plans_with() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../checkpoints/production/planner.ron");
        let default = Arc::new(Scenario::load("default").unwrap());
        let registry = PolicyRegistry::new(&default);
        let note = registry.caveat(shipped).unwrap();
        assert!(
            note.contains("not scenario `default`'s")
                && note.contains("stages[0].transfer_cost_per_request 6.0000e-6 against 0.0000e0"),
            "{note}"
        );
        let Ok(TrainedPolicy::Planner(planner)) = TrainedPolicy::load(shipped) else { panic!("a planner") };
        let mut refitted = planner.file().clone();
        refitted.profile = registry.profile().clone();
        let path = std::env::temp_dir().join(format!("serflow-refitted-{}.ron", std::process::id()));
        std::fs::write(&path, refitted.to_ron()).unwrap();
        assert_eq!(registry.caveat(path.to_str().unwrap()), None, "fitted for this system");
        std::fs::remove_file(&path).unwrap();
        let actor = concat!(env!("CARGO_MANIFEST_DIR"), "/../checkpoints/production/policy.ron");
        assert_eq!(registry.caveat(actor), None);
    }

    /// A copy of `default` keeping its name but changing its system is not the system the shipped
    /// calibration and policy were made for: no calibrated rule, and a caveat on `learned`, both
    /// naming what changed. Other traffic, horizon or reward is the same system.
    #[test]
    fn shipped_files_apply_only_to_the_system_they_were_made_for() {
        let copy = |edit: &dyn Fn(&mut crate::ScenarioConfig)| {
            let mut config = Scenario::load("default").unwrap().config.clone();
            edit(&mut config);
            Arc::new(
                Scenario::from_config(config, "mine.ron", Path::new("."), Horizon::AsConfigured).unwrap(),
            )
        };
        let same = copy(&|c| {
            c.description = "mine".into();
            c.horizon_s = 600.0;
            c.reward.violation_penalty = 5.0;
            c.workload = crate::workload::WorkloadConfig::Poisson {
                rate: crate::workload::RateFn::Constant(40.0),
                bursts: None,
            };
        });
        assert_eq!(same.differences_from_builtin(), Some(vec![]));
        let registry = PolicyRegistry::new(&same);
        assert!(registry.calibration().is_some() && registry.caveat("learned").is_none());
        assert!(registry.default_policies().contains(&"tuned-hpa".to_string()));

        let changed = copy(&|c| {
            c.vm.price_per_hour *= 2.0;
            c.slo.latency_ms = 500.0;
        });
        assert_eq!(changed.differences_from_builtin(), Some(vec!["vm", "slo"]));
        let registry = PolicyRegistry::new(&changed);
        assert!(registry.calibration().is_none());
        assert!(!registry.default_policies().iter().any(|p| CALIBRATED.contains(&p.as_str())));
        let err = registry.build("tuned-hpa").err().unwrap().to_string();
        assert!(
            err.contains("the shipped one is for the built-in `default`; mine.ron changes its vm, slo"),
            "{err}"
        );
        let note = registry.caveat("learned").unwrap();
        assert!(
            note.contains("built-in `default`") && note.contains("mine.ron changes its vm, slo"),
            "{note}"
        );
        let held_out = crate::ScenarioOptions {
            traces: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/azure_llm_conv_2023.csv").into()],
            duration: Some(600.0),
            ..crate::ScenarioOptions::named("production")
        };
        let held_out = held_out.load(&str::to_string).unwrap();
        assert_eq!(held_out.differences_from_builtin(), Some(vec![]), "a held-out trace is the same system");
        assert!(PolicyRegistry::new(&held_out).calibration().is_some());
        let mut other = Scenario::load("default").unwrap().config.clone();
        other.name = "mine".into();
        let other = Scenario::from_config(other, "mine.ron", Path::new("."), Horizon::AsConfigured).unwrap();
        assert_eq!(other.differences_from_builtin(), None, "no built-in of that name");
    }

    /// A planner file carries the scenario's prices and pools and its calibrated tuned-hpa rule;
    /// without a calibration its gate has no rule to hand to.
    #[test]
    fn a_planner_file_is_made_for_its_scenario_and_gated_to_its_calibrated_rule() {
        let default = Arc::new(Scenario::load("default").unwrap());
        let registry = PolicyRegistry::new(&default);
        let seasonal = Some(SeasonalConfig::default());
        let settings = PlannerSettings { lookahead: 20, margin: 1.2, gate: Some((12, 0.5, 1)), seasonal };
        let forecaster = Mlp::zeros(&[4, 3, 2]);
        let file = registry.planner_file(forecaster.clone(), &settings, "test".into()).unwrap();
        assert_eq!(file.profile, *registry.profile());
        assert_eq!(file.pool_rps.len(), default.n_stages());
        assert_eq!(file.plan_steps, 10, "one-second steps in 10 s intervals");
        let Some(Calibrated::Rule(rule)) = registry.calibration().map(|c| c.tuned_hpa.0.clone()) else {
            panic!("default's tuned-hpa is a rule")
        };
        assert_eq!(file.gate.as_ref().map(|g| &g.fallback), Some(&rule));
        assert_eq!(file.seasonal, settings.seasonal);
        let mut config = default.config.clone();
        config.vm.price_per_hour *= 2.0;
        let changed = Arc::new(
            Scenario::from_config(config, "mine.ron", Path::new("."), Horizon::AsConfigured).unwrap(),
        );
        let err = PolicyRegistry::new(&changed).planner_file(forecaster.clone(), &settings, String::new());
        assert!(err.unwrap_err().to_string().contains("serflow tune"));
        let ungated = PlannerSettings { gate: None, ..settings };
        assert!(PolicyRegistry::new(&changed).planner_file(forecaster, &ungated, String::new()).is_ok());
    }

    /// Python steps a learned policy in an environment built from its action set's options: for each
    /// shipped policy they rebuild exactly the set it decodes with.
    #[test]
    fn each_shipped_policys_action_set_is_an_environment_option_of_its_scenario() {
        for shipped in &SHIPPED {
            let scenario = Scenario::load(shipped.scenario).unwrap();
            let policy = serflow_policies::Learned::parse(shipped.text, shipped.path).unwrap();
            let set = &policy.file().action_set;
            let choices = crate::ActionChoices::of(set).unwrap();
            assert_eq!(&crate::action_set_for(&scenario, &choices).unwrap(), set, "{}", shipped.path);
        }
    }
}
