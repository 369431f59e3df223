//! Requests in flight, in a slab whose slots are reused, so the per-request hot path does not
//! allocate once the slab has grown to the peak number in flight.

use crate::engine::SimTime;

/// A request's index in the slab, carried by its events.
pub(super) type ReqId = u32;

/// One request between its arrival and its exit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Request {
    /// When it reached the front end.
    pub arrival: SimTime,
    /// When it reached its current stage (for the stage's sojourn time).
    pub stage_entered: SimTime,
    /// Its size (e.g. prompt tokens), 0 when the workload has none.
    pub size: f32,
    /// The stage it is at.
    pub stage: u16,
}

/// The slab.
#[derive(Default)]
pub(super) struct Requests {
    slots: Vec<Request>,
    free: Vec<ReqId>,
}

impl Requests {
    /// Stores `r`, reusing a freed slot when there is one.
    pub fn insert(&mut self, r: Request) -> ReqId {
        if let Some(id) = self.free.pop() {
            self.slots[id as usize] = r;
            id
        } else {
            self.slots.push(r);
            self.slots.len() as ReqId - 1
        }
    }

    /// Frees `id`'s slot (its contents stay until reused).
    pub fn remove(&mut self, id: ReqId) {
        self.free.push(id);
    }

    /// The request `id`.
    pub fn get(&self, id: ReqId) -> &Request {
        &self.slots[id as usize]
    }

    /// The request `id`, to update.
    pub fn get_mut(&mut self, id: ReqId) -> &mut Request {
        &mut self.slots[id as usize]
    }

    /// Requests stored and not removed.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: u16) -> Request {
        Request { arrival: SimTime::ZERO, stage_entered: SimTime::ZERO, size: 0.0, stage }
    }

    #[test]
    fn freed_slots_are_reused_last_freed_first() {
        let mut slab = Requests::default();
        let a = slab.insert(at(0));
        let b = slab.insert(at(1));
        assert_eq!((a, b, slab.in_flight()), (0, 1, 2));
        slab.remove(a);
        assert_eq!(slab.in_flight(), 1);
        let c = slab.insert(at(2));
        assert_eq!(c, a, "the freed slot is reused instead of growing the slab");
        assert_eq!(slab.get(c).stage, 2);
        slab.get_mut(b).stage = 3;
        assert_eq!(slab.get(b).stage, 3);
        assert_eq!(slab.in_flight(), 2);
    }
}
