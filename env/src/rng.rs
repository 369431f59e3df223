//! Random streams: one independent generator per component, derived from the episode seed, so adding
//! a component (or a draw in one) never shifts another component's draws.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

/// Which component a stream belongs to. Stage-specific streams add the stage index.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Arrival times and sizes, trace offsets.
    Arrivals,
    /// Exit decisions.
    Exits,
    /// VM boot times.
    Boot,
    /// FaaS cold-start times.
    ColdStart,
    /// Episode-level randomness of the scenario itself (exit-drift phase, burst schedule).
    Scenario,
    /// A trainer's own draws (action sampling, minibatch order), kept apart from the simulation's.
    Training,
    /// A training environment's randomised starting state (initial VM counts).
    InitialState,
    /// Imitation's draws (whether the teacher or the student decides, minibatch order).
    Imitation,
    /// Service times on VMs, for one stage.
    VmService(usize),
    /// Service times on FaaS, for one stage.
    FaasService(usize),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Self::Arrivals => 1,
            Self::Exits => 2,
            Self::Boot => 3,
            Self::ColdStart => 4,
            Self::Scenario => 5,
            Self::Training => 6,
            Self::InitialState => 7,
            Self::Imitation => 8,
            Self::VmService(k) => 1_000 + k as u64,
            Self::FaasService(k) => 2_000 + k as u64,
        }
    }
}

/// A seeded generator with the few draws the simulator needs. Its state serialises, so a
/// checkpoint can resume the exact stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimRng(Xoshiro256PlusPlus);

/// SplitMix64's finaliser: decorrelates (seed, stream) pairs before seeding.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SimRng {
    /// The stream `stream` of episode `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        let key = mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15)) ^ mix(stream.id());
        Self(Xoshiro256PlusPlus::seed_from_u64(key))
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`, safe to take the logarithm of.
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open0().ln()
    }

    /// Standard normal (Box-Muller; one of the pair is used so each draw costs two uniforms).
    pub fn standard_normal(&mut self) -> f64 {
        let r = (-2.0 * self.uniform_open0().ln()).sqrt();
        r * (std::f64::consts::TAU * self.uniform()).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.0.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<f64> = (0..3)
            .map({
                let mut r = SimRng::new(7, Stream::Exits);
                move |_| r.uniform()
            })
            .collect();
        let b: Vec<f64> = (0..3)
            .map({
                let mut r = SimRng::new(7, Stream::Exits);
                move |_| r.uniform()
            })
            .collect();
        let mut other = SimRng::new(7, Stream::Boot);
        assert_eq!(a, b);
        assert_ne!(a[0], other.uniform());
        assert_ne!(SimRng::new(8, Stream::Exits).uniform(), a[0]);
    }

    #[test]
    fn exponential_mean_is_close() {
        let mut r = SimRng::new(1, Stream::Arrivals);
        let n = 200_000;
        let mean = (0..n).map(|_| r.exponential(2.0)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.02, "{mean}");
    }
}
