//! One stage's FaaS function: containers that serve one request at a time, warm reuse on the most
//! recently created idle container (so surplus containers age out, as on public platforms), cold
//! starts otherwise, keep-alive expiry, and a concurrency limit past which invocations are throttled.

use crate::engine::{SimDuration, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// How an invocation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// On an idle warm container.
    Warm(u64),
    /// On a new container, after a cold start.
    Cold(u64),
    /// Over the concurrency limit: the request fails.
    Throttled,
}

/// The containers of one function.
#[derive(Debug)]
pub struct FaasFunction {
    keep_alive: SimDuration,
    concurrency_limit: u32,
    /// Idle containers by id (ids grow with creation, so the last is the most recently created),
    /// with the time they became idle.
    idle_by_id: BTreeMap<u64, SimTime>,
    /// The same containers ordered by when they became idle, for expiry.
    idle_by_time: BTreeSet<(SimTime, u64)>,
    next_id: u64,
    in_flight: u32,
}

impl FaasFunction {
    /// A function with no containers.
    pub fn new(keep_alive: SimDuration, concurrency_limit: u32) -> Self {
        Self {
            keep_alive,
            concurrency_limit,
            idle_by_id: BTreeMap::new(),
            idle_by_time: BTreeSet::new(),
            next_id: 0,
            in_flight: 0,
        }
    }

    /// Drops containers whose keep-alive ran out at or before `now`.
    fn expire(&mut self, now: SimTime) {
        while let Some(&(since, id)) = self.idle_by_time.first() {
            if since + self.keep_alive > now {
                break;
            }
            self.idle_by_time.pop_first();
            self.idle_by_id.remove(&id);
        }
    }

    /// Starts an invocation at `now`.
    pub fn invoke(&mut self, now: SimTime) -> Start {
        if self.in_flight >= self.concurrency_limit {
            return Start::Throttled;
        }
        self.in_flight += 1;
        self.expire(now);
        if let Some((id, since)) = self.idle_by_id.pop_last() {
            self.idle_by_time.remove(&(since, id));
            return Start::Warm(id);
        }
        self.next_id += 1;
        Start::Cold(self.next_id - 1)
    }

    /// An invocation on `container` ended at `now`; the container idles, warm.
    pub fn release(&mut self, container: u64, now: SimTime) {
        self.in_flight -= 1;
        self.idle_by_id.insert(container, now);
        self.idle_by_time.insert((now, container));
    }

    /// Invocations running.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Idle warm containers at `now`.
    pub fn warm(&mut self, now: SimTime) -> usize {
        self.expire(now);
        self.idle_by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(f.invoke(SimTime(140)), Start::Cold(2));
    }

    #[test]
    fn throttles_over_the_concurrency_limit() {
        let mut f = FaasFunction::new(SimDuration(100), 1);
        assert_eq!(f.invoke(SimTime(0)), Start::Cold(0));
        assert_eq!(f.invoke(SimTime(0)), Start::Throttled);
        assert_eq!(f.in_flight(), 1);
    }
}
