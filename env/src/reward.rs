//! The reward of one control interval, and the parts it is made of, defined once: the environment
//! reports it and a trainer that splits credit per stage consumes the parts, so the two cannot drift
//! apart.
//!
//! `reward = -(interval cost) / cost_scale - weight x (violations / finished)`, where the cost is the
//! sum of the stages' costs (VMs, FaaS and the transfers out of the stage) and `weight` is the
//! scenario's fixed `violation_penalty` or a trainer's Lagrange multiplier.

use crate::metrics::violation_rate;
use crate::scenario::RewardConfig;
use crate::sim::IntervalReport;

impl RewardConfig {
    /// The interval's reward with `violation_weight` on the violation rate (the environment uses
    /// `violation_penalty`).
    pub fn reward(&self, report: &IntervalReport, violation_weight: f64) -> f32 {
        (-(report.cost / self.cost_scale)
            - violation_weight * violation_rate(report.violations, report.finished)) as f32
    }

    /// The cost part of one stage that spent `stage_cost` dollars in the interval.
    pub fn stage_part(&self, stage_cost: f64) -> f32 {
        (-stage_cost / self.cost_scale) as f32
    }

    /// The SLO part: `-violation_weight x violations / finished`.
    pub fn slo_part(&self, report: &IntervalReport, violation_weight: f64) -> f32 {
        (-violation_weight * violation_rate(report.violations, report.finished)) as f32
    }
}

#[cfg(test)]
mod tests {
    use crate::{Env, Scenario, ServingEnv};
    use std::sync::Arc;

    #[test]
    fn stage_parts_and_the_slo_part_sum_to_the_environment_reward() {
        let mut cfg = crate::scenario::parse("t", crate::scenario::BUILTINS[0].1).unwrap();
        cfg.horizon_s = 300.0;
        let scenario = Scenario::from_config(
            cfg,
            "t",
            std::path::Path::new("."),
            crate::scenario::Horizon::AsConfigured,
        )
        .unwrap();
        let r = scenario.config.reward.clone();
        let mut env = ServingEnv::new(Arc::new(scenario));
        env.reset(3);
        let n = env.action_space().nvec.len();
        let mut checked = 0;
        for i in 0..30 {
            // Alternate all-FaaS and scaled-out decisions so VMs, FaaS and violations all show up.
            let action: Vec<usize> =
                (0..n).map(|d| if d % 2 == 0 { 4 * (i % 2) } else { 4 - 4 * (i % 2) }).collect();
            let step = env.step(&action);
            let parts: f32 = step.info.stage_costs.iter().map(|&c| r.stage_part(c)).sum::<f32>()
                + r.slo_part(&step.info, r.violation_penalty);
            let tolerance = 1e-5 * step.reward.abs().max(1.0);
            assert!(
                (parts - step.reward).abs() <= tolerance,
                "step {i}: parts {parts} vs reward {}",
                step.reward
            );
            assert_eq!(step.reward, r.reward(&step.info, r.violation_penalty));
            checked += usize::from(step.info.cost > 0.0);
            if step.truncated {
                break;
            }
        }
        assert!(checked > 10, "intervals with a cost: {checked}");
    }
}
