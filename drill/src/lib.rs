//! shouwang-drill: runs attack playbooks and capture corpora against a
//! collector and scores what it detects.
//!
//! Deliberately no collector code, no SQL and no HTTP server: it talks to
//! collectors over their API only, links the pure rules core
//! (`shouwang-rules`) for rule loading and the rule-test event syntax, and
//! starts private collectors through `shouwang-harness`.

pub mod api;
pub mod corpus;
pub mod coverage;
pub mod packets;
pub mod playbook;
pub mod private;
pub mod run;
pub mod score;
