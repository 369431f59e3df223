//! The staged VM/FaaS system as a discrete-event simulation, advanced one control interval at a time.
//!
//! Each request arrives at stage 0; at every stage the stage's balancer sends it to the VM pool or the
//! function; after the stage it exits with the stage's (possibly drifting, size-dependent) exit
//! probability or moves on, paying the transmission between the two places. Costs accrue per stage and
//! service; end-to-end latency is checked against the SLO. Determinism: everything random is drawn
//! from per-component streams of the episode seed ([`crate::rng`]), and events at equal times run in
//! scheduling order, so a seed fixes the episode bit for bit.

use crate::dist::Dist;
use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::faas::{ContainerId, FaasFunction, Start};
use crate::metrics::{
    ColdStartReport, CostReport, EpisodeReport, InvocationReport, LatencyHistogram, RequestReport, SloReport,
    StageReport, ViolationReport, quantile_in_place,
};
use crate::network::{Network, Place};
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::vm_pool::{VmId, VmPool};
use crate::workload::{Arrival, ArrivalSource};
use serflow_policies::{Action, GlobalFeature, Observation, StageAction, StageFeature};
use std::sync::Arc;

type ReqId = u32;

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival,
    Enter { req: ReqId, place: Place },
    VmBooted { stage: u16, vm: VmId },
    VmDone { stage: u16, vm: VmId, req: ReqId },
    FaasDone { stage: u16, container: ContainerId, req: ReqId },
}

#[derive(Clone, Copy, Debug)]
struct Request {
    arrival: SimTime,
    stage_entered: SimTime,
    size: f32,
    stage: u16,
}

/// Requests in flight, in a slab whose slots are reused, so the hot path does not allocate.
#[derive(Default)]
struct Requests {
    slots: Vec<Request>,
    free: Vec<ReqId>,
}

impl Requests {
    fn insert(&mut self, r: Request) -> ReqId {
        if let Some(id) = self.free.pop() {
            self.slots[id as usize] = r;
            id
        } else {
            self.slots.push(r);
            self.slots.len() as ReqId - 1
        }
    }

    fn remove(&mut self, id: ReqId) {
        self.free.push(id);
    }

    fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// Counters for the interval in progress (reset at every decision).
#[derive(Default)]
struct StageInterval {
    arrivals: u64,
    faas: u64,
    sojourn_us: Vec<u32>,
    busy_area: u64,
    ready_area: u64,
}

struct StageRuntime {
    pool: VmPool,
    faas: FaasFunction,
    vm_service_ms: Dist,
    faas_service_ms: Dist,
    vm_rng: SimRng,
    faas_rng: SimRng,
    mean_vm_service_ms: f64,
    exit_probability: f64,
    memory_gb: f64,
    activation_bytes: f64,
    max_vms: u32,
    // balancer state
    share: f32,
    credit: f32,
    rate_limit: Option<f32>,
    window_second: u64,
    window_count: u32,
    report: StageReport,
    interval: StageInterval,
}

/// What happened during one control interval (the environment's `info`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntervalReport {
    /// Simulated time at the end of the interval, seconds.
    pub time_s: f64,
    /// Dollars accrued during the interval.
    pub cost: f64,
    /// Of which VMs.
    pub vm_cost: f64,
    /// Of which FaaS.
    pub faas_cost: f64,
    /// Of which transfers.
    pub transfer_cost: f64,
    /// Front-end arrivals.
    pub arrivals: u64,
    /// Requests that finished (completed or failed).
    pub finished: u64,
    /// Finished requests that violated the SLO (slow or failed).
    pub violations: u64,
    /// Failed (throttled) requests.
    pub throttled: u64,
    /// Fraction of stage executions dispatched to FaaS.
    pub faas_share: f64,
    /// VMs launched.
    pub vm_cold_starts: u64,
    /// FaaS cold starts.
    pub faas_cold_starts: u64,
    /// Fraction of finished requests within the SLO (1 when none finished).
    pub slo_attainment: f64,
    /// Dollars accrued during the interval by each stage (VMs, FaaS and its outgoing transfers), in
    /// pipeline order; they sum to `cost`.
    pub stage_costs: Vec<f64>,
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
    exit_rng: SimRng,
    boot_rng: SimRng,
    cold_rng: SimRng,
    boot_s: Dist,
    cold_start_ms: Dist,
    faas_price_per_gb_s: f64,
    faas_price_per_request: f64,
    faas_granularity_us: u64,
    faas_overhead: SimDuration,
    init_billed: bool,
    bounded_queue_wait_ms: Option<f64>,
    exit_drift: Option<(f64, f64, f64)>,
    size_exit: Option<(f64, f64)>,
    slo_us: u64,
    interval: SimDuration,
    horizon: SimTime,
    latency: LatencyHistogram,
    // episode totals outside stages
    front_arrivals: u64,
    completed: u64,
    slow: u64,
    failed: u64,
    // interval counters and carried values
    interval_front: u64,
    interval_finished: u64,
    interval_violations: u64,
    interval_throttled: u64,
    cost_at_interval_start: CostReport,
    stage_costs_at_interval_start: Vec<f64>,
    cold_at_interval_start: (u64, u64),
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
        let interval = SimDuration::from_secs_f64(cfg.control_interval_s);
        let horizon = SimTime::ZERO + SimDuration::from_secs_f64(cfg.horizon_s);
        let keep_alive = SimDuration::from_secs_f64(cfg.faas.keep_alive_s);
        let stages = cfg
            .stages
            .iter()
            .enumerate()
            .map(|(k, st)| StageRuntime {
                pool: VmPool::new(&cfg.vm, initial_vms[k]),
                faas: FaasFunction::new(keep_alive, cfg.faas.concurrency_limit),
                vm_service_ms: st.vm_service_ms.clone(),
                faas_service_ms: scenario.faas_service_ms(k),
                vm_rng: SimRng::new(seed, Stream::VmService(k)),
                faas_rng: SimRng::new(seed, Stream::FaasService(k)),
                mean_vm_service_ms: st.vm_service_ms.mean(),
                exit_probability: if k + 1 == cfg.stages.len() { 1.0 } else { st.exit_probability },
                memory_gb: st.faas_memory_mb / 1024.0,
                activation_bytes: st.activation_bytes,
                max_vms: cfg.vm.max_per_stage,
                share: 0.0,
                credit: 0.0,
                rate_limit: None,
                window_second: u64::MAX,
                window_count: 0,
                report: StageReport { name: st.name.clone(), ..StageReport::default() },
                interval: StageInterval::default(),
            })
            .collect();
        let mut scenario_rng = SimRng::new(seed, Stream::Scenario);
        let exit_drift = cfg
            .exit_drift
            .as_ref()
            .map(|d| (d.amplitude, d.period_s, scenario_rng.uniform() * std::f64::consts::TAU));
        let size_exit = match (&cfg.size_exit, scenario.workload.median_size()) {
            (Some(se), Some(median)) if median > 0.0 => Some((se.elasticity, median)),
            _ => None,
        };
        let mut source = scenario.workload.source(SimRng::new(seed, Stream::Arrivals), horizon);
        let next_arrival = source.next_arrival();
        let mut events = EventQueue::default();
        if let Some(a) = next_arrival {
            events.schedule(a.time.since(SimTime::ZERO), Event::Arrival);
        }
        let n_stages = cfg.stages.len();
        let mut sim = Self {
            seed,
            events,
            source,
            next_arrival,
            requests: Requests::default(),
            stages,
            network: Network::new(&cfg.network),
            exit_rng: SimRng::new(seed, Stream::Exits),
            boot_rng: SimRng::new(seed, Stream::Boot),
            cold_rng: SimRng::new(seed, Stream::ColdStart),
            boot_s: cfg.vm.boot_s.clone(),
            cold_start_ms: cfg.faas.cold_start_ms.clone(),
            faas_price_per_gb_s: cfg.faas.price_per_gb_s,
            faas_price_per_request: cfg.faas.price_per_request,
            faas_granularity_us: SimDuration::from_millis_f64(cfg.faas.billing_granularity_ms).0.max(1),
            faas_overhead: SimDuration::from_millis_f64(cfg.faas.invocation_overhead_ms),
            init_billed: cfg.faas.init_billed,
            bounded_queue_wait_ms: cfg.balancer.vm_queue_wait_ms,
            exit_drift,
            size_exit,
            slo_us: SimDuration::from_millis_f64(cfg.slo.latency_ms).0,
            interval,
            horizon,
            latency: LatencyHistogram::default(),
            front_arrivals: 0,
            completed: 0,
            slow: 0,
            failed: 0,
            interval_front: 0,
            interval_finished: 0,
            interval_violations: 0,
            interval_throttled: 0,
            cost_at_interval_start: CostReport::default(),
            stage_costs_at_interval_start: vec![0.0; scenario.n_stages()],
            cold_at_interval_start: (0, 0),
            previous_rate: 0.0,
            observation: Observation::zeros(n_stages),
            scenario,
        };
        sim.observe(0.0, 1.0);
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

    /// Per-stage VM maximum (for action masks).
    pub fn max_vms(&self) -> Vec<u32> {
        self.stages.iter().map(|s| s.max_vms).collect()
    }

    /// Applies `action` now and simulates one control interval. Stages missing from the action hold
    /// their VM count and send everything to FaaS.
    pub fn step(&mut self, action: &Action) -> IntervalReport {
        self.apply(action);
        let end = self.events.now() + self.interval;
        self.run_until(end);
        self.events.advance_to(end);
        self.close_interval()
    }

    fn apply(&mut self, action: &Action) {
        let now = self.events.now();
        for k in 0..self.stages.len() {
            let st = &mut self.stages[k];
            let a = action.stages.get(k).copied().unwrap_or(StageAction {
                vm_target: st.pool.ready() + st.pool.booting(),
                ..StageAction::FAAS_ONLY
            });
            let share = if a.vm_share.is_finite() { a.vm_share.clamp(0.0, 1.0) } else { 0.0 };
            if share != st.share {
                st.credit = 0.0;
            }
            st.share = share;
            st.rate_limit = a.vm_rate_limit.filter(|l| l.is_finite()).map(|l| l.max(0.0));
            let launches = st.pool.scale_to(a.vm_target.min(st.max_vms), now);
            for _ in 0..launches {
                let vm = self.stages[k].pool.launch(now);
                let boot = SimDuration::from_secs_f64(self.boot_s.sample(&mut self.boot_rng));
                self.events.schedule(boot, Event::VmBooted { stage: k as u16, vm });
            }
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
        self.interval_front += 1;
        let req = self.requests.insert(Request { arrival: now, stage_entered: now, size: a.size, stage: 0 });
        let place = self.route(0);
        self.dispatch(req, place);
        self.next_arrival = self.source.next_arrival();
        if let Some(next) = self.next_arrival {
            self.events.schedule(next.time.since(now), Event::Arrival);
        }
    }

    /// The stage's balancer: offered to VMs by share and rate limit, admitted if the VMs can take it
    /// without breaking the queueing bound; everything else to FaaS.
    fn route(&mut self, k: usize) -> Place {
        let now = self.events.now();
        let bounded = self.bounded_queue_wait_ms;
        let st = &mut self.stages[k];
        st.interval.arrivals += 1;
        st.report.arrivals += 1;
        if st.share <= 0.0 {
            return Place::Faas;
        }
        st.credit += st.share;
        if st.credit < 1.0 {
            return Place::Faas;
        }
        st.credit -= 1.0;
        if let Some(limit) = st.rate_limit {
            let second = now.0 / 1_000_000;
            if second != st.window_second {
                st.window_second = second;
                st.window_count = 0;
            }
            if f64::from(st.window_count) >= f64::from(limit).floor() {
                return Place::Faas;
            }
            st.window_count += 1;
        }
        if st.pool.has_free_slot() {
            return Place::Vm;
        }
        let admitted = match bounded {
            None => st.pool.ready() + st.pool.booting() > 0,
            Some(max_wait_ms) => {
                let ready_slots = f64::from(st.pool.ready() * st.pool.slots());
                ready_slots > 0.0
                    && (st.pool.queue_len() + 1) as f64 * st.mean_vm_service_ms / ready_slots <= max_wait_ms
            }
        };
        if admitted { Place::Vm } else { Place::Faas }
    }

    /// The request reaches its stage's VM pool or function.
    fn dispatch(&mut self, req: ReqId, place: Place) {
        let now = self.events.now();
        let k = self.requests.slots[req as usize].stage as usize;
        self.requests.slots[req as usize].stage_entered = now;
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
        let service = SimDuration::from_millis_f64(st.vm_service_ms.sample(&mut st.vm_rng));
        self.events.schedule(service, Event::VmDone { stage: k as u16, vm, req });
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
                (c, SimDuration::from_millis_f64(self.cold_start_ms.sample(&mut self.cold_rng)))
            }
        };
        let service = SimDuration::from_millis_f64(st.faas_service_ms.sample(&mut st.faas_rng));
        let billed_us = service.0 + if self.init_billed { cold.0 } else { 0 };
        let billed_us = billed_us.div_ceil(self.faas_granularity_us) * self.faas_granularity_us;
        let gb_s = st.memory_gb * billed_us as f64 * 1e-6;
        let totals = &mut st.report.faas;
        totals.invocations += 1;
        totals.gb_seconds += gb_s;
        totals.request_cost += self.faas_price_per_request;
        totals.duration_cost += gb_s * self.faas_price_per_gb_s;
        totals.cost = totals.request_cost + totals.duration_cost;
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
        let vm = &mut self.stages[k].report.vm;
        vm.wait_us += self.events.now().since(since).0;
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

    fn exit_probability(&self, k: usize, size: f32) -> f64 {
        let base = self.stages[k].exit_probability;
        if base >= 1.0 {
            return 1.0;
        }
        let mut p = base;
        if let Some((amplitude, period_s, phase)) = self.exit_drift {
            let t = self.events.now().as_secs_f64();
            p *= 1.0 + amplitude * (std::f64::consts::TAU * t / period_s + phase).sin();
        }
        if let Some((elasticity, median)) = self.size_exit
            && size > 0.0
        {
            p *= (median / f64::from(size)).powf(elasticity);
        }
        p.clamp(0.0, 1.0)
    }

    fn complete_stage(&mut self, k: usize, req: ReqId, place: Place) {
        let now = self.events.now();
        let r = self.requests.slots[req as usize];
        let sojourn = now.since(r.stage_entered).0;
        self.stages[k].interval.sojourn_us.push(sojourn.min(u64::from(u32::MAX)) as u32);
        let p_exit = self.exit_probability(k, r.size);
        if p_exit >= 1.0 || self.exit_rng.bernoulli(p_exit) {
            self.finish_request(req, now.since(r.arrival).0);
            return;
        }
        let next_place = self.route(k + 1);
        let transfer = self.network.transfer(place, next_place, self.stages[k].activation_bytes);
        self.stages[k].report.transfer_cost += transfer.cost;
        self.requests.slots[req as usize].stage = (k + 1) as u16;
        self.events.schedule(transfer.delay, Event::Enter { req, place: next_place });
    }

    fn finish_request(&mut self, req: ReqId, latency_us: u64) {
        self.requests.remove(req);
        self.latency.record(latency_us);
        self.completed += 1;
        self.interval_finished += 1;
        if latency_us > self.slo_us {
            self.slow += 1;
            self.interval_violations += 1;
        }
    }

    fn fail(&mut self, req: ReqId) {
        self.requests.remove(req);
        self.failed += 1;
        self.interval_finished += 1;
        self.interval_violations += 1;
        self.interval_throttled += 1;
    }

    fn costs(&self, now: SimTime) -> CostReport {
        let mut c = CostReport::default();
        for st in &self.stages {
            c.vm += st.pool.billed_seconds(now) * st.pool.price_per_s();
            c.faas += st.report.faas.cost;
            c.transfer += st.report.transfer_cost;
        }
        c.total = c.vm + c.faas + c.transfer;
        c
    }

    fn cold_starts(&self) -> (u64, u64) {
        let vm = self.stages.iter().map(|s| s.pool.launches()).sum();
        let faas = self.stages.iter().map(|s| s.report.faas.cold_starts).sum();
        (vm, faas)
    }

    fn close_interval(&mut self) -> IntervalReport {
        let now = self.events.now();
        let cost = self.costs(now);
        let start = std::mem::replace(&mut self.cost_at_interval_start, cost.clone());
        let stage_costs = self
            .stages
            .iter()
            .zip(&mut self.stage_costs_at_interval_start)
            .map(|(st, start)| {
                let total = st.pool.billed_seconds(now) * st.pool.price_per_s()
                    + st.report.faas.cost
                    + st.report.transfer_cost;
                total - std::mem::replace(start, total)
            })
            .collect();
        let cold = self.cold_starts();
        let cold_start = std::mem::replace(&mut self.cold_at_interval_start, cold);
        let visits: u64 = self.stages.iter().map(|s| s.interval.arrivals).sum();
        let faas_visits: u64 = self.stages.iter().map(|s| s.interval.faas).sum();
        let attainment = if self.interval_finished == 0 {
            1.0
        } else {
            1.0 - self.interval_violations as f64 / self.interval_finished as f64
        };
        let report = IntervalReport {
            time_s: now.as_secs_f64(),
            cost: cost.total - start.total,
            vm_cost: cost.vm - start.vm,
            faas_cost: cost.faas - start.faas,
            transfer_cost: cost.transfer - start.transfer,
            arrivals: self.interval_front,
            finished: self.interval_finished,
            violations: self.interval_violations,
            throttled: self.interval_throttled,
            faas_share: if visits == 0 { 0.0 } else { faas_visits as f64 / visits as f64 },
            vm_cold_starts: cold.0 - cold_start.0,
            faas_cold_starts: cold.1 - cold_start.1,
            slo_attainment: attainment,
            stage_costs,
        };
        self.observe(report.cost, report.slo_attainment);
        self.interval_front = 0;
        self.interval_finished = 0;
        self.interval_violations = 0;
        self.interval_throttled = 0;
        report
    }

    /// Writes the observation for the decision at `now` from the interval just closed (its cost and
    /// attainment) and resets the stage interval counters.
    fn observe(&mut self, interval_cost: f64, attainment: f64) {
        let now = self.events.now();
        let interval_s = self.interval.as_secs_f64();
        let front = self.interval_front;
        let total_rate = (front as f64 / interval_s) as f32;
        let obs = &mut self.observation;
        for (k, st) in self.stages.iter_mut().enumerate() {
            let iv = &mut st.interval;
            let (busy, ready) = st.pool.areas(now);
            let utilisation = if ready > iv.ready_area {
                (busy - iv.busy_area) as f64 / (ready - iv.ready_area) as f64
            } else {
                0.0
            };
            let set = |obs: &mut Observation, f, v: f64| obs.set_stage(k, f, v as f32);
            set(obs, StageFeature::ArrivalRate, iv.arrivals as f64 / interval_s);
            set(
                obs,
                StageFeature::ReachFraction,
                if front == 0 { 0.0 } else { iv.arrivals as f64 / front as f64 },
            );
            set(obs, StageFeature::VmsReady, f64::from(st.pool.ready()));
            set(obs, StageFeature::VmsBooting, f64::from(st.pool.booting()));
            set(obs, StageFeature::VmUtilisation, utilisation);
            set(obs, StageFeature::VmQueue, st.pool.queue_len() as f64);
            set(obs, StageFeature::FaasInFlight, f64::from(st.faas.in_flight()));
            set(obs, StageFeature::FaasWarm, f64::from(st.faas.warm(now)));
            set(
                obs,
                StageFeature::FaasShare,
                if iv.arrivals == 0 { 0.0 } else { iv.faas as f64 / iv.arrivals as f64 },
            );
            set(
                obs,
                StageFeature::P95LatencyMs,
                f64::from(quantile_in_place(&mut iv.sojourn_us, 0.95)) / 1e3,
            );
            iv.arrivals = 0;
            iv.faas = 0;
            iv.sojourn_us.clear();
            iv.busy_area = busy;
            iv.ready_area = ready;
        }
        obs.set_global(GlobalFeature::TotalRate, total_rate);
        obs.set_global(GlobalFeature::RateTrend, total_rate - self.previous_rate);
        obs.set_global(GlobalFeature::SloAttainment, attainment as f32);
        obs.set_global(GlobalFeature::CostRate, (interval_cost / interval_s * 3600.0) as f32);
        self.previous_rate = total_rate;
    }

    /// Ends the episode: no more arrivals, requests in flight run to completion, every VM stops when
    /// the last one finishes (or at the horizon, if later), and the totals are reported.
    pub fn finish(mut self, policy: &str) -> EpisodeReport {
        self.next_arrival = None;
        self.run_until(SimTime(u64::MAX));
        debug_assert_eq!(self.requests.in_flight(), 0);
        let end = self.events.now().max(self.horizon);
        let front = self.front_arrivals;
        for st in &mut self.stages {
            st.pool.close_all(end);
            let r = &mut st.report;
            r.vm.billed_seconds = st.pool.billed_seconds(end);
            r.vm.cost = r.vm.billed_seconds * st.pool.price_per_s();
            r.vm.launches = st.pool.launches();
            r.vm.mean_wait_ms =
                if r.vm.invocations == 0 { 0.0 } else { r.vm.wait_us as f64 / r.vm.invocations as f64 / 1e3 };
            r.reach_fraction = if front == 0 { 0.0 } else { r.arrivals as f64 / front as f64 };
        }
        let cost = self.costs(end);
        let cold = self.cold_starts();
        let finished = self.completed + self.failed;
        let ms = |q: f64| self.latency.quantile_us(q) / 1e3;
        EpisodeReport {
            policy: policy.to_string(),
            scenario: self.scenario.config.name.clone(),
            seed: self.seed,
            duration_s: self.horizon.as_secs_f64(),
            vm_seconds: self.stages.iter().map(|s| s.report.vm.billed_seconds).sum(),
            invocations: InvocationReport {
                vm: self.stages.iter().map(|s| s.report.vm.invocations).sum(),
                faas: self.stages.iter().map(|s| s.report.faas.invocations).sum(),
            },
            requests: RequestReport {
                total: self.front_arrivals,
                completed: self.completed,
                failed: self.failed,
            },
            slo: SloReport {
                latency_ms: self.scenario.config.slo.latency_ms,
                target: self.scenario.config.slo.attainment_target,
                attainment: if finished == 0 {
                    1.0
                } else {
                    1.0 - (self.slow + self.failed) as f64 / finished as f64
                },
                p50_ms: ms(0.5),
                p95_ms: ms(0.95),
                p99_ms: ms(0.99),
                mean_ms: self.latency.mean_us() / 1e3,
                violations: ViolationReport { latency: self.slow, throttled: self.failed },
            },
            cold_starts: ColdStartReport { vm: cold.0, faas: cold.1 },
            stages: self.stages.into_iter().map(|s| s.report).collect(),
            cost,
        }
    }
}
