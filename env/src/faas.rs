//! One stage's FaaS function: containers that serve one request at a time, warm reuse on the most
//! recently created idle container (so surplus containers age out, as on public platforms), cold
//! starts otherwise, keep-alive expiry, and a concurrency limit past which invocations are throttled;
//! and what an invocation is billed.

use crate::engine::{SimDuration, SimTime};
use crate::metrics::FaasTotals;
use crate::scenario::FaasConfig;
use std::collections::VecDeque;

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

/// A container, named by its creation number (the first container of a function is 0), carried by
/// the invocation that runs on it.
pub type ContainerId = u64;

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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Container {
    Busy,
    /// Idle, warm, since the given time.
    Idle(SimTime),
    /// Expired.
    Gone,
}

/// The containers of one function.
///
/// Containers are indexed by creation number from the oldest not yet gone, with one bit per container
/// set while it idles: the newest idle container (warm starts take it) is the highest set bit, found
/// from the top, where reuse keeps the idle ones. Releases happen in time order, so a FIFO by idle time
/// has the oldest idle container at its front and expiry is O(1); FIFO entries made stale by reuse are
/// skipped. Expired containers at the old end are dropped, so the window runs from the oldest live
/// container to the newest (expired ones in between stay as `Gone` until the old end passes them).
#[derive(Debug)]
pub struct FaasFunction {
    keep_alive: SimDuration,
    concurrency_limit: u32,
    /// The containers from creation number [`Self::first`] to `created - 1`.
    containers: VecDeque<Container>,
    /// Idle bits: bit `c % 64` of word `c / 64 - first / 64` is set while container `c` idles.
    idle_bits: VecDeque<u64>,
    idle_order: VecDeque<(SimTime, ContainerId)>,
    created: ContainerId,
    idle: u32,
    in_flight: u32,
}

impl FaasFunction {
    /// A function with no containers.
    pub fn new(keep_alive: SimDuration, concurrency_limit: u32) -> Self {
        Self {
            keep_alive,
            concurrency_limit,
            containers: VecDeque::new(),
            idle_bits: VecDeque::new(),
            idle_order: VecDeque::new(),
            created: 0,
            idle: 0,
            in_flight: 0,
        }
    }

    /// The creation number of the oldest container kept.
    fn first(&self) -> ContainerId {
        self.created - self.containers.len() as ContainerId
    }

    fn state(&mut self, c: ContainerId) -> &mut Container {
        let first = self.first();
        &mut self.containers[(c - first) as usize]
    }

    /// Sets or clears container `c`'s idle bit.
    fn mark_idle(&mut self, c: ContainerId, idle: bool) {
        let at = c - self.first() / 64 * 64;
        let word = &mut self.idle_bits[(at / 64) as usize];
        if idle {
            *word |= 1 << (at % 64);
        } else {
            *word &= !(1 << (at % 64));
        }
    }

    /// Drops containers whose keep-alive ran out at or before `now`.
    fn expire(&mut self, now: SimTime) {
        while let Some(&(since, c)) = self.idle_order.front() {
            if since + self.keep_alive > now {
                break;
            }
            self.idle_order.pop_front();
            if c >= self.first() && *self.state(c) == Container::Idle(since) {
                *self.state(c) = Container::Gone;
                self.mark_idle(c, false);
                self.idle -= 1;
            }
        }
        let first_word = self.first() / 64;
        while self.containers.front() == Some(&Container::Gone) {
            self.containers.pop_front();
        }
        self.idle_bits.drain(..((self.first() / 64 - first_word) as usize).min(self.idle_bits.len()));
    }

    /// The newest idle container, if any.
    fn newest_idle(&self) -> Option<ContainerId> {
        if self.idle == 0 {
            return None;
        }
        let (word, bits) = self.idle_bits.iter().enumerate().rev().find(|(_, bits)| **bits != 0)?;
        Some((self.first() / 64 + word as u64) * 64 + u64::from(63 - bits.leading_zeros()))
    }

    /// Starts an invocation at `now`.
    pub fn invoke(&mut self, now: SimTime) -> Start {
        if self.in_flight >= self.concurrency_limit {
            return Start::Throttled;
        }
        self.in_flight += 1;
        self.expire(now);
        if let Some(c) = self.newest_idle() {
            *self.state(c) = Container::Busy;
            self.mark_idle(c, false);
            self.idle -= 1;
            return Start::Warm(c);
        }
        let c = self.created;
        self.created += 1;
        self.containers.push_back(Container::Busy);
        while self.first() / 64 + (self.idle_bits.len() as u64) <= c / 64 {
            self.idle_bits.push_back(0);
        }
        Start::Cold(c)
    }

    /// An invocation on `container` ended at `now`; the container idles, warm.
    pub fn release(&mut self, container: ContainerId, now: SimTime) {
        self.in_flight -= 1;
        self.idle += 1;
        *self.state(container) = Container::Idle(now);
        self.mark_idle(container, true);
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
        assert_eq!(f.invoke(SimTime(139)), Start::Cold(2));
        f.release(2, SimTime(150));
        f.release(1, SimTime(150));
        assert_eq!(f.invoke(SimTime(160)), Start::Warm(2), "the newer container (created at 139) first");
    }

    /// The rules stated plainly: scan every container.
    #[derive(Default)]
    struct Reference {
        /// Per container ever created: when it went idle (`None` while busy), and whether it expired.
        containers: Vec<(Option<SimTime>, bool)>,
        in_flight: u32,
    }

    impl Reference {
        fn expire(&mut self, now: SimTime, keep_alive: SimDuration) {
            for (idle_since, gone) in &mut self.containers {
                if idle_since.is_some_and(|t| t + keep_alive <= now) {
                    (*idle_since, *gone) = (None, true);
                }
            }
        }

        fn invoke(&mut self, now: SimTime, keep_alive: SimDuration, limit: u32) -> Start {
            if self.in_flight >= limit {
                return Start::Throttled;
            }
            self.in_flight += 1;
            self.expire(now, keep_alive);
            if let Some(c) = self.containers.iter().rposition(|(idle_since, _)| idle_since.is_some()) {
                self.containers[c].0 = None;
                return Start::Warm(c as ContainerId);
            }
            self.containers.push((None, false));
            Start::Cold(self.containers.len() as ContainerId - 1)
        }

        fn warm(&mut self, now: SimTime, keep_alive: SimDuration) -> u32 {
            self.expire(now, keep_alive);
            self.containers.iter().filter(|(idle_since, _)| idle_since.is_some()).count() as u32
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(20261130), ..Default::default() })]

        /// Random invocations, releases (of a random busy container) and warm counts, at
        /// non-decreasing times: the function starts, reuses and expires as the reference does.
        #[test]
        fn starts_reuses_and_expires_as_the_rules_say(
            ops in proptest::collection::vec((0..4u8, 0..40u64, 0..1000usize), 1..600),
            keep_alive in 1..200u64,
            limit in 1..150u32,
        ) {
            let keep_alive = SimDuration(keep_alive);
            let mut f = FaasFunction::new(keep_alive, limit);
            let mut reference = Reference::default();
            let (mut now, mut busy) = (SimTime(0), Vec::new());
            for (op, step, pick) in ops {
                now = now + SimDuration(step);
                match op {
                    0 | 1 => {
                        let start = f.invoke(now);
                        proptest::prop_assert_eq!(start, reference.invoke(now, keep_alive, limit));
                        if let Start::Warm(c) | Start::Cold(c) = start {
                            busy.push(c);
                        }
                    }
                    2 if !busy.is_empty() => {
                        let c = busy.swap_remove(pick % busy.len());
                        f.release(c, now);
                        reference.in_flight -= 1;
                        reference.containers[c as usize].0 = Some(now);
                    }
                    _ => proptest::prop_assert_eq!(f.warm(now), reference.warm(now, keep_alive)),
                }
                proptest::prop_assert_eq!(f.in_flight(), reference.in_flight);
            }
        }
    }

    #[test]
    fn throttles_over_the_concurrency_limit() {
        let mut f = FaasFunction::new(SimDuration(100), 1);
        assert_eq!(f.invoke(SimTime(0)), Start::Cold(0));
        assert_eq!(f.invoke(SimTime(0)), Start::Throttled);
        assert_eq!(f.in_flight(), 1);
    }
}
