//! The end of an episode: arrivals stop, requests in flight run to completion, every VM stops, and
//! the episode's totals become the [`EpisodeReport`] that `simulate --json` prints.

use super::Simulator;
use crate::engine::SimTime;
use crate::metrics::{
    ColdStartReport, EpisodeReport, InvocationReport, RequestReport, SloReport, ViolationReport, attainment,
};

impl Simulator {
    /// Ends the episode: no more arrivals, requests in flight run to completion, every VM stops when
    /// the last one finishes (or at the horizon, if later), and the totals are reported.
    pub fn finish(mut self, policy: &str) -> EpisodeReport {
        self.next_arrival = None;
        self.run_until(SimTime(u64::MAX));
        debug_assert_eq!(self.requests.in_flight(), 0);
        let end = self.events.now().max(self.horizon);
        let front = self.front_arrivals;
        for st in &mut self.stages {
            st.pool.close_all(end);
            let r = &mut st.report;
            r.vm.billed_seconds = st.pool.billed_seconds(end);
            r.vm.cost = r.vm.billed_seconds * st.pool.price_per_s();
            r.vm.launches = st.pool.launches();
            r.vm.mean_wait_ms =
                if r.vm.invocations == 0 { 0.0 } else { r.vm.wait_us as f64 / r.vm.invocations as f64 / 1e3 };
            r.reach_fraction = if front == 0 { 0.0 } else { r.arrivals as f64 / front as f64 };
        }
        let totals = self.totals(end);
        let ms = |q: f64| self.latency.quantile_us(q) / 1e3;
        let slo = &self.scenario.config.slo;
        EpisodeReport {
            policy: policy.to_string(),
            scenario: self.scenario.config.name.clone(),
            seed: self.seed,
            duration_s: self.horizon.as_secs_f64(),
            vm_seconds: self.stages.iter().map(|s| s.report.vm.billed_seconds).sum(),
            invocations: InvocationReport {
                vm: self.stages.iter().map(|s| s.report.vm.invocations).sum(),
                faas: self.stages.iter().map(|s| s.report.faas.invocations).sum(),
            },
            requests: RequestReport {
                total: self.front_arrivals,
                completed: self.completed,
                failed: self.failed,
            },
            slo: SloReport {
                latency_ms: slo.latency_ms,
                target: slo.attainment_target,
                attainment: attainment(self.slow + self.failed, self.completed + self.failed),
                p50_ms: ms(0.5),
                p95_ms: ms(0.95),
                p99_ms: ms(0.99),
                mean_ms: self.latency.mean_us() / 1e3,
                violations: ViolationReport { latency: self.slow, throttled: self.failed },
            },
            cold_starts: ColdStartReport { vm: totals.cold_starts.0, faas: totals.cold_starts.1 },
            stages: self.stages.into_iter().map(|s| s.report).collect(),
            cost: totals.cost,
        }
    }
}
