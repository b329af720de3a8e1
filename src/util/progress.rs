//! How far a build, push or pull is, on stderr: a bar where a person watches a terminal, a
//! plain line now and then where stderr is a pipe or a log, nothing when asked for quiet or
//! JSON.
//!
//! Bytes are counted as they are read (inside a blob, not when it is done), bytes already
//! there (a blob the registry has, a download resumed) count as done but not towards the
//! rate, and the time left is said only once there is enough data for it to mean something.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::HumanBytes;

/// How a command shows its progress; the command line decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Nothing (`--quiet`, `--message-format json`).
    #[default]
    Off,
    /// A bar, redrawn in place: stderr is a terminal.
    Bar,
    /// A plain line at most every [`interval`], none for a run shorter than that: stderr
    /// is a pipe or a file.
    Lines,
}

/// The time left is said only after this long...
const ESTIMATE_AFTER: Duration = Duration::from_secs(3);
/// ...and once this part of the bytes to move (in percent) has moved.
const ESTIMATE_FROM_PERCENT: u64 = 1;

/// Between two plain lines by default: a long run says how far it is, a short one nothing.
const INTERVAL: Duration = Duration::from_secs(10);

/// Between two plain lines: [`INTERVAL`], or `GLC_PROGRESS_INTERVAL_MS` (for tests, which
/// cannot wait for a run that long; not meant for users, and not in `--help`).
#[must_use]
pub fn interval() -> Duration {
    std::env::var("GLC_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(INTERVAL, Duration::from_millis)
}

/// What is counted, shared with the bar's own keys.
#[derive(Debug, Default)]
struct Counts {
    /// Bytes done, moved or found there.
    done: AtomicU64,
    /// Of those, bytes found there (not moved): they do not count towards the rate.
    there: AtomicU64,
    /// Items (blobs, files) done.
    items: AtomicU64,
}

/// The progress of one command: [`Progress::inc`] as bytes move.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    /// What is counted in items, and how many there are: `("blobs", 80)`.
    items: Option<(&'static str, u64)>,
    counts: Arc<Counts>,
    started: Instant,
    shown: Shown,
}

#[derive(Debug)]
enum Shown {
    Off,
    Bar(indicatif::ProgressBar),
    /// When the last line was printed, and the interval between lines.
    Lines(Mutex<Instant>, Duration),
}

impl Progress {
    /// The progress of `label` ("push") over `total` bytes, shown as `mode` says.
    #[must_use]
    pub fn new(mode: Mode, label: &'static str, total: u64) -> Self {
        Self::with_items(mode, label, total, None)
    }

    /// As [`Progress::new`], also counting `items`: `("blobs", 80)`.
    #[must_use]
    pub fn with_items(
        mode: Mode,
        label: &'static str,
        total: u64,
        items: Option<(&'static str, u64)>,
    ) -> Self {
        let counts = Arc::new(Counts::default());
        let started = Instant::now();
        let shown = match mode {
            Mode::Off => Shown::Off,
            Mode::Bar => Shown::Bar(bar(label, total, items, &counts, started)),
            Mode::Lines => Shown::Lines(Mutex::new(started), interval()),
        };
        Self {
            label,
            total,
            items,
            counts,
            started,
            shown,
        }
    }

    /// `n` more bytes moved.
    pub fn inc(&self, n: u64) {
        self.counts.done.fetch_add(n, Ordering::Relaxed);
        self.show();
    }

    /// `n` more bytes found there: done, without moving.
    pub fn there(&self, n: u64) {
        self.counts.there.fetch_add(n, Ordering::Relaxed);
        self.inc(n);
    }

    /// One more item done.
    pub fn item_done(&self) {
        self.counts.items.fetch_add(1, Ordering::Relaxed);
        self.show();
    }

    /// Takes the bar off the terminal; the command's summary follows.
    pub fn finish(&self) {
        if let Shown::Bar(bar) = &self.shown {
            bar.finish_and_clear();
        }
    }

    fn show(&self) {
        match &self.shown {
            Shown::Off => {}
            Shown::Bar(bar) => bar.set_position(self.counts.done.load(Ordering::Relaxed)),
            Shown::Lines(last, interval) => {
                // One thread prints; the others go on with their bytes.
                let Ok(mut last) = last.try_lock() else {
                    return;
                };
                let now = Instant::now();
                if now.duration_since(*last) < *interval {
                    return;
                }
                *last = now;
                eprintln!("{}", self.line(now.duration_since(self.started)));
            }
        }
    }

    /// The plain line: "push: 1.2 GiB of 2.0 GiB, 14 of 80 blobs, 85.0 MiB/s, 9s left".
    fn line(&self, elapsed: Duration) -> String {
        let counts = &self.counts;
        let done = counts.done.load(Ordering::Relaxed);
        let mut line = format!(
            "{}: {} of {}",
            self.label,
            HumanBytes(done),
            HumanBytes(self.total)
        );
        if let Some((noun, of)) = self.items {
            let _ = write!(
                line,
                ", {} of {of} {noun}",
                counts.items.load(Ordering::Relaxed)
            );
        }
        let moved = done.saturating_sub(counts.there.load(Ordering::Relaxed));
        let _ = write!(line, ", {}/s", HumanBytes(rate(moved, elapsed)));
        if let Some(left) = time_left(elapsed, moved, self.total.saturating_sub(done)) {
            let _ = write!(line, ", {left} left");
        }
        line
    }
}

/// Bytes a second, on average over `elapsed`.
fn rate(moved: u64, elapsed: Duration) -> u64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    #[allow(clippy::cast_sign_loss)] // bytes a second: positive, far below 2^52
    let rate = (moved as f64 / seconds) as u64;
    rate
}

/// The time left to move `left` more bytes at the rate `moved` bytes took `elapsed`: none
/// before [`ESTIMATE_AFTER`] and [`ESTIMATE_FROM_PERCENT`] of the bytes to move, when an
/// estimate says more about the start than about the run ("5w", "17h").
#[must_use]
pub fn time_left(elapsed: Duration, moved: u64, left: u64) -> Option<String> {
    let to_move = moved.saturating_add(left);
    if elapsed < ESTIMATE_AFTER
        || moved == 0
        || left == 0
        || u128::from(moved) * 100 < u128::from(to_move) * u128::from(ESTIMATE_FROM_PERCENT)
    {
        return None;
    }
    let seconds = u128::from(left) * elapsed.as_millis() / u128::from(moved) / 1000;
    let seconds = u64::try_from(seconds).unwrap_or(u64::MAX);
    Some(match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds / 60 % 60),
    })
}

/// The bar: label, bar, bytes, items, rate, time left.
fn bar(
    label: &'static str,
    total: u64,
    items: Option<(&'static str, u64)>,
    counts: &Arc<Counts>,
    started: Instant,
) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let items_counts = Arc::clone(counts);
    let rate_counts = Arc::clone(counts);
    let left_counts = Arc::clone(counts);
    let style = indicatif::ProgressStyle::with_template(
        "{prefix} {bar:40} {bytes}/{total_bytes}{items} {rate}{left}",
    )
    .map(|style| {
        style
            .with_key(
                "items",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Some((noun, of)) = items {
                        let done = items_counts.items.load(Ordering::Relaxed);
                        let _ = write!(w, " {done}/{of} {noun}");
                    }
                },
            )
            .with_key(
                "rate",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let moved = moved(&rate_counts);
                    let _ = write!(w, "{}/s", HumanBytes(rate(moved, started.elapsed())));
                },
            )
            .with_key(
                "left",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = total.saturating_sub(left_counts.done.load(Ordering::Relaxed));
                    if let Some(left) = time_left(started.elapsed(), moved(&left_counts), left) {
                        let _ = write!(w, " {left} left");
                    }
                },
            )
    });
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_prefix(label);
    bar
}

fn moved(counts: &Counts) -> u64 {
    counts
        .done
        .load(Ordering::Relaxed)
        .saturating_sub(counts.there.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn no_time_left_is_said_before_a_few_seconds_and_a_percent() {
        // Early: a quick start would say seconds, a slow one weeks; neither means much.
        assert_eq!(
            time_left(Duration::from_millis(2900), 500 * MIB, 500 * MIB),
            None
        );
        assert_eq!(time_left(Duration::from_secs(30), MIB / 2, 100 * MIB), None);
        assert_eq!(time_left(Duration::from_secs(30), 0, 100 * MIB), None);
        // Done: nothing is left to estimate.
        assert_eq!(time_left(Duration::from_secs(30), 100 * MIB, 0), None);
    }

    #[test]
    fn the_time_left_follows_the_rate_so_far() {
        // 1 % in 3 s: 297 s more.
        assert_eq!(
            time_left(Duration::from_secs(3), MIB, 99 * MIB),
            Some("4m 57s".to_owned())
        );
        assert_eq!(
            time_left(Duration::from_secs(10), 100 * MIB, 50 * MIB),
            Some("5s".to_owned())
        );
        assert_eq!(
            time_left(Duration::from_mins(1), 10 * MIB, 990 * MIB),
            Some("1h 39m".to_owned())
        );
    }

    #[test]
    fn a_line_says_label_bytes_items_and_rate() {
        let progress = Progress::with_items(Mode::Off, "push", 2 << 30, Some(("blobs", 80)));
        progress.there(512 << 20);
        progress.inc(512 << 20);
        for _ in 0..14 {
            progress.item_done();
        }
        assert_eq!(
            progress.line(Duration::from_secs(4)),
            "push: 1.00 GiB of 2.00 GiB, 14 of 80 blobs, 128.00 MiB/s, 8s left"
        );
    }
}
