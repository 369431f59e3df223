//! One stage's load balancer: which arrivals are offered to the VM pool (a share, spread evenly by a
//! credit counter, and an optional per-second rate cap), and whether the pool admits an offered
//! request without breaking the queueing bound. Everything not offered or not admitted goes to FaaS.

use crate::engine::SimTime;
use crate::network::Place;
use crate::vm_pool::VmPool;

/// The balancer's state for one stage.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Balancer {
    share: f32,
    credit: f32,
    rate_limit: Option<f32>,
    window_second: u64,
    window_count: u32,
}

impl Default for Balancer {
    fn default() -> Self {
        Self { share: 0.0, credit: 0.0, rate_limit: None, window_second: u64::MAX, window_count: 0 }
    }
}

impl Balancer {
    /// Takes a decision's share (clamped to [0, 1]; not finite means 0) and rate cap (not finite means
    /// none, negative means 0). A new share restarts the spreading credit.
    pub fn set(&mut self, vm_share: f32, vm_rate_limit: Option<f32>) {
        let share = if vm_share.is_finite() { vm_share.clamp(0.0, 1.0) } else { 0.0 };
        if share != self.share {
            self.credit = 0.0;
        }
        self.share = share;
        self.rate_limit = vm_rate_limit.filter(|l| l.is_finite()).map(|l| l.max(0.0));
    }

    /// Routes one arrival at `now`: offered to VMs by share and rate cap, then admitted by `pool`
    /// (a free slot, or a queue whose expected wait stays within `queue_wait_ms`; `None`: any VM
    /// ready or booting takes it).
    pub fn route(
        &mut self,
        now: SimTime,
        pool: &VmPool,
        mean_service_ms: f64,
        queue_wait_ms: Option<f64>,
    ) -> Place {
        if !self.offers(now) {
            return Place::Faas;
        }
        if pool.has_free_slot() {
            return Place::Vm;
        }
        let admitted = match queue_wait_ms {
            None => pool.ready() + pool.booting() > 0,
            Some(max_wait_ms) => {
                let ready_slots = f64::from(pool.ready() * pool.slots());
                ready_slots > 0.0
                    && (pool.queue_len() + 1) as f64 * mean_service_ms / ready_slots <= max_wait_ms
            }
        };
        if admitted { Place::Vm } else { Place::Faas }
    }

    /// Whether this arrival is offered to VMs: every `1/share`-th on average, evenly spread, and at
    /// most `floor(rate_limit)` per simulated second.
    fn offers(&mut self, now: SimTime) -> bool {
        if self.share <= 0.0 {
            return false;
        }
        self.credit += self.share;
        if self.credit < 1.0 {
            return false;
        }
        self.credit -= 1.0;
        if let Some(limit) = self.rate_limit {
            let second = now.0 / 1_000_000;
            if second != self.window_second {
                self.window_second = second;
                self.window_count = 0;
            }
            if f64::from(self.window_count) >= f64::from(limit).floor() {
                return false;
            }
            self.window_count += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::scenario::VmConfig;

    fn pool(ready: u32) -> VmPool {
        let vm = VmConfig {
            name: "t".into(),
            price_per_hour: 1.0,
            slots: 1,
            boot_s: Dist::Deterministic(1.0),
            billing_minimum_s: 0.0,
            max_per_stage: 10,
            initial_per_stage: ready,
        };
        VmPool::new(&vm, ready)
    }

    fn offered(b: &mut Balancer, n: usize, second: u64) -> usize {
        (0..n).filter(|_| b.offers(SimTime::from_secs(second))).count()
    }

    #[test]
    fn share_is_spread_evenly_and_a_new_share_restarts_it() {
        let mut b = Balancer::default();
        assert_eq!(offered(&mut b, 10, 0), 0, "no share, nothing offered");
        b.set(0.25, None);
        let pattern: Vec<bool> = (0..8).map(|_| b.offers(SimTime::ZERO)).collect();
        assert_eq!(pattern, [false, false, false, true, false, false, false, true]);
        b.set(1.0, None);
        assert_eq!(offered(&mut b, 5, 0), 5);
        b.set(f32::NAN, None);
        assert_eq!(offered(&mut b, 5, 0), 0, "a share that is not a number offers nothing");
    }

    #[test]
    fn rate_cap_counts_per_simulated_second() {
        let mut b = Balancer::default();
        b.set(1.0, Some(3.7));
        assert_eq!(offered(&mut b, 10, 0), 3, "floor of the cap");
        assert_eq!(offered(&mut b, 10, 1), 3, "a new second, a new window");
        b.set(1.0, Some(-1.0));
        assert_eq!(offered(&mut b, 10, 2), 0, "a negative cap is zero");
        b.set(1.0, Some(f32::INFINITY));
        assert_eq!(offered(&mut b, 10, 3), 10, "an infinite cap is none");
    }

    #[test]
    fn admission_respects_free_slots_and_the_queue_bound() {
        let mut b = Balancer::default();
        b.set(1.0, None);
        let mut p = pool(1);
        assert_eq!(b.route(SimTime::ZERO, &p, 100.0, Some(150.0)), Place::Vm, "free slot");
        p.take_slot(SimTime::ZERO).unwrap();
        // Busy: one request queued would wait 100 ms (<= 150): admitted.
        assert_eq!(b.route(SimTime::ZERO, &p, 100.0, Some(150.0)), Place::Vm);
        p.enqueue(7, SimTime::ZERO);
        // A second in the queue would wait 200 ms: spilled.
        assert_eq!(b.route(SimTime::ZERO, &p, 100.0, Some(150.0)), Place::Faas);
        // Unbounded queue: admitted while any VM exists; none at all: FaaS.
        assert_eq!(b.route(SimTime::ZERO, &p, 100.0, None), Place::Vm);
        assert_eq!(b.route(SimTime::ZERO, &pool(0), 100.0, None), Place::Faas);
    }
}
