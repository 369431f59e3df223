//! Where requests leave the model: each stage's exit probability, moved over time by the scenario's
//! exit drift and per request by its size (bigger inputs exit later).

use crate::rng::SimRng;
use crate::scenario::Scenario;

/// The exit probabilities of one episode (the drift's phase is drawn per episode).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ExitModel {
    base: Vec<f64>,
    /// `(amplitude, period_s, phase)`.
    drift: Option<(f64, f64, f64)>,
    /// `(elasticity, median size)`.
    size: Option<(f64, f64)>,
}

impl ExitModel {
    /// The model of `scenario`, with the drift's phase drawn uniformly by `phase_draw` (in [0, 1)).
    pub fn new(scenario: &Scenario, phase_draw: impl FnOnce() -> f64) -> Self {
        let cfg = &scenario.config;
        let last = cfg.stages.len() - 1;
        let base = cfg
            .stages
            .iter()
            .enumerate()
            .map(|(k, st)| if k == last { 1.0 } else { st.exit_probability })
            .collect();
        let drift =
            cfg.exit_drift.as_ref().map(|d| (d.amplitude, d.period_s, phase_draw() * std::f64::consts::TAU));
        let size = match (&cfg.size_exit, scenario.workload.median_size()) {
            (Some(se), Some(median)) if median > 0.0 => Some((se.elasticity, median)),
            _ => None,
        };
        Self { base, drift, size }
    }

    /// Whether a request of `size` finishing stage `k` at `t_s` seconds exits there: exits for
    /// certain when the probability is 1, else draws one uniform from `rng` and exits below the
    /// probability. With drift alone the sine is evaluated only when the draw falls between the
    /// drift's lowest and highest probability (same draws, same decisions, a fraction of the `sin`s).
    pub fn exits(&self, k: usize, t_s: f64, size: f32, rng: &mut SimRng) -> bool {
        if let (Some((amplitude, _, _)), None) = (self.drift, self.size) {
            let base = self.base[k];
            // `1 + amplitude x sin` lies between these (rounding is monotone), and so does p.
            let ends = [base * (1.0 - amplitude), base * (1.0 + amplitude)].map(|p| p.clamp(0.0, 1.0));
            let (low, high) = (ends[0].min(ends[1]), ends[0].max(ends[1]));
            if base < 1.0 && high < 1.0 {
                let u = rng.uniform();
                return u < low || (u < high && u < self.probability(k, t_s, size));
            }
        }
        let p = self.probability(k, t_s, size);
        p >= 1.0 || rng.bernoulli(p)
    }

    /// Probability that a request of `size` finishing stage `k` at `t_s` seconds exits there.
    pub fn probability(&self, k: usize, t_s: f64, size: f32) -> f64 {
        let base = self.base[k];
        if base >= 1.0 {
            return 1.0;
        }
        let mut p = base;
        if let Some((amplitude, period_s, phase)) = self.drift {
            p *= 1.0 + amplitude * (std::f64::consts::TAU * t_s / period_s + phase).sin();
        }
        if let Some((elasticity, median)) = self.size
            && size > 0.0
        {
            p *= (median / f64::from(size)).powf(elasticity);
        }
        p.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(drift: Option<(f64, f64, f64)>, size: Option<(f64, f64)>) -> ExitModel {
        ExitModel { base: vec![0.5, 0.2, 1.0], drift, size }
    }

    #[test]
    fn last_stage_always_exits_and_plain_stages_keep_their_probability() {
        let m = model(None, None);
        assert_eq!(m.probability(0, 123.0, 10.0), 0.5);
        assert_eq!(m.probability(2, 0.0, 0.0), 1.0);
    }

    #[test]
    fn drift_follows_its_sine_and_stays_a_probability() {
        let m = model(Some((0.3, 400.0, 0.0)), None);
        assert!((m.probability(0, 100.0, 0.0) - 0.65).abs() < 1e-12, "peak at a quarter period");
        assert!((m.probability(0, 300.0, 0.0) - 0.35).abs() < 1e-12, "trough at three quarters");
        let wild = model(Some((5.0, 400.0, 0.0)), None);
        assert_eq!(wild.probability(0, 100.0, 0.0), 1.0);
        assert_eq!(wild.probability(0, 300.0, 0.0), 0.0);
    }

    #[test]
    fn deciding_by_the_drift_bounds_draws_and_decides_as_the_probability_does() {
        use crate::rng::Stream;
        for drift in [Some((0.3, 400.0, 1.0)), Some((0.9, 50.0, 0.0)), Some((5.0, 400.0, 0.0)), None] {
            let m = model(drift, None);
            let (mut fast, mut exact) = (SimRng::new(3, Stream::Exits), SimRng::new(3, Stream::Exits));
            for i in 0..20_000u32 {
                let (k, t) = (i as usize % 3, f64::from(i) * 0.37);
                let p = m.probability(k, t, 0.0);
                assert_eq!(m.exits(k, t, 0.0, &mut fast), p >= 1.0 || exact.bernoulli(p), "{drift:?} at {i}");
            }
            assert_eq!(fast.uniform(), exact.uniform(), "{drift:?}: the same number of draws");
        }
    }

    #[test]
    fn bigger_inputs_exit_later() {
        let m = model(None, Some((1.0, 100.0)));
        assert_eq!(m.probability(1, 0.0, 100.0), 0.2, "median size: unchanged");
        assert!((m.probability(1, 0.0, 200.0) - 0.1).abs() < 1e-12);
        assert_eq!(m.probability(1, 0.0, 0.0), 0.2, "no size: unchanged");
        assert_eq!(m.probability(1, 0.0, 10.0), 1.0, "clamped");
    }
}
