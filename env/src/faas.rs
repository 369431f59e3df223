//! One stage's FaaS function: containers that serve one request at a time, warm reuse on the most
//! recently created idle container (so surplus containers age out, as on public platforms), cold
//! starts otherwise, keep-alive expiry, and a concurrency limit past which invocations are throttled;
//! and what an invocation is billed.

use crate::engine::{SimDuration, SimTime};
use crate::metrics::FaasTotals;
use crate::scenario::FaasConfig;
use std::collections::{BinaryHeap, VecDeque};

/// The platform's price list: a fee per request plus GB-seconds of duration rounded up to the
/// granularity, the cold start's init time included when the platform bills it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaasBilling {
    price_per_gb_s: f64,
    price_per_request: f64,
    granularity_us: u64,
    init_billed: bool,
}

impl FaasBilling {
    /// The billing rules of `faas`.
    pub fn new(faas: &FaasConfig) -> Self {
        Self {
            price_per_gb_s: faas.price_per_gb_s,
            price_per_request: faas.price_per_request,
            granularity_us: SimDuration::from_millis_f64(faas.billing_granularity_ms).0.max(1),
            init_billed: faas.init_billed,
        }
    }

    /// Adds one invocation of a `memory_gb` function that ran `service` after a cold start of
    /// `cold` (zero when warm) to `totals`.
    pub fn charge(&self, totals: &mut FaasTotals, memory_gb: f64, service: SimDuration, cold: SimDuration) {
        // Saturating: a distribution with an absurd tail must not overflow the bill.
        let billed_us = service.0.saturating_add(if self.init_billed { cold.0 } else { 0 });
        let billed_us = billed_us.div_ceil(self.granularity_us).saturating_mul(self.granularity_us);
        let gb_s = memory_gb * billed_us as f64 * 1e-6;
        totals.invocations += 1;
        totals.gb_seconds += gb_s;
        totals.request_cost += self.price_per_request;
        totals.duration_cost += gb_s * self.price_per_gb_s;
        totals.cost = totals.request_cost + totals.duration_cost;
    }
}

/// A container slot index, carried by the invocation that runs on it.
pub type ContainerId = u32;

/// How an invocation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// On an idle warm container.
    Warm(ContainerId),
    /// On a new container, after a cold start.
    Cold(ContainerId),
    /// Over the concurrency limit: the request fails.
    Throttled,
}

#[derive(Clone, Copy, Debug)]
struct Container {
    /// Creation order: the larger, the more recently created.
    created: u64,
    /// When it last became idle; `None` while busy or once expired.
    idle_since: Option<SimTime>,
}

/// The containers of one function.
///
/// Idle containers sit in a max-heap by creation order (warm starts take the newest) and in a FIFO by
/// idle time (releases happen in time order, so the oldest idle container is always at the front and
/// expiry is O(1)). Entries made stale by reuse or expiry are skipped lazily and compacted away.
#[derive(Debug)]
pub struct FaasFunction {
    keep_alive: SimDuration,
    concurrency_limit: u32,
    containers: Vec<Container>,
    free_slots: Vec<ContainerId>,
    newest_idle: BinaryHeap<(u64, ContainerId)>,
    idle_order: VecDeque<(SimTime, ContainerId)>,
    created: u64,
    idle: u32,
    in_flight: u32,
}

impl FaasFunction {
    /// A function with no containers.
    pub fn new(keep_alive: SimDuration, concurrency_limit: u32) -> Self {
        Self {
            keep_alive,
            concurrency_limit,
            containers: Vec::new(),
            free_slots: Vec::new(),
            newest_idle: BinaryHeap::new(),
            idle_order: VecDeque::new(),
            created: 0,
            idle: 0,
            in_flight: 0,
        }
    }

    /// Drops containers whose keep-alive ran out at or before `now`.
    fn expire(&mut self, now: SimTime) {
        while let Some(&(since, id)) = self.idle_order.front() {
            if since + self.keep_alive > now {
                break;
            }
            self.idle_order.pop_front();
            let c = &mut self.containers[id as usize];
            if c.idle_since == Some(since) {
                c.idle_since = None;
                self.idle -= 1;
                self.free_slots.push(id);
            }
        }
        if self.newest_idle.len() > 2 * self.idle as usize + 64 {
            let containers = &self.containers;
            let idle = |&(created, id): &(u64, ContainerId)| {
                let c = containers[id as usize];
                c.created == created && c.idle_since.is_some()
            };
            self.newest_idle.retain(idle);
        }
    }

    /// Starts an invocation at `now`.
    pub fn invoke(&mut self, now: SimTime) -> Start {
        if self.in_flight >= self.concurrency_limit {
            return Start::Throttled;
        }
        self.in_flight += 1;
        self.expire(now);
        while let Some((created, id)) = self.newest_idle.pop() {
            let c = &mut self.containers[id as usize];
            if c.created == created && c.idle_since.is_some() {
                c.idle_since = None;
                self.idle -= 1;
                return Start::Warm(id);
            }
        }
        let container = Container { created: self.created, idle_since: None };
        self.created += 1;
        let id = match self.free_slots.pop() {
            Some(id) => {
                self.containers[id as usize] = container;
                id
            }
            None => {
                self.containers.push(container);
                self.containers.len() as ContainerId - 1
            }
        };
        Start::Cold(id)
    }

    /// An invocation on `container` ended at `now`; the container idles, warm.
    pub fn release(&mut self, container: ContainerId, now: SimTime) {
        self.in_flight -= 1;
        self.idle += 1;
        let c = &mut self.containers[container as usize];
        c.idle_since = Some(now);
        self.newest_idle.push((c.created, container));
        self.idle_order.push_back((now, container));
    }

    /// Invocations running.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Idle warm containers at `now`.
    pub fn warm(&mut self, now: SimTime) -> u32 {
        self.expire(now);
        self.idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_up_to_the_granularity_and_bills_init_when_told() {
        let mut cfg = FaasConfig {
            price_per_gb_s: 2.0,
            price_per_request: 0.5,
            billing_granularity_ms: 100.0,
            cold_start_ms: crate::dist::Dist::Deterministic(1.0),
            init_billed: false,
            keep_alive_s: 1.0,
            concurrency_limit: 1,
            invocation_overhead_ms: 0.0,
            slowdown: 1.0,
        };
        let mut totals = FaasTotals::default();
        let ms = |m: u64| SimDuration(m * 1000);
        FaasBilling::new(&cfg).charge(&mut totals, 0.5, ms(150), ms(900));
        assert!((totals.gb_seconds - 0.1).abs() < 1e-12, "150 ms bills 200 ms, init not billed");
        assert_eq!((totals.invocations, totals.request_cost), (1, 0.5));
        assert!((totals.cost - (0.5 + 0.2)).abs() < 1e-12);
        cfg.init_billed = true;
        FaasBilling::new(&cfg).charge(&mut totals, 0.5, ms(150), ms(900));
        assert!((totals.gb_seconds - (0.1 + 0.5 * 1.1)).abs() < 1e-12, "1050 ms bills 1100 ms");
        assert_eq!(totals.invocations, 2);
    }

    #[test]
    fn reuses_newest_idle_container_and_expires_after_keep_alive() {
        let mut f = FaasFunction::new(SimDuration(100), 10);
        let t = SimTime(0);
        assert_eq!((f.invoke(t), f.invoke(t)), (Start::Cold(0), Start::Cold(1)));
        f.release(0, SimTime(10));
        f.release(1, SimTime(20));
        assert_eq!(f.invoke(SimTime(30)), Start::Warm(1));
        f.release(1, SimTime(40));
        assert_eq!(f.warm(SimTime(109)), 2);
        assert_eq!(f.warm(SimTime(110)), 1, "container 0 idle since 10 expires at 110");
        assert_eq!(f.invoke(SimTime(139)), Start::Warm(1));
        assert_eq!(f.invoke(SimTime(139)), Start::Cold(0), "a new container in the expired one's slot");
        f.release(0, SimTime(150));
        f.release(1, SimTime(150));
        assert_eq!(f.invoke(SimTime(160)), Start::Warm(0), "the newer container (created at 139) first");
    }

    #[test]
    fn throttles_over_the_concurrency_limit() {
        let mut f = FaasFunction::new(SimDuration(100), 1);
        assert_eq!(f.invoke(SimTime(0)), Start::Cold(0));
        assert_eq!(f.invoke(SimTime(0)), Start::Throttled);
        assert_eq!(f.in_flight(), 1);
    }
}
