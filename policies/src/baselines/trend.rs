//! Holt's linear trend: a smoothed level and slope of a series, extrapolated ahead. The predictive
//! form of target tracking scales on it so VMs launched now are ready when a ramp gets there.

/// Weight of the newest sample in the level.
const LEVEL_WEIGHT: f64 = 0.5;
/// Weight of the newest level change in the slope.
const SLOPE_WEIGHT: f64 = 0.3;

/// The level and slope (per sample) of one series, once a sample was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Trend {
    state: Option<(f64, f64)>,
}

impl Trend {
    /// Adds one sample: the level moves towards it from where the slope pointed, the slope towards
    /// the level's change. The first sample sets the level with a flat slope.
    pub fn update(&mut self, x: f64) {
        self.state = Some(match self.state {
            None => (x, 0.0),
            Some((level, slope)) => {
                let next = LEVEL_WEIGHT * x + (1.0 - LEVEL_WEIGHT) * (level + slope);
                (next, SLOPE_WEIGHT * (next - level) + (1.0 - SLOPE_WEIGHT) * slope)
            }
        });
    }

    /// The series `samples_ahead` samples from now (0 before the first sample).
    pub fn forecast(&self, samples_ahead: f64) -> f64 {
        self.state.map_or(0.0, |(level, slope)| level + slope * samples_ahead)
    }

    /// Forgets all samples.
    pub fn clear(&mut self) {
        self.state = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_ramp_and_extrapolates_it() {
        let mut t = Trend::default();
        assert_eq!(t.forecast(3.0), 0.0);
        for i in 0..40 {
            t.update(100.0 + 10.0 * f64::from(i));
        }
        // the last sample was 490; a steady ramp of 10 per sample is learned (to a few parts in a million)
        assert!((t.forecast(0.0) - 490.0).abs() < 1e-3, "{}", t.forecast(0.0));
        assert!((t.forecast(10.0) - 590.0).abs() < 1e-3, "{}", t.forecast(10.0));
        t.clear();
        t.update(7.0);
        assert_eq!(t.forecast(5.0), 7.0, "one sample: flat");
    }
}
