//! CartPole-v1, the classic control task, on the same [`Env`] trait: the agent's sanity benchmark.
//!
//! Description: a pole is hinged to a cart on a frictionless track; push the cart left or right to
//! keep the pole upright (Barto, Sutton and Anderson, 1983; Gymnasium `classic_control/cartpole.py`).
//!
//! Action space: `Discrete(2)`: 0 pushes the cart left, 1 right, with force 10 N.
//!
//! Observation space:
//!
//! | index | meaning | min | max |
//! |---|---|---|---|
//! | 0 | cart position (m) | -4.8 | 4.8 |
//! | 1 | cart velocity (m/s) | -inf | inf |
//! | 2 | pole angle (rad) | -0.418 | 0.418 |
//! | 3 | pole angular velocity (rad/s) | -inf | inf |
//!
//! Rewards: +1 for every step taken, including the one that ends the episode.
//!
//! Starting state: every value uniform in [-0.05, 0.05], drawn from the reset seed.
//!
//! Episode end: pole angle beyond +-12 degrees (Termination); cart position beyond +-2.4 (Termination);
//! 500 steps (Truncation).
//!
//! Arguments: none; `max_steps` is public for tests.

use crate::env::{BoxSpace, Env, MultiDiscrete, Step};
use crate::rng::{SimRng, Stream};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
const HALF_LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * HALF_LENGTH;
const FORCE: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_LIMIT: f64 = 2.4;

/// CartPole-v1.
#[derive(Clone, Debug)]
pub struct CartPole {
    state: [f64; 4],
    steps: u32,
    /// Steps after which the episode is truncated (500 in v1).
    pub max_steps: u32,
}

impl Default for CartPole {
    fn default() -> Self {
        Self { state: [0.0; 4], steps: 0, max_steps: 500 }
    }
}

impl CartPole {
    fn obs(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

impl Env for CartPole {
    type Info = ();

    fn observation_space(&self) -> BoxSpace {
        let high = vec![X_LIMIT as f32 * 2.0, f32::INFINITY, THETA_LIMIT as f32 * 2.0, f32::INFINITY];
        BoxSpace { low: high.iter().map(|h| -h).collect(), high }
    }

    fn action_space(&self) -> MultiDiscrete {
        MultiDiscrete::discrete(2)
    }

    fn reset(&mut self, seed: u64) -> (Vec<f32>, ()) {
        let mut rng = SimRng::new(seed, Stream::Scenario);
        for v in &mut self.state {
            *v = rng.uniform() * 0.1 - 0.05;
        }
        self.steps = 0;
        (self.obs(), ())
    }

    fn step(&mut self, action: &[usize]) -> Step<()> {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action[0] == 1 { FORCE } else { -FORCE };
        let (sin, cos) = theta.sin_cos();
        let temp = (force + POLE_MASS_LENGTH * theta_dot * theta_dot * sin) / TOTAL_MASS;
        let theta_acc =
            (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos * cos / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        // Explicit Euler, as in Gymnasium's default kinematics integrator.
        self.state =
            [x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc];
        self.steps += 1;
        let terminated = self.state[0].abs() > X_LIMIT || self.state[2].abs() > THETA_LIMIT;
        Step {
            obs: self.obs(),
            reward: 1.0,
            terminated,
            truncated: !terminated && self.steps >= self.max_steps,
            info: (),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushing_one_way_tips_the_pole_quickly() {
        let mut env = CartPole::default();
        env.reset(0);
        let steps = (1..).find(|_| env.step(&[0]).terminated).unwrap();
        assert!((8..=12).contains(&steps), "{steps}");
    }

    #[test]
    fn balancing_by_angle_reaches_the_time_limit_as_truncation() {
        let mut env = CartPole::default();
        let (mut obs, _) = env.reset(3);
        for t in 1..=500 {
            let s = env.step(&[usize::from(obs[2] + 0.5 * obs[3] > 0.0)]);
            obs = s.obs;
            assert!(!s.terminated, "fell at step {t}");
            assert_eq!(s.truncated, t == 500);
        }
    }
}
