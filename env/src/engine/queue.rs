//! A priority queue of events ordered by time, FIFO among events at the same time (an insertion
//! counter breaks ties), so a run's event order is a pure function of its inputs.
//!
//! One kind of event schedules its own successor and is always pending exactly once: the next
//! arrival. It waits in a slot beside the heap ([`EventQueue::schedule_stream`]) instead of going
//! through it; its key comes from the same counter, so the order is the one a single heap gives,
//! and about a fifth of the heap's pushes and pops (one per request) disappear.
//!
//! Handling an event usually schedules another (a stage's completion, the next stage's entry), so
//! the popped top stays in the heap until then, and the next event scheduled takes its place with
//! one sift down instead of a pop and a push. The heap then holds the same keys as after a pop and
//! a push, and keys are unique, so events pop in the same order.

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
    /// The heap's top was handed out by [`EventQueue::pop_until`] and waits to be replaced.
    top_taken: bool,
    /// The pending event of the self-rescheduling stream, if any.
    stream: Option<Entry<E>>,
    now: SimTime,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), top_taken: false, stream: None, now: SimTime::ZERO, next_seq: 0 }
    }
}

impl<E: Copy> EventQueue<E> {
    /// The time of the last event popped (or the time set by [`EventQueue::advance_to`]).
    pub fn now(&self) -> SimTime {
        self.now
    }

    fn entry(&mut self, delay: SimDuration, event: E) -> Entry<E> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let time = self.now + delay;
        Entry { key: (u128::from(time.0) << 64) | u128::from(seq), event }
    }

    /// Schedules `event` `delay` after now.
    pub fn schedule(&mut self, delay: SimDuration, event: E) {
        let entry = self.entry(delay, event);
        if std::mem::take(&mut self.top_taken)
            && let Some(mut top) = self.heap.peek_mut()
        {
            *top = entry;
            return;
        }
        self.heap.push(entry);
    }

    /// Schedules the stream's next event `delay` after now, in order with every other event. The
    /// stream has one event pending at a time: call this again only once the last one was popped.
    pub fn schedule_stream(&mut self, delay: SimDuration, event: E) {
        debug_assert!(self.stream.is_none(), "the stream's last event is still pending");
        self.stream = Some(self.entry(delay, event));
    }

    /// Pops the earliest event if it happens at or before `limit`, advancing the clock to it.
    pub fn pop_until(&mut self, limit: SimTime) -> Option<E> {
        if std::mem::take(&mut self.top_taken) {
            self.heap.pop();
        }
        let heap_key = self.heap.peek().map_or(u128::MAX, |e| e.key);
        let stream_key = self.stream.as_ref().map_or(u128::MAX, |e| e.key);
        let key = heap_key.min(stream_key);
        if key == u128::MAX || time_of(key) > limit {
            return None;
        }
        let event = if stream_key < heap_key {
            self.stream.take()?.event
        } else {
            self.top_taken = true;
            self.heap.peek()?.event
        };
        self.now = time_of(key);
        Some(event)
    }

    /// Moves the clock forward to `t` (no-op if `t` is not later than now).
    pub fn advance_to(&mut self, t: SimTime) {
        self.now = self.now.max(t);
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len() - usize::from(self.top_taken) + usize::from(self.stream.is_some())
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn the_stream_slot_keeps_the_order_of_a_single_heap() {
        // The same schedule twice: once every event through the heap, once every third event
        // (chained: the next is scheduled when the last pops) through the stream slot.
        let run = |use_stream: bool| {
            let mut q = EventQueue::default();
            let mut rng = crate::rng::SimRng::new(3, crate::rng::Stream::Scenario);
            let mut order = vec![];
            let mut stream_pending = false;
            let mut id = 0u32;
            for _ in 0..400 {
                // delays on a coarse grid, so that ties are common
                if !stream_pending {
                    let delay = SimDuration(rng.below(4) * 5);
                    if use_stream {
                        q.schedule_stream(delay, (true, id))
                    } else {
                        q.schedule(delay, (true, id))
                    }
                    stream_pending = true;
                    id += 1;
                }
                for _ in 0..rng.below(3) {
                    q.schedule(SimDuration(rng.below(4) * 5), (false, id));
                    id += 1;
                }
                let limit = SimTime(q.now().0 + rng.below(12));
                while let Some((from_stream, event)) = q.pop_until(limit) {
                    stream_pending &= !from_stream;
                    order.push((q.now().0, event));
                }
                q.advance_to(limit);
            }
            order
        };
        let heap_only = run(false);
        assert!(heap_only.len() > 500, "{}", heap_only.len());
        assert_eq!(run(true), heap_only);
    }

    #[test]
    fn pops_what_a_sorted_list_would_under_any_interleaving() {
        // A pop followed by no schedule, one, or several; pops past the limit; the clock moved.
        let mut q = EventQueue::default();
        let mut list: Vec<(u64, u64, u32)> = vec![]; // (time, scheduling order, event)
        let mut rng = crate::rng::SimRng::new(7, crate::rng::Stream::Scenario);
        let (mut now, mut order, mut id) = (0u64, 0u64, 0u32);
        for _ in 0..3_000 {
            for _ in 0..rng.below(3) {
                let delay = rng.below(6) * 3;
                q.schedule(SimDuration(delay), id);
                list.push((now + delay, order, id));
                (order, id) = (order + 1, id + 1);
            }
            let limit = now + rng.below(8);
            loop {
                list.sort_unstable();
                let expected = list.first().filter(|e| e.0 <= limit).copied();
                assert_eq!(q.pop_until(SimTime(limit)), expected.map(|e| e.2));
                let Some((time, ..)) = expected else { break };
                list.remove(0);
                now = time;
                assert_eq!(q.now(), SimTime(now));
                assert_eq!(q.len(), list.len());
                if rng.below(2) == 0 {
                    break; // leave the rest for later, the popped top still in place
                }
            }
            if rng.below(4) == 0 {
                now = now.max(limit);
                q.advance_to(SimTime(limit));
            }
        }
        assert!(order > 2_000, "{order}");
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
