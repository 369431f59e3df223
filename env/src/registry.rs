//! Policies by name, built for a scenario: what `--policy NAME` resolves through, so every command
//! offers the same set.

use crate::error::ScenarioError;
use crate::profile::profile;
use crate::scenario::Scenario;
use serflow_policies::baselines::{FaasOnly, Libra, Serflow, VmOnly};
use serflow_policies::{Learned, Policy};

/// Names accepted by [`build_policy`], with one line each.
pub const POLICIES: [(&str, &str); 5] = [
    ("faas-only", "every request to FaaS"),
    ("vm-only", "HPA-like: VMs at 60 % target utilisation, stabilised scale-in"),
    ("libra", "LIBRA (IC2E 2021): EWMA mean+std, 300 s updates, 80 % quota to VMs, exits ignored"),
    ("serflow", "SERFLOW heuristic: per-stage S-CIP/T-CIP provisioning, FaaS for bursts"),
    ("learned", "the shipped PPO policy trained on `default` (checkpoints/default/policy.ron)"),
];

/// Where the shipped learned policy lives in the repository (it is also compiled into the binary).
pub const SHIPPED_POLICY_PATH: &str = "checkpoints/default/policy.ron";

/// The shipped learned policy file's text.
pub const SHIPPED_POLICY: &str = include_str!("../../checkpoints/default/policy.ron");

/// The policy `name` (a built-in, or a learned-policy file: anything ending `.ron` or containing
/// `/`), configured for `scenario`.
pub fn build_policy(name: &str, scenario: &Scenario) -> Result<Box<dyn Policy>, ScenarioError> {
    if name.ends_with(".ron") || name.contains('/') {
        return load_learned(name, scenario).map(|p| Box::new(p) as Box<dyn Policy>);
    }
    Ok(match name {
        "faas-only" => Box::new(FaasOnly),
        "vm-only" => Box::new(VmOnly::new(profile(scenario), Default::default())),
        "libra" => Box::new(Libra::new(profile(scenario), Default::default())),
        "serflow" => Box::new(Serflow::new(profile(scenario), Default::default())),
        "learned" => {
            let policy = Learned::parse(SHIPPED_POLICY, SHIPPED_POLICY_PATH)
                .map_err(|e| ScenarioError::new(&e.path, "", e.reason))?;
            Box::new(check_stages(policy, SHIPPED_POLICY_PATH, scenario)?)
        }
        _ => {
            let known: Vec<&str> = POLICIES.iter().map(|p| p.0).collect();
            return Err(ScenarioError::new(
                "argument",
                "--policy",
                format!("unknown policy `{name}`; known: {}, or a policy file (.ron)", known.join(", ")),
            ));
        }
    })
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
