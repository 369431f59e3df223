//! Policies by name for one scenario: the baselines and the shipped learned policies, so every command
//! offers the same set. The scenario's offline profile (what the heuristics size VMs from) is
//! computed once per registry, not once per policy and seed.

use serflow_env::ScenarioError;
use serflow_env::profile::profile;
use serflow_env::scenario::Scenario;
use serflow_policies::baselines::{FaasOnly, Libra, Serflow, VmOnly};
use serflow_policies::{Learned, Policy, SystemProfile};

/// Names [`PolicyRegistry::build`] accepts, with one line each.
pub const POLICIES: [(&str, &str); 5] = [
    ("faas-only", "every request to FaaS"),
    ("vm-only", "HPA-like: VMs at 60 % target utilisation, stabilised scale-in"),
    ("libra", "LIBRA (IC2E 2021): EWMA mean+std, 300 s updates, 80 % quota to VMs, exits ignored"),
    ("serflow", "SERFLOW heuristic: per-stage S-CIP/T-CIP provisioning, FaaS for bursts"),
    ("learned", "the shipped PPO policy for the scenario (checkpoints/<scenario>/policy.ron)"),
];

/// A learned policy shipped in the repository and compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct ShippedPolicy {
    /// The scenario it was trained on.
    pub scenario: &'static str,
    /// Its file in the repository.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

/// The shipped learned policies; `learned` on a scenario without its own uses the first.
pub const SHIPPED: [ShippedPolicy; 1] = [ShippedPolicy {
    scenario: "default",
    path: "checkpoints/default/policy.ron",
    text: include_str!("../../checkpoints/default/policy.ron"),
}];

/// The shipped policy `learned` resolves to on a scenario named `scenario`.
pub fn shipped_for(scenario: &str) -> &'static ShippedPolicy {
    SHIPPED.iter().find(|p| p.scenario == scenario).unwrap_or(&SHIPPED[0])
}

/// Builds policies by name for one scenario.
pub struct PolicyRegistry<'a> {
    scenario: &'a Scenario,
    profile: SystemProfile,
}

impl<'a> PolicyRegistry<'a> {
    /// The registry of `scenario` (profiles it once).
    pub fn new(scenario: &'a Scenario) -> Self {
        Self { scenario, profile: profile(scenario) }
    }

    /// The scenario's offline profile.
    pub fn profile(&self) -> &SystemProfile {
        &self.profile
    }

    /// The policy `name`: a built-in, or a learned-policy file (anything ending `.ron` or containing
    /// `/`), configured for the scenario.
    pub fn build(&self, name: &str) -> Result<Box<dyn Policy>, ScenarioError> {
        if name.ends_with(".ron") || name.contains('/') {
            return load_learned(name, self.scenario).map(|p| Box::new(p) as Box<dyn Policy>);
        }
        let profile = || self.profile.clone();
        Ok(match name {
            "faas-only" => Box::new(FaasOnly),
            "vm-only" => Box::new(VmOnly::new(profile(), Default::default())),
            "libra" => Box::new(Libra::new(profile(), Default::default())),
            "serflow" => Box::new(Serflow::new(profile(), Default::default())),
            "learned" => {
                let shipped = shipped_for(&self.scenario.config.name);
                let policy = Learned::parse(shipped.text, shipped.path)
                    .map_err(|e| ScenarioError::new(&e.path, "", e.reason))?;
                Box::new(check_stages(policy, shipped.path, self.scenario)?)
            }
            _ => {
                let known: Vec<&str> = POLICIES.iter().map(|p| p.0).collect();
                return Err(ScenarioError::new(
                    name,
                    "",
                    format!("unknown policy; known: {}, or a policy file (.ron)", known.join(", ")),
                ));
            }
        })
    }
}

/// Loads a learned policy file and checks it controls `scenario`'s stages.
pub fn load_learned(path: &str, scenario: &Scenario) -> Result<Learned, ScenarioError> {
    let policy = Learned::load(path).map_err(|e| ScenarioError::new(&e.path, "", e.reason))?;
    check_stages(policy, path, scenario)
}

fn check_stages(policy: Learned, path: &str, scenario: &Scenario) -> Result<Learned, ScenarioError> {
    let file = policy.file();
    if file.n_stages != scenario.n_stages() {
        return Err(ScenarioError::new(
            path,
            "n_stages",
            format!(
                "the policy controls {} stages, scenario {} has {}",
                file.n_stages,
                scenario.config.name,
                scenario.n_stages()
            ),
        ));
    }
    Ok(policy)
}
