//! Helpers every layer may use, `oci/` and `registry/` included: they know nothing of
//! releases, registries or diagnostics, and import nothing of glc but each other.
//!
//! - `atomic`: files replaced whole (the cache, `--digests`, `glc fmt`).
//! - `text`: lists and counts said in words (`` `a`, `b` and `c` ``, "2 blobs").
//! - `writeback`: the disk write of a file started while glc goes on.
//! - `interrupt`: SIGINT and SIGTERM as a flag the long loops check.
//! - `progress`: the progress line of the long commands, on stderr when a command asks.
//! - `parallel`: work spread over a few threads, results in order, stopped at the first error.

pub mod atomic;
pub mod interrupt;
pub mod parallel;
pub mod progress;
pub mod text;
pub mod writeback;
