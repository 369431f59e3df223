//! LIBRA's exponentially weighted estimate of a rate's mean and spread.

/// EWMA of a series and of its absolute deviation, as LIBRA's manager keeps them: the deviation is
/// updated against the previous mean, then the mean moves.
#[derive(Clone, Debug, PartialEq)]
pub struct Ewma {
    alpha: f64,
    mu: f64,
    state: Option<(f64, f64)>,
}

impl Ewma {
    /// Weights `alpha` for the mean and `mu` for the deviation.
    pub fn new(alpha: f64, mu: f64) -> Self {
        Self { alpha, mu, state: None }
    }

    /// Adds one sample; the first sample sets the mean with zero deviation.
    pub fn update(&mut self, x: f64) {
        self.state = Some(match self.state {
            None => (x, 0.0),
            Some((mean, dev)) => {
                let dev = (1.0 - self.mu) * dev + self.mu * (mean - x).abs();
                ((1.0 - self.alpha) * mean + self.alpha * x, dev)
            }
        });
    }

    /// (mean, deviation), once a sample was seen.
    pub fn get(&self) -> Option<(f64, f64)> {
        self.state
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
    fn follows_libra_update_order() {
        let mut e = Ewma::new(0.2, 0.2);
        e.update(100.0);
        assert_eq!(e.get(), Some((100.0, 0.0)));
        e.update(50.0);
        // deviation uses the old mean: 0.2 * |100 - 50| = 10; mean 0.8 * 100 + 0.2 * 50 = 90
        assert_eq!(e.get(), Some((90.0, 10.0)));
    }
}
