//! The front end: a release file into the plan every later stage reads, one module a
//! stage: `parse` (KDL) → `check` (against `schema`) → `decode` (into `model`) → `expand`
//! (templates, matrices, flavors; `template`, `flavors`) → `resolve` (files on disk, media
//! types, sizes) → `plan` (`select` for `--only`). `fmt` formats release files; `role`
//! and `media_type` are the vocabulary of the files a release names.

pub mod check;
pub mod decode;
pub mod expand;
pub mod flavors;
pub mod fmt;
pub mod media_type;
pub mod model;
pub mod parse;
pub mod plan;
pub mod resolve;
pub mod role;
pub mod schema;
pub mod select;
pub mod template;
