//! Accounting for one control interval: counters that run during it, totals remembered at its
//! start, and the [`IntervalReport`] (the environment's `info`) that closing it produces.

use super::Simulator;
use crate::engine::SimTime;
use crate::metrics::{CostReport, attainment};

/// What happened during one control interval (the environment's `info`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntervalReport {
    /// Simulated time at the end of the interval, seconds.
    pub time_s: f64,
    /// Dollars accrued during the interval.
    pub cost: f64,
    /// Of which VMs.
    pub vm_cost: f64,
    /// Of which FaaS.
    pub faas_cost: f64,
    /// Of which transfers.
    pub transfer_cost: f64,
    /// Front-end arrivals.
    pub arrivals: u64,
    /// Requests that finished (completed or failed).
    pub finished: u64,
    /// Finished requests that violated the SLO (slow or failed).
    pub violations: u64,
    /// Failed (throttled) requests.
    pub throttled: u64,
    /// Fraction of stage executions dispatched to FaaS.
    pub faas_share: f64,
    /// VMs launched.
    pub vm_cold_starts: u64,
    /// FaaS cold starts.
    pub faas_cold_starts: u64,
    /// Fraction of finished requests within the SLO (1 when none finished).
    pub slo_attainment: f64,
    /// Dollars accrued during the interval by each stage (VMs, FaaS and its outgoing transfers), in
    /// pipeline order; they sum to `cost`.
    pub stage_costs: Vec<f64>,
}

/// Running totals of the episode at one instant, from which an interval's report is the difference.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Totals {
    /// Cost by service.
    pub cost: CostReport,
    /// Cost by stage.
    pub stage_costs: Vec<f64>,
    /// VM launches and FaaS cold starts.
    pub cold_starts: (u64, u64),
}

/// The interval in progress.
#[derive(Debug, Default)]
pub(super) struct IntervalAccounts {
    /// Front-end arrivals.
    pub front: u64,
    /// Requests finished (completed or failed).
    pub finished: u64,
    /// Of which SLO violations.
    pub violations: u64,
    /// Of which throttled.
    pub throttled: u64,
    at_start: Totals,
}

impl IntervalAccounts {
    /// Accounts for an episode whose totals start at zero over `n_stages` stages.
    pub fn new(n_stages: usize) -> Self {
        Self { at_start: Totals { stage_costs: vec![0.0; n_stages], ..Totals::default() }, ..Self::default() }
    }

    /// A request finished; `violated` when it missed the SLO or failed.
    pub fn finished(&mut self, violated: bool) {
        self.finished += 1;
        self.violations += u64::from(violated);
    }

    /// Closes the interval at `time_s` with the episode's running `totals` and its stage visits (all
    /// stages, and those on FaaS); the next interval starts from here.
    pub fn close(&mut self, time_s: f64, totals: Totals, visits: u64, faas_visits: u64) -> IntervalReport {
        let start = std::mem::replace(&mut self.at_start, totals);
        let now = &self.at_start;
        let report = IntervalReport {
            time_s,
            cost: now.cost.total - start.cost.total,
            vm_cost: now.cost.vm - start.cost.vm,
            faas_cost: now.cost.faas - start.cost.faas,
            transfer_cost: now.cost.transfer - start.cost.transfer,
            arrivals: self.front,
            finished: self.finished,
            violations: self.violations,
            throttled: self.throttled,
            faas_share: if visits == 0 { 0.0 } else { faas_visits as f64 / visits as f64 },
            vm_cold_starts: now.cold_starts.0 - start.cold_starts.0,
            faas_cold_starts: now.cold_starts.1 - start.cold_starts.1,
            slo_attainment: attainment(self.violations, self.finished),
            stage_costs: now.stage_costs.iter().zip(&start.stage_costs).map(|(n, s)| n - s).collect(),
        };
        self.front = 0;
        self.finished = 0;
        self.violations = 0;
        self.throttled = 0;
        report
    }
}

impl Simulator {
    /// The episode's running totals at `now`.
    pub(super) fn totals(&self, now: SimTime) -> Totals {
        let mut cost = CostReport::default();
        let stage_costs = self
            .stages
            .iter()
            .map(|st| {
                let c = st.cost(now);
                cost.vm += c.vm;
                cost.faas += c.faas;
                cost.transfer += c.transfer;
                c.total
            })
            .collect();
        cost.total = cost.vm + cost.faas + cost.transfer;
        let vm = self.stages.iter().map(|s| s.pool.launches()).sum();
        let faas = self.stages.iter().map(|s| s.report.faas.cold_starts).sum();
        Totals { cost, stage_costs, cold_starts: (vm, faas) }
    }

    pub(super) fn close_interval(&mut self) -> IntervalReport {
        let now = self.events.now();
        let visits = self.stages.iter().map(|s| s.interval.arrivals).sum();
        let faas_visits = self.stages.iter().map(|s| s.interval.faas).sum();
        let front = self.accounts.front;
        let totals = self.totals(now);
        let report = self.accounts.close(now.as_secs_f64(), totals, visits, faas_visits);
        self.observe(front, report.cost, report.slo_attainment);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(vm: f64, faas: f64, stage_costs: Vec<f64>, cold: (u64, u64)) -> Totals {
        let cost = CostReport { total: vm + faas, vm, faas, transfer: 0.0 };
        Totals { cost, stage_costs, cold_starts: cold }
    }

    #[test]
    fn an_interval_reports_differences_and_its_own_counters_then_restarts() {
        let mut acc = IntervalAccounts::new(2);
        acc.front = 10;
        for violated in [false, false, true, false] {
            acc.finished(violated);
        }
        let r = acc.close(10.0, totals(1.0, 0.5, vec![1.25, 0.25], (2, 3)), 20, 5);
        assert_eq!((r.arrivals, r.finished, r.violations), (10, 4, 1));
        assert_eq!((r.cost, r.vm_cost, r.faas_cost), (1.5, 1.0, 0.5));
        assert_eq!((r.slo_attainment, r.faas_share), (0.75, 0.25));
        assert_eq!(r.stage_costs, vec![1.25, 0.25]);
        assert_eq!((r.vm_cold_starts, r.faas_cold_starts), (2, 3));

        let r = acc.close(20.0, totals(3.0, 0.5, vec![3.0, 0.5], (2, 4)), 0, 0);
        assert_eq!((r.arrivals, r.finished, r.slo_attainment, r.faas_share), (0, 0, 1.0, 0.0));
        assert_eq!((r.cost, r.stage_costs.clone()), (2.0, vec![1.75, 0.25]));
        assert_eq!((r.vm_cold_starts, r.faas_cold_starts), (0, 1));
        assert!((r.stage_costs.iter().sum::<f64>() - r.cost).abs() < 1e-12, "stages sum to the cost");
    }
}
