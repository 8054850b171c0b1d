//! The circuit breaker in front of a transform plugin: after repeated
//! failures, batches go straight to `errors` for a cooldown instead of
//! hitting a plugin that keeps failing.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// Opens after `threshold` consecutive failures; after `cooldown` lets one
/// batch through, which closes it on success or reopens it on failure.
#[derive(Debug)]
pub(super) struct CircuitBreaker {
    pub(super) threshold: u32,
    pub(super) cooldown: Duration,
    pub(super) consecutive_failures: u32,
    open_until: Option<Instant>,
    pub(super) times_opened: u64,
}

impl CircuitBreaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            consecutive_failures: 0,
            open_until: None,
            times_opened: 0,
        }
    }

    pub(super) fn state(&self) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if Instant::now() < until => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }
    pub(super) fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
    }
    /// Returns true when this failure opened the circuit.
    pub(super) fn record_failure(&mut self) -> bool {
        self.consecutive_failures += 1;
        let was_closed = self.open_until.is_none();
        if self.consecutive_failures >= self.threshold || !was_closed {
            self.open_until = Some(Instant::now() + self.cooldown);
            self.times_opened += 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_half_opens_after_the_cooldown_and_closes_on_success() {
        let mut breaker = CircuitBreaker::new(2, Duration::from_millis(50));
        assert!(!breaker.record_failure());
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record_success();
        assert!(!breaker.record_failure(), "a success resets the count");
        assert!(breaker.record_failure());
        assert_eq!(breaker.state(), CircuitState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.record_failure(), "a failed trial reopens at once");
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.times_opened, 2);
        std::thread::sleep(Duration::from_millis(60));
        breaker.record_success();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
