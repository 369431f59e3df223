//! The staged VM/FaaS system as a discrete-event simulation, advanced one control interval at a time.
//!
//! Each request arrives at stage 0; at every stage the stage's balancer sends it to the VM pool or the
//! function; after the stage it exits with the stage's (possibly drifting, size-dependent) exit
//! probability or moves on, paying the transmission between the two places. Costs accrue per stage and
//! service; end-to-end latency is checked against the SLO. Determinism: everything random is drawn
//! from per-component streams of the episode seed ([`crate::rng`]), and events at equal times run in
//! scheduling order, so a seed fixes the episode bit for bit.
//!
//! This file is the event loop; the concerns it drives live beside it: `requests` (the slab of
//! requests in flight), `balancer` (VM or FaaS), `exits` (where requests leave), `interval`
//! (per-interval accounting), `observe` (the observation) and `report` (the episode's totals).
//! VM billing lives in [`crate::vm_pool`], FaaS billing in [`crate::faas`].

mod balancer;
mod exits;
mod interval;
mod observe;
mod report;
mod requests;

pub use interval::IntervalReport;

use crate::dist::Dist;
use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::faas::{ContainerId, FaasBilling, FaasFunction, Start};
use crate::metrics::{CostReport, LatencyHistogram, StageReport};
use crate::network::{Network, Place};
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::vm_pool::{VmId, VmPool};
use crate::workload::{Arrival, ArrivalSource};
use balancer::Balancer;
use exits::ExitModel;
use interval::IntervalAccounts;
use observe::StageInterval;
use requests::{ReqId, Request, Requests};
use serflow_policies::{Action, Observation, StageAction};
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival,
    Enter { req: ReqId, place: Place },
    VmBooted { stage: u16, vm: VmId },
    VmDone { stage: u16, vm: VmId, req: ReqId },
    FaasDone { stage: u16, container: ContainerId, req: ReqId },
}

/// One stage at run time: its pool, its function, its balancer, its random streams and totals.
struct StageRuntime {
    pool: VmPool,
    faas: FaasFunction,
    balancer: Balancer,
    faas_service_ms: Dist,
    vm_rng: SimRng,
    faas_rng: SimRng,
    mean_vm_service_ms: f64,
    memory_gb: f64,
    report: StageReport,
    interval: StageInterval,
}

impl StageRuntime {
    /// The stage's dollars so far (VMs billed up to `now`, FaaS, outgoing transfers).
    fn cost(&self, now: SimTime) -> CostReport {
        let vm = self.pool.billed_seconds(now) * self.pool.price_per_s();
        let (faas, transfer) = (self.report.faas.cost, self.report.transfer_cost);
        CostReport { total: vm + faas + transfer, vm, faas, transfer }
    }
}

/// The simulator of one episode.
pub struct Simulator {
    scenario: Arc<Scenario>,
    seed: u64,
    events: EventQueue<Event>,
    source: ArrivalSource,
    next_arrival: Option<Arrival>,
    requests: Requests,
    stages: Vec<StageRuntime>,
    network: Network,
    exits: ExitModel,
    faas_billing: FaasBilling,
    exit_rng: SimRng,
    boot_rng: SimRng,
    cold_rng: SimRng,
    faas_overhead: SimDuration,
    slo_us: u64,
    interval: SimDuration,
    horizon: SimTime,
    latency: LatencyHistogram,
    // episode totals outside stages
    front_arrivals: u64,
    completed: u64,
    slow: u64,
    failed: u64,
    accounts: IntervalAccounts,
    previous_rate: f32,
    observation: Observation,
}

impl Simulator {
    /// A fresh episode of `scenario` with `seed`, at time zero, the scenario's initial VMs ready.
    pub fn new(scenario: Arc<Scenario>, seed: u64) -> Self {
        let initial = vec![scenario.config.vm.initial_per_stage; scenario.n_stages()];
        Self::starting_with(scenario, seed, &initial)
    }

    /// A fresh episode of `scenario` with `seed` whose stages start with `initial_vms[k]` ready VMs
    /// (one per stage) instead of the scenario's count.
    pub fn starting_with(scenario: Arc<Scenario>, seed: u64, initial_vms: &[u32]) -> Self {
        let cfg = &scenario.config;
        let horizon = SimTime::ZERO + SimDuration::from_secs_f64(cfg.horizon_s);
        let keep_alive = SimDuration::from_secs_f64(cfg.faas.keep_alive_s);
        let stages = cfg
            .stages
            .iter()
            .enumerate()
            .map(|(k, st)| StageRuntime {
                pool: VmPool::new(&cfg.vm, initial_vms[k]),
                faas: FaasFunction::new(keep_alive, cfg.faas.concurrency_limit),
                balancer: Balancer::default(),
                faas_service_ms: scenario.faas_service_ms(k),
                vm_rng: SimRng::new(seed, Stream::VmService(k)),
                faas_rng: SimRng::new(seed, Stream::FaasService(k)),
                mean_vm_service_ms: st.vm_service_ms.mean(),
                memory_gb: st.faas_memory_mb / 1024.0,
                report: StageReport { name: st.name.clone(), ..StageReport::default() },
                interval: StageInterval::default(),
            })
            .collect();
        let mut scenario_rng = SimRng::new(seed, Stream::Scenario);
        let exits = ExitModel::new(&scenario, || scenario_rng.uniform());
        let mut source = scenario.workload.source(SimRng::new(seed, Stream::Arrivals), horizon);
        let next_arrival = source.next_arrival();
        let mut events = EventQueue::default();
        if let Some(a) = next_arrival {
            events.schedule_stream(a.time.since(SimTime::ZERO), Event::Arrival);
        }
        let mut sim = Self {
            seed,
            events,
            source,
            next_arrival,
            requests: Requests::default(),
            stages,
            network: Network::new(&cfg.network),
            exits,
            faas_billing: FaasBilling::new(&cfg.faas),
            exit_rng: SimRng::new(seed, Stream::Exits),
            boot_rng: SimRng::new(seed, Stream::Boot),
            cold_rng: SimRng::new(seed, Stream::ColdStart),
            faas_overhead: SimDuration::from_millis_f64(cfg.faas.invocation_overhead_ms),
            slo_us: SimDuration::from_millis_f64(cfg.slo.latency_ms).0,
            interval: SimDuration::from_secs_f64(cfg.control_interval_s),
            horizon,
            latency: LatencyHistogram::default(),
            front_arrivals: 0,
            completed: 0,
            slow: 0,
            failed: 0,
            accounts: IntervalAccounts::new(cfg.stages.len()),
            previous_rate: 0.0,
            observation: Observation::zeros(cfg.stages.len()),
            scenario,
        };
        sim.observe(0, 0.0, 1.0);
        sim
    }

    /// The scenario being simulated.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The observation at the current decision time.
    pub fn observation(&self) -> &Observation {
        &self.observation
    }

    /// Simulated time now.
    pub fn now(&self) -> SimTime {
        self.events.now()
    }

    /// True once the horizon is reached.
    pub fn at_horizon(&self) -> bool {
        self.events.now() >= self.horizon
    }

    /// Applies `action` now and simulates one control interval. Stages missing from the action
    /// [`StageAction::hold`] their VM count (booting included).
    pub fn step(&mut self, action: &Action) -> IntervalReport {
        self.apply(action);
        let end = self.events.now() + self.interval;
        self.run_until(end);
        self.events.advance_to(end);
        self.close_interval()
    }

    fn apply(&mut self, action: &Action) {
        let now = self.events.now();
        let max_vms = self.scenario.config.vm.max_per_stage;
        for (k, st) in self.stages.iter_mut().enumerate() {
            let a = match action.stages.get(k) {
                Some(a) => *a,
                None => StageAction::hold(st.pool.ready() + st.pool.booting()),
            };
            st.balancer.set(a.vm_share, a.vm_rate_limit);
            for _ in 0..st.pool.scale_to(a.vm_target.min(max_vms), now) {
                let vm = st.pool.launch(now);
                let boot = self.scenario.config.vm.boot_s.sample(&mut self.boot_rng);
                self.events
                    .schedule(SimDuration::from_secs_f64(boot), Event::VmBooted { stage: k as u16, vm });
            }
        }
        for k in 0..self.stages.len() {
            self.spill_stranded_queue(k);
        }
    }

    /// A scale-in that leaves stage `k` no ready or booting VM would strand its queue (draining VMs
    /// take no new work): the balancer sends the queued requests to the stage's function instead,
    /// in queue order. Their transfer into the stage was priced when they were routed.
    fn spill_stranded_queue(&mut self, k: usize) {
        let pool = &self.stages[k].pool;
        if pool.ready() + pool.booting() > 0 {
            return;
        }
        while let Some(queued) = self.stages[k].pool.dequeue() {
            self.invoke_faas(k, queued.req);
        }
    }

    fn run_until(&mut self, limit: SimTime) {
        while let Some(event) = self.events.pop_until(limit) {
            match event {
                Event::Arrival => self.on_arrival(),
                Event::Enter { req, place } => self.dispatch(req, place),
                Event::VmBooted { stage, vm } => self.on_booted(stage as usize, vm),
                Event::VmDone { stage, vm, req } => self.on_vm_done(stage as usize, vm, req),
                Event::FaasDone { stage, container, req } => {
                    self.on_faas_done(stage as usize, container, req)
                }
            }
        }
    }

    fn on_arrival(&mut self) {
        let Some(a) = self.next_arrival.take() else {
            return;
        };
        let now = self.events.now();
        self.front_arrivals += 1;
        self.accounts.front += 1;
        let req = self.requests.insert(Request { arrival: now, stage_entered: now, size: a.size, stage: 0 });
        let place = self.route(0);
        self.dispatch(req, place);
        self.next_arrival = self.source.next_arrival();
        if let Some(next) = self.next_arrival {
            self.events.schedule_stream(next.time.since(now), Event::Arrival);
        }
    }

    /// Counts an arrival at stage `k` and asks its balancer where it runs.
    fn route(&mut self, k: usize) -> Place {
        let now = self.events.now();
        let st = &mut self.stages[k];
        st.interval.arrivals += 1;
        st.report.arrivals += 1;
        let bound = self.scenario.config.balancer.vm_queue_wait_ms;
        st.balancer.route(now, &st.pool, st.mean_vm_service_ms, bound)
    }

    /// The request reaches its stage's VM pool or function.
    fn dispatch(&mut self, req: ReqId, place: Place) {
        let now = self.events.now();
        let r = self.requests.get_mut(req);
        r.stage_entered = now;
        let k = r.stage as usize;
        if place == Place::Vm {
            let pool = &mut self.stages[k].pool;
            if let Some(vm) = pool.take_slot(now) {
                self.start_on_vm(k, vm, req);
                return;
            }
            if pool.ready() + pool.booting() > 0 {
                pool.enqueue(req, now);
                return;
            }
        }
        self.invoke_faas(k, req);
    }

    fn start_on_vm(&mut self, k: usize, vm: VmId, req: ReqId) {
        let st = &mut self.stages[k];
        st.report.vm.invocations += 1;
        let ms = self.scenario.config.stages[k].vm_service_ms.sample(&mut st.vm_rng);
        self.events.schedule(SimDuration::from_millis_f64(ms), Event::VmDone { stage: k as u16, vm, req });
    }

    fn invoke_faas(&mut self, k: usize, req: ReqId) {
        let now = self.events.now();
        let st = &mut self.stages[k];
        st.interval.faas += 1;
        let (container, cold) = match st.faas.invoke(now) {
            Start::Throttled => {
                st.report.faas.throttled += 1;
                self.fail(req);
                return;
            }
            Start::Warm(c) => (c, SimDuration(0)),
            Start::Cold(c) => {
                st.report.faas.cold_starts += 1;
                let ms = self.scenario.config.faas.cold_start_ms.sample(&mut self.cold_rng);
                (c, SimDuration::from_millis_f64(ms))
            }
        };
        let service = SimDuration::from_millis_f64(st.faas_service_ms.sample(&mut st.faas_rng));
        self.faas_billing.charge(&mut st.report.faas, st.memory_gb, service, cold);
        let latency = self.faas_overhead + cold + service;
        self.events.schedule(latency, Event::FaasDone { stage: k as u16, container, req });
    }

    fn on_booted(&mut self, k: usize, vm: VmId) {
        let now = self.events.now();
        if !self.stages[k].pool.booted(vm, now) {
            return;
        }
        // Fill the new slots from the queue.
        while self.stages[k].pool.queue_len() > 0 {
            let pool = &mut self.stages[k].pool;
            let Some(slot_vm) = pool.take_slot(now) else {
                break;
            };
            let Some(next) = pool.dequeue() else { break };
            self.record_wait(k, next.since);
            self.start_on_vm(k, slot_vm, next.req);
        }
    }

    fn record_wait(&mut self, k: usize, since: SimTime) {
        let wait = &mut self.stages[k].report.vm.wait_us;
        *wait = wait.saturating_add(self.events.now().since(since).0);
    }

    fn on_vm_done(&mut self, k: usize, vm: VmId, req: ReqId) {
        let now = self.events.now();
        if let Some(next) = self.stages[k].pool.finish(vm, now) {
            self.record_wait(k, next.since);
            self.start_on_vm(k, vm, next.req);
        }
        self.complete_stage(k, req, Place::Vm);
    }

    fn on_faas_done(&mut self, k: usize, container: ContainerId, req: ReqId) {
        let now = self.events.now();
        self.stages[k].faas.release(container, now);
        self.complete_stage(k, req, Place::Faas);
    }

    /// The request finished stage `k` on `place`: it exits, or moves to the next stage.
    fn complete_stage(&mut self, k: usize, req: ReqId, place: Place) {
        let now = self.events.now();
        let r = *self.requests.get(req);
        let sojourn = now.since(r.stage_entered).0;
        self.stages[k].interval.sojourn_us.push(sojourn.min(u64::from(u32::MAX)) as u32);
        if self.exits.exits(k, now.as_secs_f64(), r.size, &mut self.exit_rng) {
            self.finish_request(req, now.since(r.arrival).0);
            return;
        }
        let next_place = self.route(k + 1);
        let activation_bytes = self.scenario.config.stages[k].activation_bytes;
        let transfer = self.network.transfer(place, next_place, activation_bytes);
        self.stages[k].report.transfer_cost += transfer.cost;
        self.requests.get_mut(req).stage = (k + 1) as u16;
        self.events.schedule(transfer.delay, Event::Enter { req, place: next_place });
    }

    fn finish_request(&mut self, req: ReqId, latency_us: u64) {
        self.requests.remove(req);
        self.latency.record(latency_us);
        self.completed += 1;
        let slow = latency_us > self.slo_us;
        self.slow += u64::from(slow);
        self.accounts.finished(slow);
    }

    fn fail(&mut self, req: ReqId) {
        self.requests.remove(req);
        self.failed += 1;
        self.accounts.throttled += 1;
        self.accounts.finished(true);
    }
}
