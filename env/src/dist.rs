//! Service-time, boot-time and cold-start distributions. Inference latencies are long-tailed, and
//! SLO attainment is decided by the tail, so every duration in a scenario is a distribution.

use crate::error::{Checker, ScenarioError};
use crate::rng::SimRng;
use serde::{Deserialize, Serialize};

/// A distribution of non-negative durations, in the unit its field names (`_ms` or `_s`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Deterministic(f64),
    /// Exponential with the given mean.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Log-normal: `median * exp(sigma * Z)`, Z standard normal.
    LogNormal {
        /// Median (= exp(mu)).
        median: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// Classic Pareto: support `[min, inf)`, `P(X > x) = (min/x)^shape`.
    Pareto {
        /// Smallest value.
        min: f64,
        /// Tail index; must exceed 1 so the mean exists.
        shape: f64,
    },
    /// Lomax (Pareto type II): support `[0, inf)`, `P(X > x) = (1 + x/scale)^-shape`.
    Lomax {
        /// Scale.
        scale: f64,
        /// Tail index; must exceed 1 so the mean exists.
        shape: f64,
    },
    /// Draws uniformly from profiled samples.
    Empirical {
        /// Measured values.
        samples: Vec<f64>,
    },
}

impl Dist {
    /// One draw.
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        match self {
            Self::Deterministic(v) => *v,
            Self::Exponential { mean } => rng.exponential(*mean),
            Self::LogNormal { median, sigma } => median * (sigma * rng.standard_normal()).exp(),
            Self::Pareto { min, shape } => min * rng.uniform_open0().powf(-1.0 / shape),
            Self::Lomax { scale, shape } => scale * (rng.uniform_open0().powf(-1.0 / shape) - 1.0),
            Self::Empirical { samples } => samples[rng.below(samples.len() as u64) as usize],
        }
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        match self {
            Self::Deterministic(v) => *v,
            Self::Exponential { mean } => *mean,
            Self::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            Self::Pareto { min, shape } => min * shape / (shape - 1.0),
            Self::Lomax { scale, shape } => scale / (shape - 1.0),
            Self::Empirical { samples } => samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }

    /// The `q`-quantile (`0 < q < 1`).
    pub fn quantile(&self, q: f64) -> f64 {
        match self {
            Self::Deterministic(v) => *v,
            Self::Exponential { mean } => -mean * (1.0 - q).ln(),
            Self::LogNormal { median, sigma } => median * (sigma * standard_normal_quantile(q)).exp(),
            Self::Pareto { min, shape } => min * (1.0 - q).powf(-1.0 / shape),
            Self::Lomax { scale, shape } => scale * ((1.0 - q).powf(-1.0 / shape) - 1.0),
            Self::Empirical { samples } => {
                let mut sorted = samples.clone();
                sorted.sort_by(f64::total_cmp);
                let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                sorted[rank - 1]
            }
        }
    }

    /// This distribution with every value multiplied by `factor` (a FaaS slowdown, say).
    pub fn scaled(&self, factor: f64) -> Self {
        match self {
            Self::Deterministic(v) => Self::Deterministic(v * factor),
            Self::Exponential { mean } => Self::Exponential { mean: mean * factor },
            Self::LogNormal { median, sigma } => Self::LogNormal { median: median * factor, sigma: *sigma },
            Self::Pareto { min, shape } => Self::Pareto { min: min * factor, shape: *shape },
            Self::Lomax { scale, shape } => Self::Lomax { scale: scale * factor, shape: *shape },
            Self::Empirical { samples } => {
                Self::Empirical { samples: samples.iter().map(|s| s * factor).collect() }
            }
        }
    }

    pub(crate) fn validate(&self, c: &Checker<'_>, field: &str) -> Result<(), ScenarioError> {
        let sub = |name: &str| format!("{field}.{name}");
        match self {
            Self::Deterministic(v) => c.non_negative(field, *v),
            Self::Exponential { mean } => c.positive(&sub("mean"), *mean),
            Self::LogNormal { median, sigma } => {
                c.positive(&sub("median"), *median)?;
                c.non_negative(&sub("sigma"), *sigma)
            }
            Self::Pareto { min: scale, shape } | Self::Lomax { scale, shape } => {
                let name = if matches!(self, Self::Pareto { .. }) { "min" } else { "scale" };
                c.positive(&sub(name), *scale)?;
                c.finite(&sub("shape"), *shape)?;
                c.ensure(*shape > 1.0, &sub("shape"), || {
                    format!("must be > 1 so the mean exists, got {shape}")
                })
            }
            Self::Empirical { samples } => {
                c.ensure(!samples.is_empty(), &sub("samples"), || "must not be empty".into())?;
                for (i, s) in samples.iter().enumerate() {
                    c.non_negative(&format!("{field}.samples[{i}]"), *s)?;
                }
                Ok(())
            }
        }
    }
}

/// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn empirical_mean_and_p99(d: &Dist) -> (f64, f64) {
        let mut rng = SimRng::new(3, Stream::VmService(0));
        let mut xs: Vec<f64> = (0..400_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        (xs.iter().sum::<f64>() / xs.len() as f64, xs[(xs.len() as f64 * 0.99) as usize])
    }

    #[test]
    fn samples_match_stated_mean_and_quantile() {
        for d in [
            Dist::Exponential { mean: 3.0 },
            Dist::LogNormal { median: 20.0, sigma: 0.5 },
            Dist::Lomax { scale: 10.0, shape: 3.5 },
            Dist::Pareto { min: 5.0, shape: 3.0 },
        ] {
            let (mean, p99) = empirical_mean_and_p99(&d);
            assert!((mean / d.mean() - 1.0).abs() < 0.02, "{d:?}: mean {mean} vs {}", d.mean());
            assert!((p99 / d.quantile(0.99) - 1.0).abs() < 0.03, "{d:?}: p99 {p99} vs {}", d.quantile(0.99));
        }
    }

    #[test]
    fn normal_quantile_known_values() {
        assert!((standard_normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((standard_normal_quantile(0.01) + 2.326348).abs() < 1e-5);
    }

    #[test]
    fn heavy_tail_without_mean_is_rejected_with_its_field() {
        let c = Checker { source: "s.ron" };
        let err = Dist::Lomax { scale: 1.0, shape: 0.9 }.validate(&c, "stages[1].vm_service_ms").unwrap_err();
        assert_eq!(err.field, "stages[1].vm_service_ms.shape");
    }
}
