//! Policies that need no training: the reference points a learned policy must beat. `static-best`,
//! `tuned-hpa`, `predictive-hpa` and `serflow-tuned` carry parameters `serflow tune` calibrates; the
//! oracle plans with the future it is given.

mod ewma;
mod faas_only;
mod hpa;
mod libra;
mod oracle;
mod serflow;
mod stabilised;
mod static_allocation;
mod trend;

pub use ewma::Ewma;
pub use faas_only::FaasOnly;
pub use hpa::{Hpa, HpaConfig};
pub use libra::{Libra, LibraConfig};
pub use oracle::{Oracle, PlanCosts, PlanMemory, PoolCapacity, plan_stage};
pub use serflow::{Serflow, SerflowConfig, cheapest_vm_count};
pub use stabilised::Stabiliser;
pub use static_allocation::{StaticAllocation, StaticStage};
pub use trend::Trend;

#[cfg(test)]
pub(crate) mod tests {
    use crate::profile::{StageProfile, SystemProfile};
    use crate::schema::{GlobalFeature, Observation, StageFeature};

    /// `n` identical stages: service `service_s` per request on 1-slot VMs at $0.0004/s, FaaS
    /// $0.0001/request (T-CIP 4 req/s), SLO-feasible capacity `capacity` req/s, 10 s intervals.
    pub fn profile(n: usize, service_s: f64, capacity: f64) -> SystemProfile {
        let stage = |k: usize| StageProfile {
            name: format!("s{k}"),
            max_vms: 50,
            slots: 1,
            vm_throughput_rps: if service_s == 1.0 { capacity } else { 1.0 / service_s },
            vm_slo_capacity_rps: capacity,
            faas_cost_per_request: 0.0001,
            exit_probability: 0.5,
            nominal_reach: 0.5f64.powi(k as i32),
            tcip_rps: 4.0,
            transfer_cost_per_request: 0.0,
        };
        SystemProfile {
            interval_s: if service_s == 1.0 { 1.0 } else { 10.0 },
            slo_latency_ms: 1000.0,
            attainment_target: 0.99,
            vm_price_per_s: 0.0004,
            vm_boot_s: 100.0,
            vm_boot_p95_s: 100.0,
            vm_billing_minimum_s: 60.0,
            initial_vms: 0,
            mean_rate_rps: 100.0,
            stages: (0..n).map(stage).collect(),
        }
    }

    /// An observation with front-end `rate` req/s (every stage at that rate) and `vms` ready per stage.
    pub fn observation(n: usize, rate: f32, vms: u32) -> Observation {
        let mut o = Observation::zeros(n);
        o.set_global(GlobalFeature::TotalRate, rate);
        for k in 0..n {
            o.set_stage(k, StageFeature::ArrivalRate, rate);
            o.set_stage(k, StageFeature::VmsReady, vms as f32);
        }
        o
    }
}
