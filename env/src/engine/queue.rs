//! A priority queue of events ordered by time, FIFO among events at the same time (an insertion
//! counter breaks ties), so a run's event order is a pure function of its inputs.

use super::time::{SimDuration, SimTime};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A pending event; `key` is the time in the high 64 bits and the insertion counter in the low 64,
/// so one integer comparison orders by time, then scheduling order (cheaper than comparing a tuple).
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap, we pop the earliest key.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

fn time_of(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// Pending events and the current simulated time.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    now: SimTime,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), now: SimTime::ZERO, next_seq: 0 }
    }
}

impl<E> EventQueue<E> {
    /// The time of the last event popped (or the time set by [`EventQueue::advance_to`]).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` `delay` after now.
    pub fn schedule(&mut self, delay: SimDuration, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let time = self.now + delay;
        self.heap.push(Entry { key: (u128::from(time.0) << 64) | u128::from(seq), event });
    }

    /// Pops the earliest event if it happens at or before `limit`, advancing the clock to it.
    pub fn pop_until(&mut self, limit: SimTime) -> Option<E> {
        if time_of(self.heap.peek()?.key) > limit {
            return None;
        }
        let entry = self.heap.pop()?;
        self.now = time_of(entry.key);
        Some(entry.event)
    }

    /// Moves the clock forward to `t` (no-op if `t` is not later than now).
    pub fn advance_to(&mut self, t: SimTime) {
        self.now = self.now.max(t);
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.schedule(SimDuration(5), "b");
        q.schedule(SimDuration(1), "a");
        q.schedule(SimDuration(5), "c");
        let mut order = vec![];
        while let Some(e) = q.pop_until(SimTime(10)) {
            order.push((q.now().0, e));
        }
        assert_eq!(order, vec![(1, "a"), (5, "b"), (5, "c")]);
    }

    #[test]
    fn pop_until_leaves_later_events_and_clock_alone() {
        let mut q = EventQueue::default();
        q.schedule(SimDuration(20), ());
        assert!(q.pop_until(SimTime(10)).is_none());
        assert_eq!(q.now(), SimTime::ZERO);
        q.advance_to(SimTime(10));
        q.schedule(SimDuration(1), ());
        assert_eq!(q.pop_until(SimTime(15)), Some(()));
        assert_eq!(q.now(), SimTime(11));
        assert_eq!(q.len(), 1);
    }
}
