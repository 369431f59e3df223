//! Policies by name, built for a scenario: what `--policy NAME` resolves through, so every command
//! offers the same set.

use crate::error::ScenarioError;
use crate::profile::profile;
use crate::scenario::Scenario;
use serflow_policies::Policy;
use serflow_policies::baselines::{FaasOnly, Libra, Serflow, VmOnly};

/// Names accepted by [`build_policy`], with one line each.
pub const POLICIES: [(&str, &str); 4] = [
    ("faas-only", "every request to FaaS"),
    ("vm-only", "HPA-like: VMs at 60 % target utilisation, stabilised scale-in"),
    ("libra", "LIBRA (IC2E 2021): EWMA mean+std, 300 s updates, 80 % quota to VMs, exits ignored"),
    ("serflow", "SERFLOW heuristic: per-stage S-CIP/T-CIP provisioning, FaaS for bursts"),
];

/// The policy `name`, configured for `scenario`.
pub fn build_policy(name: &str, scenario: &Scenario) -> Result<Box<dyn Policy>, ScenarioError> {
    Ok(match name {
        "faas-only" => Box::new(FaasOnly),
        "vm-only" => Box::new(VmOnly::new(profile(scenario), Default::default())),
        "libra" => Box::new(Libra::new(profile(scenario), Default::default())),
        "serflow" => Box::new(Serflow::new(profile(scenario), Default::default())),
        _ => {
            let known: Vec<&str> = POLICIES.iter().map(|p| p.0).collect();
            return Err(ScenarioError::new(
                "argument",
                "--policy",
                format!("unknown policy `{name}`; known: {}", known.join(", ")),
            ));
        }
    })
}
