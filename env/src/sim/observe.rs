//! The observation a policy decides on: per stage what arrived, what ran where and how fast over the
//! interval just closed, and what is provisioned now; globally the front-end rate, its trend, and
//! the interval's attainment and cost rate. Values are raw units (the agent normalises).

use super::Simulator;
use crate::engine::SimTime;
use crate::faas::FaasFunction;
use crate::metrics::quantile_in_place;
use crate::vm_pool::VmPool;
use serflow_policies::{GlobalFeature, Observation, StageFeature};

/// The interval being closed: when, how long it lasted, and how many front-end arrivals it saw.
#[derive(Clone, Copy, Debug)]
pub(super) struct Closing {
    /// The decision time.
    pub now: SimTime,
    /// The interval's length, seconds.
    pub interval_s: f64,
    /// Front-end arrivals during it.
    pub front: u64,
}

/// One stage's counters over the interval in progress (restarted at every decision).
#[derive(Debug, Default)]
pub(super) struct StageInterval {
    /// Requests that reached the stage.
    pub arrivals: u64,
    /// Of which dispatched to FaaS (including throttled ones).
    pub faas: u64,
    /// Time each request spent in the stage, microseconds.
    pub sojourn_us: Vec<u32>,
    busy_area: u64,
    ready_area: u64,
}

impl StageInterval {
    /// Writes stage `k`'s features for the interval `closing` ends into `obs`, then restarts the
    /// counters.
    pub fn observe(
        &mut self,
        obs: &mut Observation,
        k: usize,
        closing: Closing,
        pool: &mut VmPool,
        faas: &mut FaasFunction,
    ) {
        let Closing { now, interval_s, front } = closing;
        let (busy, ready) = pool.areas(now);
        let utilisation = if ready > self.ready_area {
            (busy - self.busy_area) as f64 / (ready - self.ready_area) as f64
        } else {
            0.0
        };
        let ratio = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let mut set = |f, v: f64| obs.set_stage(k, f, v as f32);
        set(StageFeature::ArrivalRate, self.arrivals as f64 / interval_s);
        set(StageFeature::ReachFraction, ratio(self.arrivals, front));
        set(StageFeature::VmsReady, f64::from(pool.ready()));
        set(StageFeature::VmsBooting, f64::from(pool.booting()));
        set(StageFeature::VmUtilisation, utilisation);
        set(StageFeature::VmQueue, pool.queue_len() as f64);
        set(StageFeature::FaasInFlight, f64::from(faas.in_flight()));
        set(StageFeature::FaasWarm, f64::from(faas.warm(now)));
        set(StageFeature::FaasShare, ratio(self.faas, self.arrivals));
        set(StageFeature::P95LatencyMs, f64::from(quantile_in_place(&mut self.sojourn_us, 0.95)) / 1e3);
        self.arrivals = 0;
        self.faas = 0;
        self.sojourn_us.clear();
        self.busy_area = busy;
        self.ready_area = ready;
    }
}

/// Writes the global features: the front-end rate over the interval `closing` ends, its change since
/// `previous_rate` (updated), and the interval's attainment and cost per hour.
pub(super) fn observe_global(
    obs: &mut Observation,
    closing: Closing,
    previous_rate: &mut f32,
    interval_cost: f64,
    attainment: f64,
) {
    let Closing { interval_s, front, .. } = closing;
    let total_rate = (front as f64 / interval_s) as f32;
    obs.set_global(GlobalFeature::TotalRate, total_rate);
    obs.set_global(GlobalFeature::RateTrend, total_rate - *previous_rate);
    obs.set_global(GlobalFeature::SloAttainment, attainment as f32);
    obs.set_global(GlobalFeature::CostRate, (interval_cost / interval_s * 3600.0) as f32);
    *previous_rate = total_rate;
}

impl Simulator {
    /// Writes the observation for the decision at `now` from the interval just closed (`front`
    /// front-end arrivals, its cost and attainment) and restarts the stage interval counters.
    pub(super) fn observe(&mut self, front: u64, interval_cost: f64, attainment: f64) {
        let closing = Closing { now: self.events.now(), interval_s: self.interval.as_secs_f64(), front };
        for (k, st) in self.stages.iter_mut().enumerate() {
            st.interval.observe(&mut self.observation, k, closing, &mut st.pool, &mut st.faas);
        }
        observe_global(&mut self.observation, closing, &mut self.previous_rate, interval_cost, attainment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::engine::SimDuration;
    use crate::scenario::VmConfig;

    #[test]
    fn stage_features_come_from_the_interval_and_counters_restart() {
        let vm = VmConfig {
            name: "t".into(),
            price_per_hour: 1.0,
            slots: 2,
            boot_s: Dist::Deterministic(1.0),
            billing_minimum_s: 0.0,
            max_per_stage: 10,
            initial_per_stage: 1,
        };
        let mut pool = VmPool::new(&vm, 1);
        let mut faas = FaasFunction::new(SimDuration::from_secs_f64(60.0), 10);
        let mut iv =
            StageInterval { arrivals: 40, faas: 10, sojourn_us: (1..=100).collect(), ..Default::default() };
        pool.take_slot(SimTime::ZERO).unwrap(); // one of two slots busy for the whole interval
        let mut obs = Observation::zeros(1);
        let closing = Closing { now: SimTime::from_secs(10), interval_s: 10.0, front: 80 };
        iv.observe(&mut obs, 0, closing, &mut pool, &mut faas);
        let f = |feature| obs.stage(0, feature);
        assert_eq!(f(StageFeature::ArrivalRate), 4.0);
        assert_eq!(f(StageFeature::ReachFraction), 0.5);
        assert_eq!(f(StageFeature::FaasShare), 0.25);
        assert_eq!(f(StageFeature::VmUtilisation), 0.5);
        assert_eq!(f(StageFeature::VmsReady), 1.0);
        assert_eq!(f(StageFeature::P95LatencyMs), 0.095);
        assert_eq!((iv.arrivals, iv.faas, iv.sojourn_us.len()), (0, 0, 0));

        let mut previous = 6.0;
        observe_global(&mut obs, closing, &mut previous, 0.5, 0.99);
        assert_eq!(obs.global(GlobalFeature::RateTrend), 2.0);
        assert_eq!(obs.global(GlobalFeature::CostRate), 180.0);
        assert_eq!(previous, 8.0);
    }
}
