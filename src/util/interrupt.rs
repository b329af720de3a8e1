//! Ctrl-C and `kill`: the long commands (build, merge, push, pull) stop where they can keep
//! what resumes, instead of dying wherever the signal finds them.
//!
//! [`install`] makes SIGINT and SIGTERM set one crate-wide flag (a second signal ends the
//! process at once, for a stop that hangs). The loops that take long ask [`check`] at natural
//! points (a chunk of a file, a blob, a request) and return an error carrying [`Interrupted`]
//! once it is set; each command's ordinary error path then removes its staging and keeps what
//! a rerun resumes from. The command layer says "interrupted" and exits `128 + signal`.
//!
//! Until [`install`] is called (a library user, a test) nothing is ever interrupted.

use std::io;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The code of the error an interrupted command ends with.
pub const CODE: &str = "glc::interrupted";

/// What glc says when it stops on a signal.
pub const MESSAGE: &str = "interrupted; run the same command again to resume";

/// The signal that arrived (0: none), and whether one did (for the second signal's exit).
struct Flags {
    signal: Arc<AtomicUsize>,
    arrived: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Makes SIGINT and SIGTERM ask the running command to stop ([`check`]); a second one of
/// either ends the process at once with `128 + signal`. Call once, before the work starts.
pub fn install() -> io::Result<()> {
    let flags = FLAGS.get_or_init(|| Flags {
        signal: Arc::new(AtomicUsize::new(0)),
        arrived: Arc::new(AtomicBool::new(false)),
    });
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The exit first: it acts only once the flag below is set by an earlier signal.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            Arc::clone(&flags.arrived),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&flags.arrived))?;
        signal_hook::flag::register_usize(
            signal,
            Arc::clone(&flags.signal),
            usize::try_from(signal).unwrap_or(usize::MAX),
        )?;
    }
    Ok(())
}

/// The signal that asked glc to stop, if one did.
#[must_use]
pub fn signal() -> Option<i32> {
    let signal = FLAGS.get()?.signal.load(Ordering::Relaxed);
    (signal != 0).then(|| i32::try_from(signal).unwrap_or(i32::MAX))
}

/// Whether a signal asked glc to stop.
#[must_use]
pub fn requested() -> bool {
    signal().is_some()
}

/// The exit status of a command stopped by `signal`: 130 for SIGINT, 143 for SIGTERM.
#[must_use]
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// A stop asked for by a signal: the error [`check`] returns, inside an `io::Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// `Err` carrying [`Interrupted`] once a signal asked glc to stop.
pub fn check() -> io::Result<()> {
    if requested() {
        Err(io::Error::other(Interrupted))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_exit_with_their_shell_status() {
        assert_eq!(exit_status(signal_hook::consts::SIGINT), 130);
        assert_eq!(exit_status(signal_hook::consts::SIGTERM), 143);
    }
}
