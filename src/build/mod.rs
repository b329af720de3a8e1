//! The build back end: a plan into a layout. `emit` (files into blobs), `assemble` (the
//! manifests and indexes of a release), `output` (a layout put in place whole, under a
//! lock), `cache` (digests of inputs from earlier runs), `record` (the last build, for a
//! rebuild with nothing changed); `merge` (parts joined, in layouts and in a registry), `derive`
//! (a release derived again, to compare) and `summary` (what a build or merge says).

pub mod assemble;
pub mod cache;
pub mod derive;
pub mod emit;
pub mod merge;
pub mod output;
pub mod record;
pub mod summary;
