//! Scale out now, scale in slowly: the recommendation a stage gets is the highest of the last
//! `window` desired counts whenever that is below what runs, as Kubernetes' HPA stabilises scale-in.

use std::collections::VecDeque;

/// Remembers recent desired VM counts of one stage.
#[derive(Clone, Debug)]
pub struct Stabiliser {
    window: usize,
    recent: VecDeque<u32>,
}

impl Stabiliser {
    /// Keeps `window` recommendations (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self { window, recent: VecDeque::with_capacity(window) }
    }

    /// Records `desired`; returns `desired` if it is at least `current`, else the window's maximum.
    pub fn recommend(&mut self, desired: u32, current: u32) -> u32 {
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(desired);
        if desired >= current {
            desired
        } else {
            self.recent.iter().copied().max().unwrap_or(desired).min(current)
        }
    }

    /// Forgets the history.
    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_in_waits_for_the_window_scale_out_does_not() {
        let mut s = Stabiliser::new(3);
        assert_eq!(s.recommend(5, 2), 5);
        assert_eq!(s.recommend(1, 5), 5);
        assert_eq!(s.recommend(1, 5), 5);
        assert_eq!(s.recommend(1, 5), 1);
        assert_eq!(s.recommend(4, 1), 4);
    }
}
