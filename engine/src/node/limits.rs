//! `client-output-buffer-limit`: how much reply output a client may have
//! queued and unwritten before it is disconnected, per client class.
//!
//! A class has a hard limit (disconnect at once when passed) and a soft
//! limit with a duration (disconnect when the output stays above it that
//! long); 0 disables either. Redis's defaults: normal clients unlimited,
//! pub/sub subscribers 32 MiB hard, 8 MiB soft for 60 s. The replica class
//! is accepted and kept for CONFIG GET but has no clients here (replicas
//! follow the journal, not a connection to this node).

use std::time::{Duration, Instant};

/// One class's limits, in bytes and seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl ClassLimit {
    pub const UNLIMITED: ClassLimit = ClassLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };

    pub fn is_unlimited(&self) -> bool {
        self.hard == 0 && self.soft == 0
    }

    /// Whether a client with `queued` bytes pending must be disconnected,
    /// given since when it has been above the soft limit (updated here:
    /// set when it first passes, cleared when it drops back).
    pub fn exceeded(&self, queued: u64, over_soft_since: &mut Option<Instant>, now: Instant) -> bool {
        if self.hard > 0 && queued >= self.hard {
            return true;
        }
        if self.soft > 0 && queued >= self.soft {
            let since = *over_soft_since.get_or_insert(now);
            return now.saturating_duration_since(since) >= Duration::from_secs(self.soft_seconds);
        }
        *over_soft_since = None;
        false
    }
}

/// The classes Memoir has clients of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            normal: ClassLimit::UNLIMITED,
            replica: ClassLimit {
                hard: 256 * 1024 * 1024,
                soft: 64 * 1024 * 1024,
                soft_seconds: 60,
            },
            pubsub: ClassLimit {
                hard: 32 * 1024 * 1024,
                soft: 8 * 1024 * 1024,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputLimits {
    /// Applies `class hard soft seconds [class hard soft seconds ...]`
    /// (Redis's syntax; classes not named keep their limits). The errors are
    /// Redis's.
    pub fn parse_update(&self, text: &str) -> Result<OutputLimits, &'static str> {
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        if words.is_empty() || words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut limits = *self;
        for group in words.chunks(4) {
            let slot = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut limits.normal,
                "replica" | "slave" => &mut limits.replica,
                "pubsub" => &mut limits.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(group[1]).ok_or(bad)?;
            let soft = parse_memory(group[2]).ok_or(bad)?;
            let soft_seconds = group[3].parse::<u64>().map_err(|_| bad)?;
            *slot = ClassLimit {
                hard,
                soft,
                soft_seconds,
            };
        }
        Ok(limits)
    }

    /// As CONFIG GET shows it.
    pub fn render(&self) -> String {
        let class = |name: &str, l: &ClassLimit| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds);
        format!(
            "{} {} {}",
            class("normal", &self.normal),
            class("slave", &self.replica),
            class("pubsub", &self.pubsub)
        )
    }
}

/// Redis's memory values: a number with an optional unit (b, k, kb, m,
/// mb, g, gb), not negative.
pub fn parse_memory(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let split = lower.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_as_redis_does() {
        assert_eq!(
            OutputLimits::default().render(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }

    #[test]
    fn updates_only_the_classes_named() {
        let limits = OutputLimits::default().parse_update("pubsub 1mb 512kb 5").unwrap();
        assert_eq!(
            limits.pubsub,
            ClassLimit {
                hard: 1 << 20,
                soft: 512 << 10,
                soft_seconds: 5
            }
        );
        assert_eq!(limits.normal, ClassLimit::UNLIMITED);
        assert!(OutputLimits::default().parse_update("pubsub 1 2").is_err());
        assert!(OutputLimits::default().parse_update("master 1 2 3").is_err());
        assert!(OutputLimits::default().parse_update("normal x 2 3").is_err());
        assert!(OutputLimits::default().parse_update("normal 1 2 -3").is_err());
    }

    #[test]
    fn hard_limit_at_once_soft_limit_after_its_duration() {
        let limit = ClassLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 5,
        };
        let start = Instant::now();
        let mut since = None;
        assert!(!limit.exceeded(5, &mut since, start));
        assert!(limit.exceeded(100, &mut since, start));
        assert!(!limit.exceeded(20, &mut since, start));
        assert_eq!(since, Some(start));
        assert!(!limit.exceeded(20, &mut since, start + Duration::from_secs(4)));
        assert!(limit.exceeded(20, &mut since, start + Duration::from_secs(5)));
        // Dropping below the soft limit restarts the clock.
        assert!(!limit.exceeded(5, &mut since, start + Duration::from_secs(6)));
        assert_eq!(since, None);
        assert!(!ClassLimit::UNLIMITED.exceeded(u64::MAX, &mut None, start));
    }
}
