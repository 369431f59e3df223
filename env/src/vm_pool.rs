//! One stage's VM pool: boot, ready, drain, gone; slots and a FIFO queue; per-second billing.
//!
//! The pool holds one FIFO queue in front of all its VMs and dispatches to the first free slot, as a
//! load balancer with join-idle-queue does; with fixed VMs and exponential service this is exactly an
//! M/M/c queue. Scale-in never kills in-flight work: booting VMs are cancelled first (newest first),
//! then idle ready VMs stop, then the least busy VMs drain and stop when their last request ends.

use crate::engine::SimTime;
use crate::scenario::VmConfig;
use std::collections::VecDeque;

/// Index of a VM within its pool (never reused in an episode).
pub type VmId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VmState {
    Booting,
    Ready,
    Draining,
    Gone,
}

#[derive(Clone, Debug)]
struct Vm {
    state: VmState,
    requested_at: SimTime,
    busy: u32,
}

/// A request waiting for a slot, with when it started waiting.
#[derive(Clone, Copy, Debug)]
pub struct Queued {
    /// The waiting request.
    pub req: u32,
    /// When it joined the queue.
    pub since: SimTime,
}

/// The VMs of one stage.
#[derive(Debug)]
pub struct VmPool {
    slots: u32,
    price_per_s: f64,
    billing_minimum_s: f64,
    vms: Vec<Vm>,
    /// One entry per free slot of a ready VM; entries of VMs that stopped being ready are skipped.
    free_slots: Vec<VmId>,
    queue: VecDeque<Queued>,
    ready: u32,
    booting: u32,
    busy_slots: u32,
    /// Integrals over time (slot-microseconds), for utilisation.
    busy_area: u64,
    ready_area: u64,
    area_updated: SimTime,
    closed_billed_s: f64,
    launches: u64,
}

impl VmPool {
    /// A pool with `initial` VMs ready at time zero (billed from time zero).
    pub fn new(vm: &VmConfig, initial: u32) -> Self {
        let mut pool = Self {
            slots: vm.slots,
            price_per_s: vm.price_per_hour / 3600.0,
            billing_minimum_s: vm.billing_minimum_s,
            vms: Vec::new(),
            free_slots: Vec::new(),
            queue: VecDeque::new(),
            ready: 0,
            booting: 0,
            busy_slots: 0,
            busy_area: 0,
            ready_area: 0,
            area_updated: SimTime::ZERO,
            closed_billed_s: 0.0,
            launches: 0,
        };
        for _ in 0..initial {
            pool.vms.push(Vm { state: VmState::Booting, requested_at: SimTime::ZERO, busy: 0 });
            pool.booting += 1;
            pool.booted(pool.vms.len() as VmId - 1, SimTime::ZERO);
        }
        pool
    }

    fn update_area(&mut self, now: SimTime) {
        let dt = now.since(self.area_updated).0;
        // Saturating: only an absurdly long episode of a huge pool could reach u64::MAX.
        self.busy_area = self.busy_area.saturating_add(u64::from(self.busy_slots).saturating_mul(dt));
        self.ready_area =
            self.ready_area.saturating_add(u64::from(self.ready * self.slots).saturating_mul(dt));
        self.area_updated = now;
    }

    /// VMs ready to serve.
    pub fn ready(&self) -> u32 {
        self.ready
    }

    /// VMs booting.
    pub fn booting(&self) -> u32 {
        self.booting
    }

    /// Requests waiting.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Slots per VM.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// VMs launched this episode (each one a VM cold start).
    pub fn launches(&self) -> u64 {
        self.launches
    }

    /// Busy and ready slot-microseconds so far (utilisation = delta busy / delta ready).
    pub fn areas(&mut self, now: SimTime) -> (u64, u64) {
        self.update_area(now);
        (self.busy_area, self.ready_area)
    }

    /// Starts a new VM; the caller schedules its boot completion.
    pub fn launch(&mut self, now: SimTime) -> VmId {
        self.vms.push(Vm { state: VmState::Booting, requested_at: now, busy: 0 });
        self.booting += 1;
        self.launches += 1;
        self.vms.len() as VmId - 1
    }

    /// A boot finished; false if the VM was cancelled while booting.
    pub fn booted(&mut self, vm: VmId, now: SimTime) -> bool {
        if self.vms[vm as usize].state != VmState::Booting {
            return false;
        }
        self.update_area(now);
        self.vms[vm as usize].state = VmState::Ready;
        self.booting -= 1;
        self.ready += 1;
        self.free_slots.extend(std::iter::repeat_n(vm, self.slots as usize));
        true
    }

    /// Moves towards `target` committed VMs (ready + booting). Returns how many VMs to launch.
    pub fn scale_to(&mut self, target: u32, now: SimTime) -> u32 {
        let committed = self.ready + self.booting;
        if target >= committed {
            return target - committed;
        }
        let mut excess = committed - target;
        self.update_area(now);
        let mut stop_where = |pool: &mut Self, pick: &dyn Fn(&Vm) -> bool| {
            for id in (0..pool.vms.len()).rev() {
                if excess == 0 {
                    return;
                }
                if pick(&pool.vms[id]) {
                    pool.retire(id as VmId, now);
                    excess -= 1;
                }
            }
        };
        stop_where(self, &|vm| vm.state == VmState::Booting);
        stop_where(self, &|vm| vm.state == VmState::Ready && vm.busy == 0);
        while excess > 0 {
            let least_busy = (0..self.vms.len())
                .filter(|&id| self.vms[id].state == VmState::Ready)
                .min_by_key(|&id| (self.vms[id].busy, std::cmp::Reverse(id)));
            let Some(id) = least_busy else { break };
            self.retire(id as VmId, now);
            excess -= 1;
        }
        self.prune_free_slots();
        0
    }

    /// Stops a booting or idle VM now, or drains a busy one.
    fn retire(&mut self, id: VmId, now: SimTime) {
        let vm = &mut self.vms[id as usize];
        match vm.state {
            VmState::Booting => {
                self.booting -= 1;
                self.terminate(id, now);
            }
            VmState::Ready if vm.busy == 0 => {
                self.ready -= 1;
                self.terminate(id, now);
            }
            VmState::Ready => {
                vm.state = VmState::Draining;
                self.ready -= 1;
            }
            VmState::Draining | VmState::Gone => {}
        }
    }

    fn terminate(&mut self, id: VmId, now: SimTime) {
        let vm = &mut self.vms[id as usize];
        vm.state = VmState::Gone;
        let billed = now.since(vm.requested_at).as_secs_f64().ceil().max(self.billing_minimum_s);
        self.closed_billed_s += billed;
    }

    fn prune_free_slots(&mut self) {
        let vms = &self.vms;
        self.free_slots.retain(|&id| vms[id as usize].state == VmState::Ready);
    }

    /// True if a ready VM has a free slot.
    pub fn has_free_slot(&self) -> bool {
        !self.free_slots.is_empty()
    }

    /// Claims a free slot, returning its VM.
    pub fn take_slot(&mut self, now: SimTime) -> Option<VmId> {
        let vm = self.free_slots.pop()?;
        self.update_area(now);
        self.vms[vm as usize].busy += 1;
        self.busy_slots += 1;
        Some(vm)
    }

    /// Puts a request in the FIFO queue.
    pub fn enqueue(&mut self, req: u32, now: SimTime) {
        self.queue.push_back(Queued { req, since: now });
    }

    /// A request finished on `vm`. Returns the queued request that takes over the slot, if any;
    /// otherwise frees the slot (and stops the VM if it was draining and is now idle).
    pub fn finish(&mut self, vm: VmId, now: SimTime) -> Option<Queued> {
        if self.vms[vm as usize].state == VmState::Ready
            && let Some(next) = self.queue.pop_front()
        {
            return Some(next);
        }
        self.update_area(now);
        self.busy_slots -= 1;
        let state = &mut self.vms[vm as usize];
        state.busy -= 1;
        match state.state {
            VmState::Ready => self.free_slots.push(vm),
            VmState::Draining if state.busy == 0 => self.terminate(vm, now),
            _ => {}
        }
        None
    }

    /// Takes a queued request for a newly freed slot (after a boot).
    pub fn dequeue(&mut self) -> Option<Queued> {
        self.queue.pop_front()
    }

    /// Billed VM-seconds so far: closed VMs as billed, live ones accrued to `now` (unrounded).
    pub fn billed_seconds(&self, now: SimTime) -> f64 {
        let live: f64 = self
            .vms
            .iter()
            .filter(|vm| vm.state != VmState::Gone)
            .map(|vm| now.since(vm.requested_at).as_secs_f64())
            .sum();
        self.closed_billed_s + live
    }

    /// Dollars per billed VM-second.
    pub fn price_per_s(&self) -> f64 {
        self.price_per_s
    }

    /// Stops every VM at `now` (the episode's end), applying rounding and the billing minimum.
    pub fn close_all(&mut self, now: SimTime) {
        for id in 0..self.vms.len() {
            if self.vms[id].state != VmState::Gone {
                self.terminate(id as VmId, now);
            }
        }
        self.ready = 0;
        self.booting = 0;
        self.free_slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;

    fn vm_config() -> VmConfig {
        VmConfig {
            name: "t".into(),
            price_per_hour: 3.6,
            slots: 2,
            boot_s: Dist::Deterministic(100.0),
            billing_minimum_s: 60.0,
            max_per_stage: 10,
            initial_per_stage: 0,
        }
    }

    #[test]
    fn scale_in_cancels_booting_then_idle_then_drains_busy() {
        let mut pool = VmPool::new(&vm_config(), 2);
        let t = SimTime::from_secs(1);
        assert_eq!(pool.take_slot(t), Some(1));
        assert_eq!(pool.scale_to(4, t), 2);
        let (a, _b) = (pool.launch(t), pool.launch(t));
        assert_eq!((pool.ready(), pool.booting()), (2, 2));
        pool.scale_to(1, t);
        // both booting VMs cancelled, the idle VM 0 stopped, busy VM 1 stays
        assert_eq!((pool.ready(), pool.booting()), (1, 0));
        assert!(!pool.booted(a, SimTime::from_secs(101)));
        pool.scale_to(0, t);
        assert_eq!(pool.ready(), 0);
        assert!(pool.finish(1, SimTime::from_secs(2)).is_none());
        // VM 0: 1 s -> minimum 60; VM 1: drained at 2 s -> 60; two cancelled boots: 60 each.
        assert_eq!(pool.billed_seconds(SimTime::from_secs(500)), 240.0);
    }

    #[test]
    fn finish_hands_the_slot_to_the_queue_head() {
        let mut pool = VmPool::new(&vm_config(), 1);
        let t = SimTime::ZERO;
        pool.take_slot(t);
        pool.take_slot(t);
        assert!(!pool.has_free_slot());
        pool.enqueue(7, t);
        pool.enqueue(8, t);
        assert_eq!(pool.finish(0, SimTime(5)).map(|q| q.req), Some(7));
        assert_eq!(pool.queue_len(), 1);
    }
}
