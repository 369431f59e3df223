//! The forecast oracle: told every future arrival count at every stage (per step of, typically, one
//! second), it plans each stage's ready VMs per control interval over the whole episode by dynamic
//! programming, then launches them a 95th-percentile boot time ahead. A reachable lower bound: unlike
//! the fluid hindsight floor it pays for boots, the billing minimum, whole VMs (a pool of n serving
//! what n VMs sharing one queue serve within the SLO: [`PoolCapacity`]) and priced VM<->FaaS
//! transfer, and it runs in the simulator like any policy (MArk, ATC'19, shows what such a forecast
//! buys). It offers VMs every request and lets the balancer's queueing bound spill the rest to FaaS,
//! or, where the balancer has no bound, offers VMs what the plan counted on them for.
//!
//! The plan's cost model, per stage and interval t with `n_t` ready VMs and `a_s` arrivals in each
//! step s of the interval: `n_t x VM $ per interval + sum_s max(0, a_s - capacity(n_t) per step) x
//! FaaS $ per request`, plus `launch cost x max(0, n_t - n_(t-1))` (the billed boot and any billing
//! minimum it leaves). Counting overflow per step, not per interval, prices the bursts inside an
//! interval that VMs sized for its mean would spill to FaaS.
//! The FaaS price includes the transfers a request run on FaaS between two VM stages pays. Before
//! one lead time has passed no VM can be ready beyond those already running.

use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, Observation, StageAction, StageFeature};

/// How much a stage's VMs serve, as the oracle plans with it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolCapacity {
    /// Per stage, the requests per second `n` ready VMs serve within the SLO (index `n`): more
    /// than `n` times one VM's capacity, as they share one queue.
    pub rps: Vec<Vec<f64>>,
    /// Whether the balancer spills to FaaS what would wait too long in a VM queue. Where it does
    /// not, the oracle caps what VMs are offered at their capacity, as its plan assumes.
    pub balancer_spills: bool,
}

/// One stage's planning prices and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanCosts {
    /// Dollars one ready VM costs per interval.
    pub vm_per_interval: f64,
    /// Dollars per request served on FaaS.
    pub faas_per_request: f64,
    /// Requests `n` ready VMs serve per step within the SLO, for `n = 0..=max_vms`.
    pub capacity_per_step: Vec<f64>,
    /// Dollars to bring one more VM up (billed boot, rest of the billing minimum).
    pub launch: f64,
    /// Intervals from launch to ready.
    pub lead: usize,
    /// VMs ready at the start.
    pub initial: u32,
    /// Most VMs.
    pub max_vms: u32,
}

impl PlanCosts {
    /// The planning prices of stage `k` of `profile`, arrivals counted per `step_s` seconds, `pool`
    /// giving the requests per second `n` VMs serve within the SLO (index `n`).
    pub fn of_stage(profile: &SystemProfile, k: usize, step_s: f64, pool: &[f64]) -> Self {
        let dt = profile.interval_s;
        let lead = (profile.vm_boot_p95_s / dt).ceil().max(0.0) as usize;
        let billed_boot = lead as f64 * dt;
        let unmet_minimum = (profile.vm_billing_minimum_s - billed_boot - dt).max(0.0);
        let stage = &profile.stages[k];
        Self {
            vm_per_interval: profile.vm_price_per_s * dt,
            faas_per_request: profile.faas_cost_between_vms(k),
            capacity_per_step: pool.iter().map(|rate| rate * step_s).collect(),
            launch: profile.vm_price_per_s * (billed_boot + unmet_minimum),
            lead,
            initial: profile.initial_vms.min(stage.max_vms),
            max_vms: stage.max_vms,
        }
    }

    /// What ready-VM counts `plan` (one per interval) cost for `arrivals` (`steps` per interval)
    /// under this model.
    pub fn cost(&self, arrivals: &[u64], steps: usize, plan: &[u32]) -> f64 {
        let mut previous = self.initial;
        let mut total = 0.0;
        for (interval, &n) in arrivals.chunks(steps).zip(plan) {
            total += self.interval_cost(interval, n) + self.launch * f64::from(n.saturating_sub(previous));
            previous = n;
        }
        total
    }

    /// Requests `vms` VMs serve per step (the largest pool tabulated for more).
    fn capacity(&self, vms: u32) -> f64 {
        let table = &self.capacity_per_step;
        table.get(vms as usize).or(table.last()).copied().unwrap_or(0.0)
    }

    fn interval_cost(&self, arrivals: &[u64], vms: u32) -> f64 {
        let capacity = self.capacity(vms);
        let overflow: f64 = arrivals.iter().map(|&a| (a as f64 - capacity).max(0.0)).sum();
        f64::from(vms) * self.vm_per_interval + overflow * self.faas_per_request
    }

    /// Whether `n` VMs can be ready at interval `t` after `previous` at `t - 1`.
    fn reachable(&self, t: usize, previous: u32, n: u32) -> bool {
        t >= self.lead || n <= previous
    }
}

/// The cheapest ready-VM count per interval for `arrivals` (counts per step, `steps` steps per
/// interval) under `costs`: exact dynamic programming over counts up to what the peak step needs,
/// O(steps x counts).
pub fn plan_stage(arrivals: &[u64], steps: usize, costs: &PlanCosts) -> Vec<u32> {
    PlanMemory::default().plan(arrivals, steps, costs).to_vec()
}

/// The working memory of [`plan_stage`], kept by a policy that re-plans every interval: once its
/// buffers have grown to the largest plan, planning allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct PlanMemory {
    /// Cheapest cost of reaching each count by the interval planned so far.
    best: Vec<f64>,
    next: Vec<f64>,
    /// Per count n, the cheapest count at or above n and its cost.
    down: Vec<(f64, u32)>,
    /// Per interval and count, the count the cheapest way there came from.
    from: Vec<u32>,
    plan: Vec<u32>,
}

impl PlanMemory {
    /// [`plan_stage`]'s plan, in this memory.
    pub fn plan(&mut self, arrivals: &[u64], steps: usize, costs: &PlanCosts) -> &[u32] {
        let steps = steps.max(1);
        let peak = arrivals.iter().copied().max().unwrap_or(0) as f64;
        // More VMs than the peak step needs never pay (none tabulated: no VM ever does).
        let table = &costs.capacity_per_step;
        let needed = match table.iter().position(|&c| c >= peak) {
            Some(n) => n,
            None if table.last().is_some_and(|&c| c > 0.0) => table.len() - 1,
            None => 0,
        } as u32;
        let top = needed.max(costs.initial).min(costs.max_vms.max(costs.initial)) as usize;
        let counts = top + 1;
        let intervals = arrivals.len().div_ceil(steps);
        let Self { best, next, down, from, plan } = self;
        for buffer in [&mut *best, &mut *next] {
            buffer.clear();
            buffer.resize(counts, f64::INFINITY);
        }
        best[costs.initial as usize] = 0.0;
        down.clear();
        down.resize(counts, (f64::INFINITY, 0));
        from.clear();
        from.resize(intervals * counts, 0);
        for (t, (a, choice)) in arrivals.chunks(steps).zip(from.chunks_mut(counts)).enumerate() {
            // Coming down (or staying) is free: the cheapest predecessor at or above n.
            let mut suffix = (f64::INFINITY, 0u32);
            for m in (0..counts).rev() {
                if best[m] < suffix.0 {
                    suffix = (best[m], m as u32);
                }
                down[m] = suffix;
            }
            // Going up from m to n costs launch x (n - m): keep the cheapest `best[m] - launch x m` below n.
            let mut prefix = (f64::INFINITY, 0u32);
            for n in 0..counts {
                let (mut value, mut pred) = down[n];
                if n > 0 && costs.reachable(t, 0, 1) {
                    let m = n - 1;
                    let shifted = best[m] - costs.launch * m as f64;
                    if shifted < prefix.0 {
                        prefix = (shifted, m as u32);
                    }
                    let up = prefix.0 + costs.launch * n as f64;
                    if up < value {
                        (value, pred) = (up, prefix.1);
                    }
                }
                next[n] = value + costs.interval_cost(a, n as u32);
                choice[n] = pred;
            }
            std::mem::swap(best, next);
        }
        let mut n = (0..counts).min_by(|&i, &j| best[i].total_cmp(&best[j])).unwrap_or(0) as u32;
        plan.clear();
        plan.resize(intervals, 0);
        for t in (0..intervals).rev() {
            plan[t] = n;
            n = from[t * counts + n as usize];
        }
        plan
    }
}

/// The oracle policy for one episode whose arrivals it was given.
#[derive(Clone, Debug)]
pub struct Oracle {
    /// Ready VMs wanted per stage and interval.
    plans: Vec<Vec<u32>>,
    leads: Vec<usize>,
    /// Per stage and ready-VM count, the most requests per second VMs are offered (none: all).
    offer_limits: Option<Vec<Vec<f64>>>,
    interval: usize,
}

impl Oracle {
    /// Plans every stage for `arrivals[s][k]`, the requests reaching stage k in step s, with
    /// `steps` steps per control interval, and what `pools` of VMs serve.
    pub fn new(profile: &SystemProfile, pools: &PoolCapacity, arrivals: &[Vec<u64>], steps: usize) -> Self {
        let steps = steps.max(1);
        let step_s = profile.interval_s / steps as f64;
        let n = profile.stages.len();
        let costs: Vec<PlanCosts> =
            (0..n).map(|k| PlanCosts::of_stage(profile, k, step_s, &pools.rps[k])).collect();
        let plans = (0..n)
            .map(|k| {
                let series: Vec<u64> = arrivals.iter().map(|a| a.get(k).copied().unwrap_or(0)).collect();
                plan_stage(&series, steps, &costs[k])
            })
            .collect();
        let offer_limits = (!pools.balancer_spills).then(|| pools.rps.clone());
        Self { plans, leads: costs.iter().map(|c| c.lead).collect(), offer_limits, interval: 0 }
    }

    /// The planned ready VMs of stage `k` per interval.
    pub fn plan(&self, k: usize) -> &[u32] {
        &self.plans[k]
    }
}

impl Policy for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.plans.len())
    }

    fn reset(&mut self) {
        self.interval = 0;
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        let t = self.interval;
        self.interval += 1;
        for (k, plan) in self.plans.iter().enumerate().take(obs.n_stages()) {
            // Keep (or launch) every VM needed now or within one lead time: what boots now is
            // ready when the plan needs it, and a VM needed again soon is kept rather than relaunched.
            let end = (t + self.leads[k] + 1).min(plan.len());
            let target = plan.get(t..end).and_then(|w| w.iter().copied().max()).unwrap_or(0);
            // Every request is offered to VMs, and the balancer's queueing bound spills what they
            // cannot take in time (a rate cap would spill bursts the VMs could queue). Without that
            // bound, VMs are offered what the plan counted on them for.
            let ready = obs.stage(k, StageFeature::VmsReady).max(0.0) as usize;
            let vm_rate_limit = self.offer_limits.as_ref().map(|limits| {
                let limits = &limits[k];
                limits.get(ready).or(limits.last()).copied().unwrap_or(0.0) as f32
            });
            action.stages[k] = StageAction { vm_target: target, vm_share: 1.0, vm_rate_limit };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(lead: usize, initial: u32, max_vms: u32) -> PlanCosts {
        PlanCosts {
            vm_per_interval: 1.0,
            faas_per_request: 0.15,
            // More per VM in a larger pool, as VMs sharing one queue serve.
            capacity_per_step: (0..=max_vms).map(|n| f64::from(n) * (5.0 + 0.5 * f64::from(n))).collect(),
            launch: 2.5,
            lead,
            initial,
            max_vms,
        }
    }

    /// The cheapest feasible plan by trying every sequence of counts.
    fn exhaustive(arrivals: &[u64], steps: usize, c: &PlanCosts) -> f64 {
        let options = c.max_vms as usize + 1;
        let intervals = arrivals.len() / steps;
        let mut best = f64::INFINITY;
        'plans: for code in 0..options.pow(intervals as u32) {
            let plan: Vec<u32> =
                (0..intervals).map(|t| (code / options.pow(t as u32) % options) as u32).collect();
            let mut previous = c.initial;
            for (t, &n) in plan.iter().enumerate() {
                if !c.reachable(t, previous, n) {
                    continue 'plans;
                }
                previous = n;
            }
            best = best.min(c.cost(arrivals, steps, &plan));
        }
        best
    }

    #[test]
    fn dynamic_programming_matches_exhaustive_search_on_small_cases() {
        let mut state = 12345u64;
        let mut next = move |below: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % below
        };
        // One memory for every case, as a policy re-planning each interval keeps it.
        let mut memory = PlanMemory::default();
        for case in 0..300 {
            let (len, steps) = (1 + next(6) as usize, 1 + next(2) as usize);
            let arrivals: Vec<u64> = (0..len * steps).map(|_| next(45)).collect();
            let c = costs(next(3) as usize, next(4) as u32, 3 + next(2) as u32);
            let plan = plan_stage(&arrivals, steps, &c);
            assert_eq!(
                memory.plan(&arrivals, steps, &c),
                plan,
                "case {case}: a reused memory plans the same"
            );
            assert_eq!(plan.len(), len);
            let mut previous = c.initial;
            for (t, &n) in plan.iter().enumerate() {
                assert!(
                    c.reachable(t, previous, n) && n <= c.max_vms.max(c.initial),
                    "case {case}: {plan:?}"
                );
                previous = n;
            }
            let (found, optimum) = (c.cost(&arrivals, steps, &plan), exhaustive(&arrivals, steps, &c));
            assert!(
                (found - optimum).abs() < 1e-9,
                "case {case}: {arrivals:?} {c:?}: {plan:?} costs {found}, best {optimum}"
            );
        }
    }

    #[test]
    fn launches_ahead_and_keeps_vms_needed_again_within_a_lead_time() {
        let mut profile = crate::baselines::tests::profile(1, 0.1, 10.0);
        profile.vm_boot_p95_s = 30.0; // three 10 s intervals
        // Quiet, a long busy spell, one quiet interval, busy again.
        let mut arrivals: Vec<Vec<u64>> = vec![vec![0]; 5];
        arrivals.extend(vec![vec![1000]; 20]);
        arrivals.push(vec![0]);
        arrivals.extend(vec![vec![1000]; 20]);
        let pools = PoolCapacity {
            rps: vec![(0..=50).map(|n| 10.0 * f64::from(n)).collect()],
            balancer_spills: true,
        };
        let mut oracle = Oracle::new(&profile, &pools, &arrivals, 1);
        assert_eq!(oracle.plan(0)[10], 10, "1,000 requests in 10 s at 10 req/s per VM");
        let mut a = Action::faas_only(1);
        let obs = crate::baselines::tests::observation(1, 0.0, 0);
        let targets: Vec<u32> = (0..arrivals.len())
            .map(|_| {
                oracle.act(&obs, &mut a);
                a.stages[0].vm_target
            })
            .collect();
        assert_eq!(targets[1], 0, "nothing needed within the lead time yet");
        assert_eq!(targets[2], 10, "launched three intervals before the spell");
        assert_eq!(targets[25], 10, "the one quiet interval keeps the VMs");
        assert_eq!(a.stages[0].vm_rate_limit, None, "a balancer that spills: VMs are offered everything");

        // Without that balancer, VMs are offered what the plan counts on from the VMs ready now.
        let pools = PoolCapacity { balancer_spills: false, ..pools };
        let mut oracle = Oracle::new(&profile, &pools, &arrivals, 1);
        for (ready, expected) in [(0, 0.0), (7, 70.0), (99, 500.0)] {
            oracle.act(&crate::baselines::tests::observation(1, 0.0, ready), &mut a);
            assert_eq!(a.stages[0].vm_rate_limit, Some(expected), "{ready} ready");
        }
    }
}
