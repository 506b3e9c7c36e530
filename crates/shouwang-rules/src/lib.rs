//! shouwang-rules: the detection rules core. The model (`spec`), the field
//! table (`fields`), conditions (`cond`), named lists (`lists`), compilation
//! of rule texts into a [`Ruleset`] (`compile`), evaluation (`engine`) and
//! each rule's own test cases (`testing`), with located [`Diagnostic`]s.
//!
//! Everything here is pure: rules compile from (file name, text) pairs, and
//! time comes in with the events (the engine runs on event time, never on a
//! clock of its own). Reading a rules directory from disk is the one thin
//! edge, [`dir::load_dir`] (std::fs only). Deliberately no tokio, no sqlx,
//! no axum, no prometheus and no network: the collector (ingest, incidents,
//! hot reload, metrics) and the drill are the edges that use this crate.

pub mod compile;
pub mod cond;
pub mod diagnostic;
pub mod dir;
pub mod engine;
pub mod fields;
pub mod lists;
pub mod periodic;
pub mod spec;
pub mod testing;
pub mod title;

pub use compile::{CompiledRule, RuleMeta, Ruleset};
pub use diagnostic::Diagnostic;
pub use dir::load_dir;
pub use engine::{Detection, Engine};
pub use spec::{RuleKind, Severity};
