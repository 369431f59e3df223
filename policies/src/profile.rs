//! What heuristic policies know about the system before they run: prices, capacities and the
//! cost-indifference points, computed offline from a scenario (the simulator crate profiles it;
//! a real deployment would measure the same figures on its own VMs and functions).

use serde::{Deserialize, Serialize};

/// Offline knowledge of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageProfile {
    /// Stage name.
    pub name: String,
    /// Quota of VMs for the stage.
    pub max_vms: u32,
    /// Concurrent requests per VM.
    pub slots: u32,
    /// Requests per second one VM completes when every slot is busy (slots / mean service time).
    pub vm_throughput_rps: f64,
    /// Requests per second one VM takes while keeping the stage within its share of the SLO
    /// (profiled by simulating one VM's queue offline).
    pub vm_slo_capacity_rps: f64,
    /// Mean dollars per request served on FaaS (request fee plus billed duration, warm).
    pub faas_cost_per_request: f64,
    /// Nominal exit probability after this stage.
    pub exit_probability: f64,
    /// Nominal fraction of front-end requests that reach this stage.
    pub nominal_reach: f64,
    /// T-CIP: the stage arrival rate (req/s) at which one VM costs as much as FaaS for that traffic,
    /// `VM $/s / FaaS $/request`.
    pub tcip_rps: f64,
    /// Dollars to move one of this stage's activations between a VM and a function (priced
    /// transfer x activation size; 0 within one zone). Paid when this stage and the next run on
    /// different platforms.
    #[serde(default)]
    pub transfer_cost_per_request: f64,
}

/// Offline knowledge of the whole system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemProfile {
    /// Seconds between decisions.
    pub interval_s: f64,
    /// End-to-end SLO, ms.
    pub slo_latency_ms: f64,
    /// SLO attainment target.
    pub attainment_target: f64,
    /// VM price, $/s.
    pub vm_price_per_s: f64,
    /// Mean VM boot time, s.
    pub vm_boot_s: f64,
    /// 95th percentile of VM boot time, s: how far ahead a planner must launch.
    #[serde(default)]
    pub vm_boot_p95_s: f64,
    /// Billing minimum per VM, s.
    #[serde(default)]
    pub vm_billing_minimum_s: f64,
    /// VMs per stage running at the start of an episode.
    pub initial_vms: u32,
    /// Mean front-end arrival rate of the workload, req/s (for reports; policies measure their own).
    pub mean_rate_rps: f64,
    /// Per-stage figures.
    pub stages: Vec<StageProfile>,
}

impl SystemProfile {
    /// S-CIP of stage `k` at front-end rate `rate_rps`: the reach fraction below which the stage's
    /// traffic is cheaper on FaaS than on one VM (`T-CIP_k / rate`).
    pub fn scip(&self, k: usize, rate_rps: f64) -> f64 {
        if rate_rps <= 0.0 { f64::INFINITY } else { self.stages[k].tcip_rps / rate_rps }
    }

    /// The prices and capacities a plan is made with where `other` differs from `self` by more than
    /// 1 % (`name value against other's value`), stage by stage over the stages both have: a policy that
    /// carries its own profile plans for that system whatever system it runs on.
    pub fn differences(&self, other: &SystemProfile) -> Vec<String> {
        let system = [
            ("interval_s", self.interval_s, other.interval_s),
            ("slo_latency_ms", self.slo_latency_ms, other.slo_latency_ms),
            ("vm_price_per_s", self.vm_price_per_s, other.vm_price_per_s),
            ("vm_boot_p95_s", self.vm_boot_p95_s, other.vm_boot_p95_s),
            ("vm_billing_minimum_s", self.vm_billing_minimum_s, other.vm_billing_minimum_s),
        ];
        let stages = self.stages.iter().zip(&other.stages).enumerate().flat_map(|(k, (a, b))| {
            [
                ("vm_slo_capacity_rps", a.vm_slo_capacity_rps, b.vm_slo_capacity_rps),
                ("faas_cost_per_request", a.faas_cost_per_request, b.faas_cost_per_request),
                ("transfer_cost_per_request", a.transfer_cost_per_request, b.transfer_cost_per_request),
            ]
            .map(|(field, mine, theirs)| (format!("stages[{k}].{field}"), mine, theirs))
        });
        system
            .map(|(field, mine, theirs)| (field.to_string(), mine, theirs))
            .into_iter()
            .chain(stages)
            .filter(|(_, mine, theirs)| (mine - theirs).abs() > 0.01 * mine.abs().max(theirs.abs()))
            .map(|(field, mine, theirs)| format!("{field} {mine:.4e} against {theirs:.4e}"))
            .collect()
    }

    /// What one request of stage `k` costs on FaaS when both neighbouring stages run on VMs: the
    /// function plus the activation in from stage `k - 1` and out to stage `k + 1`.
    pub fn faas_cost_between_vms(&self, k: usize) -> f64 {
        let stage = &self.stages[k];
        let inbound = if k > 0 { self.stages[k - 1].transfer_cost_per_request } else { 0.0 };
        let outbound = if k + 1 < self.stages.len() { stage.transfer_cost_per_request } else { 0.0 };
        stage.faas_cost_per_request + inbound + outbound
    }
}

#[cfg(test)]
mod tests {
    use crate::baselines::tests::profile;

    #[test]
    fn differences_name_the_figures_a_plan_uses_that_another_system_changes() {
        let mine = profile(2, 0.1, 10.0);
        assert!(mine.differences(&mine.clone()).is_empty());
        let mut other = mine.clone();
        other.mean_rate_rps *= 3.0; // for reports only
        other.stages[1].vm_slo_capacity_rps *= 1.005; // within 1 %
        assert!(mine.differences(&other).is_empty());
        other.vm_price_per_s *= 2.0;
        other.stages[1].vm_slo_capacity_rps *= 0.5;
        other.stages.pop();
        let found = mine.differences(&other);
        assert_eq!(found.len(), 1, "{found:?}: the stages both have, and the system");
        assert!(found[0].starts_with("vm_price_per_s "), "{found:?}");
        let mut two = mine.clone();
        two.stages[1].vm_slo_capacity_rps *= 0.5;
        let found = mine.differences(&two);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("stages[1].vm_slo_capacity_rps "), "{found:?}");
    }
}
