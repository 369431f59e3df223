//! The hindsight floor: knowing every interval's arrivals at every stage in advance, the cheapest
//! fluid allocation (VMs run at full throughput, no queueing, no boot, no cold start, no billing
//! minimum) per interval. No policy can pay less, so `cost / floor` says how close a policy gets.

use crate::baselines::cheapest_vm_count;
use crate::profile::SystemProfile;
use serde::Serialize;

/// The floor's dollars by service.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FluidFloor {
    /// Everything.
    pub total: f64,
    /// VMs.
    pub vm: f64,
    /// FaaS.
    pub faas: f64,
}

/// The floor for `arrivals[t][k]`: requests reaching stage k during interval t.
pub fn fluid_floor(profile: &SystemProfile, arrivals: &[Vec<u64>]) -> FluidFloor {
    let dt = profile.interval_s;
    let mut floor = FluidFloor::default();
    for interval in arrivals {
        for (prof, &count) in profile.stages.iter().zip(interval) {
            let rate = count as f64 / dt;
            let vms = cheapest_vm_count(rate, prof.vm_throughput_rps, prof.tcip_rps);
            let on_faas = (rate - f64::from(vms) * prof.vm_throughput_rps).max(0.0);
            floor.vm += f64::from(vms) * profile.vm_price_per_s * dt;
            floor.faas += on_faas * dt * prof.faas_cost_per_request;
        }
    }
    floor.total = floor.vm + floor.faas;
    floor
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::profile;

    #[test]
    fn floor_picks_vms_above_tcip_and_faas_below() {
        // T-CIP 4 req/s, 10 req/s per VM, VM $0.0004/s, FaaS $0.0001/request, 10 s intervals.
        let p = profile(1, 0.1, 10.0);
        // 2 req/s: FaaS, 20 requests -> $0.002. 23 req/s: 2 VMs + 3 req/s on FaaS -> $0.008 + $0.003.
        // 25 req/s: the 5 req/s remainder is above T-CIP, so a third VM -> $0.012.
        let f = fluid_floor(&p, &[vec![20], vec![230]]);
        assert!((f.faas - 0.005).abs() < 1e-12 && (f.vm - 0.008).abs() < 1e-12, "{f:?}");
        assert!((f.total - 0.013).abs() < 1e-12);
        let f = fluid_floor(&p, &[vec![250]]);
        assert!((f.vm - 0.012).abs() < 1e-12 && f.faas == 0.0, "{f:?}");
    }

    #[test]
    fn floor_never_exceeds_all_faas_or_all_vm() {
        let p = profile(1, 0.1, 10.0);
        for count in [0u64, 1, 39, 40, 41, 99, 100, 101, 1234] {
            let f = fluid_floor(&p, &[vec![count]]);
            let faas_only = count as f64 * 0.0001;
            let vm_only = (count as f64 / 10.0 / 10.0).ceil() * 0.0004 * 10.0;
            assert!(f.total <= faas_only + 1e-12 && f.total <= vm_only + 1e-12, "{count}: {f:?}");
        }
    }
}
