//! The environment's expert: the oracle's decisions as choices of the action set, at the states the
//! stepping policy reaches.

use serflow_env::comparison::stage_arrivals;
use serflow_env::expert::ExpertModel;
use serflow_env::registry::PolicyRegistry;
use serflow_env::{ActionChoices, Env, Scenario, ServingEnv, action_set_for, run_episode};
use serflow_policies::baselines::FaasOnly;
use std::sync::Arc;

fn default_scenario() -> Arc<Scenario> {
    Arc::new(Scenario::load("default").unwrap())
}

/// An environment deciding need-relative VM targets, with the expert.
fn expert_env(scenario: &Arc<Scenario>) -> ServingEnv {
    let choices = ActionChoices {
        vm_need_multiples: vec![0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5],
        ..ActionChoices::default()
    };
    let set = action_set_for(scenario, &choices).unwrap();
    // The expert follows an action set given after it.
    ServingEnv::new(scenario.clone())
        .with_expert(Arc::new(ExpertModel::new(scenario)))
        .with_action_set(set)
        .unwrap()
}

/// Steps an episode of `seed` on the expert's choices: every choice, and the episode's cost.
fn follow(env: &mut ServingEnv, seed: u64) -> (Vec<Vec<usize>>, f64) {
    env.reset(seed);
    let space = env.action_space();
    let mut mask = vec![false; space.total_choices()];
    let mut choices = Vec::new();
    loop {
        let choice = env.expert_choice().expect("an expert after reset").to_vec();
        assert!(space.contains(&choice), "{choice:?} outside {:?}", space.nvec);
        env.action_mask(&mut mask);
        let mut start = 0;
        for (&c, &n) in choice.iter().zip(&space.nvec) {
            assert!(mask[start + c], "the expert chose a masked choice: {choice:?}");
            start += n;
        }
        choices.push(choice.clone());
        if env.step(&choice).truncated {
            return (choices, env.finish("expert").cost.total);
        }
    }
}

#[test]
fn following_the_expert_acts_like_the_oracle_deterministically() {
    let scenario = default_scenario();
    let mut env = expert_env(&scenario);
    let seed = 2_000_000;
    let (choices, cost) = follow(&mut env, seed);
    assert_eq!(follow(&mut env, seed), (choices.clone(), cost), "same seed, same expert");
    assert_ne!(follow(&mut env, seed + 1).0, choices, "another episode, another plan");

    // Asking the expert changes nothing in the episode: the same choices without it cost the same.
    let mut plain = ServingEnv::new(scenario.clone()).with_action_set(env.action_set().clone()).unwrap();
    plain.reset(seed);
    for choice in &choices {
        plain.step(choice);
    }
    assert_eq!(plain.finish("replay").cost.total, cost);

    let registry = PolicyRegistry::new(&scenario);
    let mut oracle = registry.build_for_episode("oracle", &stage_arrivals(&scenario, seed, &|| {})).unwrap();
    let oracle = run_episode(&scenario, oracle.as_mut(), seed, |_, _| {}).cost.total;
    let faas_only = run_episode(&scenario, &mut FaasOnly, seed, |_, _| {}).cost.total;
    // The action set rounds the oracle's VM targets to multiples of the need, so following it costs
    // somewhat more than the oracle itself, and far less than serving everything on FaaS.
    assert!(cost < 1.2 * oracle, "expert ${cost:.4} against the oracle's ${oracle:.4}");
    assert!(cost < 0.7 * faas_only, "expert ${cost:.4} against FaaS-only's ${faas_only:.4}");
}

#[test]
fn only_an_environment_made_with_the_expert_offers_its_choice() {
    let scenario = default_scenario();
    let mut plain = ServingEnv::new(scenario.clone());
    plain.reset(1);
    assert_eq!(plain.expert_choice(), None);
    let env = expert_env(&scenario);
    assert_eq!(env.expert_choice(), None, "no episode planned before the first reset");
}
