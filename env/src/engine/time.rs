//! Simulated time as integer microseconds, so that event order never depends on float rounding and
//! no comparison needs an epsilon.

use std::ops::{Add, Sub};

/// A point in simulated time, in microseconds since the episode start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A non-negative span of simulated time, in microseconds. Events are scheduled a duration after now,
/// so scheduling in the past cannot be expressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The episode start.
    pub const ZERO: Self = Self(0);

    /// Whole seconds to a time.
    pub const fn from_secs(s: u64) -> Self {
        Self(s * 1_000_000)
    }

    /// Seconds as `f64`.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-6
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// Seconds (`f64`, rounded to the microsecond; negative and non-finite values become zero).
    pub fn from_secs_f64(s: f64) -> Self {
        Self::from_micros_f64(s * 1e6)
    }

    /// Milliseconds (`f64`, rounded to the microsecond; negative and non-finite values become zero).
    pub fn from_millis_f64(ms: f64) -> Self {
        Self::from_micros_f64(ms * 1e3)
    }

    fn from_micros_f64(us: f64) -> Self {
        if us.is_finite() && us > 0.0 { Self(us.round() as u64) } else { Self(0) }
    }

    /// Seconds as `f64`.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-6
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    /// Saturating difference, see [`SimTime::since`].
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_to_the_microsecond_and_clamp_negatives() {
        assert_eq!(SimDuration::from_millis_f64(1.0004), SimDuration(1000));
        assert_eq!(SimDuration::from_secs_f64(-3.0), SimDuration(0));
        assert_eq!(SimDuration::from_secs_f64(f64::NAN), SimDuration(0));
        assert_eq!(SimTime::from_secs(2) + SimDuration(5), SimTime(2_000_005));
        assert_eq!(SimTime(3) - SimTime(10), SimDuration(0));
    }
}
