//! Policies by name, built for a scenario: what `--policy NAME` resolves through, so every command
//! offers the same set.

use crate::error::ScenarioError;
use crate::scenario::Scenario;
use serflow_policies::Policy;
use serflow_policies::baselines::FaasOnly;

/// Names accepted by [`build_policy`].
pub const POLICY_NAMES: [&str; 1] = ["faas-only"];

/// The policy `name`, configured for `scenario`.
pub fn build_policy(name: &str, _scenario: &Scenario) -> Result<Box<dyn Policy>, ScenarioError> {
    match name {
        "faas-only" => Ok(Box::new(FaasOnly)),
        _ => Err(ScenarioError::new(
            "argument",
            "--policy",
            format!("unknown policy `{name}`; known: {}", POLICY_NAMES.join(", ")),
        )),
    }
}
