//! The exported policy chooses exactly what the Burn actor chooses, on observations from real
//! simulated episodes, and its logits agree within 1e-5 (relative to the logit's size above 1: the
//! two sum in different orders in `f32`).

use rayon::prelude::*;
use serflow_agent::export::policy_file;
use serflow_agent::networks::{ActorCriticConfig, Backend, BurnMlp, matrix};
use serflow_agent::normalizer::ObsNormalizer;
use serflow_env::registry::PolicyRegistry;
use serflow_env::rng::{SimRng, Stream};
use serflow_env::{Scenario, run_episode};
use serflow_policies::learned::masked_argmax;
use serflow_policies::{Learned, Observation};
use std::sync::Arc;

/// Observations the serflow heuristic meets over `episodes` episodes of the default scenario.
fn observations(scenario: &Arc<Scenario>, episodes: u64) -> Vec<Observation> {
    (0..episodes)
        .into_par_iter()
        .flat_map(|seed| {
            let mut seen = Vec::new();
            let mut policy = PolicyRegistry::new(scenario).build("serflow").unwrap();
            run_episode(scenario, policy.as_mut(), seed, |sim, _| seen.push(sim.observation().clone()));
            seen
        })
        .collect()
}

#[test]
fn exported_policy_matches_the_burn_actor_on_10k_real_observations() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let obs = observations(&scenario, 28);
    assert!(obs.len() >= 10_000, "{}", obs.len());
    let dim = obs[0].values().len();
    let flat: Vec<f32> = obs.iter().flat_map(|o| o.values().iter().copied()).collect();
    let mut norm = ObsNormalizer::new(dim);
    norm.stats.update(&flat);
    // A network with large enough weights that logits are far from uniform (as after training).
    let config = ActorCriticConfig { actor_head_gain: 1.0, ..ActorCriticConfig::default() };
    let n_stages = scenario.n_stages();
    let nvec = serflow_policies::ActionSet::default().nvec(n_stages);
    let nets = config.init(dim, &nvec, 1, None, &mut SimRng::new(7, Stream::Training));
    let file = policy_file(&nets, &norm, &scenario, &serflow_policies::ActionSet::default(), String::new());
    let mut learned = Learned::new(file.clone()).unwrap();

    let mut normalized = vec![0.0; flat.len()];
    norm.normalize(&flat, &mut normalized);
    let n_logits: usize = nvec.iter().sum();
    for backend in [Backend::Flex, Backend::Ndarray] {
        let device = backend.device();
        let burn_logits = BurnMlp::new(&nets.actor, &device, false)
            .forward(matrix(normalized.clone(), dim, &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut mask = vec![true; n_logits];
        let mut burn_choice = vec![0; nvec.len()];
        let mut worst = 0.0f32;
        for (i, o) in obs.iter().enumerate() {
            let burn = &burn_logits[i * n_logits..(i + 1) * n_logits];
            let exported = learned.logits(o).to_vec();
            worst = exported
                .iter()
                .zip(burn)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(worst, f32::max);
            file.action_set.mask(o, &file.max_vms, &mut mask);
            masked_argmax(burn, &mask, &nvec, &mut burn_choice);
            assert_eq!(learned.choose(o), &burn_choice[..], "{backend:?}: observation {i}");
        }
        assert!(worst < 1e-5, "{backend:?}: logits differ by {worst} (relative)");
    }
}
