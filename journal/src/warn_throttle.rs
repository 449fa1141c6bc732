//! At most one warning per interval, for conditions that can repeat many
//! times a second (a misconfigured client retrying, a stalling disk): the
//! first is logged at once, the rest are counted into the next warning.

use std::time::{Duration, Instant};

/// When the last warning went out.
#[derive(Default)]
pub(crate) struct WarnThrottle {
    last: Option<Instant>,
}

impl WarnThrottle {
    /// Whether a warning may go out at `now` (none yet, or none for
    /// `interval`); if so, it counts as given.
    pub fn due(&mut self, now: Instant, interval: Duration) -> bool {
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= interval);
        if due {
            self.last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_at_once_then_one_per_interval() {
        let mut throttle = WarnThrottle::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert!(throttle.due(start, second));
        assert!(!throttle.due(start + second / 2, second));
        assert!(!throttle.due(start + second - Duration::from_nanos(1), second));
        assert!(throttle.due(start + second, second));
        assert!(!throttle.due(start + second, second), "the one just given counts");
    }
}
