//! The one retry policy of every request the client sends (the API's, a blob's download and
//! upload, a token's): which answers and failures are worth another try, how many tries, how
//! long to wait between them (backoff doubling from `Options::backoff`, with jitter so that parallel
//! requests spread out, or the registry's `Retry-After`, capped), and that a signal ends the
//! wait and the tries. It sends nothing itself: a request's layer says what one try came to
//! (a [`Step`]), and [`Policy::run`] decides.
//!
//! Retried: the statuses of a registry (or something before it) that is busy or broken (408,
//! 429, 500, 502, 503, 504) and errors of kind [`super::ErrorKind::Other`] (a connection that broke,
//! timed out or was refused). Final: every other status, refused credentials, a host name
//! that cannot be looked up, a TLS handshake that fails for good, and a signal.

use std::time::Duration;

use super::error::Error;

/// The longest `Retry-After` glc waits.
const MAX_RETRY_AFTER: Duration = Duration::from_mins(1);
/// The longest backoff between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How many tries, and the first wait.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Tries of one request before giving up (at least 1).
    pub tries: u32,
    /// First backoff; it doubles on every retry, with jitter.
    pub backoff: Duration,
}

/// What one try came to.
pub(super) enum Step<T> {
    /// The outcome: a success, or a failure no other try changes.
    Done(Result<T, Error>),
    /// A failure another try may not meet; the outcome if no try is left, and how long the
    /// registry asked to wait (`Retry-After`).
    Retry {
        outcome: Result<T, Error>,
        wait: Option<Duration>,
    },
    /// Try again at once, not counted (a challenge was answered with credentials).
    Again,
}

impl<T> Step<T> {
    /// The step of an error: retried if it is worth it.
    pub fn of_error(e: Error) -> Self {
        if e.worth_retrying() {
            Self::Retry {
                outcome: Err(e),
                wait: None,
            }
        } else {
            Self::Done(Err(e))
        }
    }
}

impl Policy {
    /// Runs tries of `attempt` until one is done, or the tries are spent.
    pub fn run<T>(&self, attempt: impl FnMut() -> Step<T>) -> Result<T, Error> {
        let mut failures = 0;
        self.run_counting(&mut failures, attempt)
    }

    /// [`Policy::run`] counting the failures in `failures`, which a caller keeps across runs
    /// (a download counts the connections that broke mid-blob with the tries to open one).
    pub fn run_counting<T>(
        &self,
        failures: &mut u32,
        mut attempt: impl FnMut() -> Step<T>,
    ) -> Result<T, Error> {
        loop {
            match attempt() {
                Step::Done(outcome) => return outcome,
                Step::Again => {}
                Step::Retry { outcome, wait } => {
                    if !self.failed(failures, wait) {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Counts a failure in `failures`: `false` if it spent the tries, else waits before the
    /// next and says `true`.
    pub fn failed(&self, failures: &mut u32, wait: Option<Duration>) -> bool {
        *failures += 1;
        if *failures >= self.tries {
            return false;
        }
        self.pause(*failures, wait);
        true
    }

    /// Waits before the try after `failures` failures: `wait` (the registry's
    /// `Retry-After`), else backoff doubling from `backoff`, with up to 50 % jitter so that
    /// parallel pushes spread out. A signal ends the wait.
    fn pause(&self, failures: u32, wait: Option<Duration>) {
        let wait = wait.unwrap_or_else(|| {
            let base = self
                .backoff
                .saturating_mul(1 << failures.saturating_sub(1).min(10));
            base.min(MAX_BACKOFF)
        });
        let jitter = wait.mul_f64(f64::from(jitter_percent()) / 200.0);
        // In steps, so that a signal does not wait for the next try (which it stops).
        let until = std::time::Instant::now() + wait + jitter;
        while !crate::util::interrupt::requested() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// Statuses worth another try: the registry or something before it is busy or broken.
pub(super) fn transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a `Retry-After: SECONDS` header asks for with `status` (only 429 and 503 are
/// taken at their word), at most [`MAX_RETRY_AFTER`].
pub(super) fn retry_after(status: u16, header: Option<&str>) -> Option<Duration> {
    if !matches!(status, 429 | 503) {
        return None;
    }
    let seconds: u64 = header?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// 0..100, different on every call and every run: spreads retries of parallel requests.
fn jitter_percent() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos())),
    );
    u32::try_from(hasher.finish() % 100).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::error::{ErrorKind, error};

    fn policy(tries: u32) -> Policy {
        Policy {
            tries,
            backoff: Duration::ZERO,
        }
    }

    #[test]
    fn a_transient_failure_is_tried_as_often_as_the_tries_allow_and_then_returned() {
        let mut tries = 0;
        let outcome: Result<(), Error> = policy(3).run(|| {
            tries += 1;
            Step::Retry {
                outcome: Err(error(format!("try {tries}"))),
                wait: None,
            }
        });
        assert_eq!(tries, 3);
        assert_eq!(outcome.unwrap_err().message, "try 3");
    }

    #[test]
    fn a_final_error_and_an_answered_challenge_are_not_counted_as_tries() {
        let mut tries = 0;
        let outcome: Result<(), Error> = policy(2).run(|| {
            tries += 1;
            match tries {
                1 | 2 => Step::Again,
                3 => Step::of_error(error("broken")),
                _ => Step::of_error(Error::new(ErrorKind::Auth, "refused")),
            }
        });
        assert_eq!(tries, 4, "two free tries, one retried, one final");
        assert_eq!(outcome.unwrap_err().kind, ErrorKind::Auth);
    }

    #[test]
    fn retry_after_is_taken_from_429_and_503_only_and_capped() {
        assert_eq!(retry_after(429, Some(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(503, Some("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(500, Some("2")), None);
        assert_eq!(
            retry_after(429, Some("Fri, 04 Dec 2026 10:00:00 GMT")),
            None
        );
        assert!(transient(502) && !transient(404) && !transient(401));
    }
}
