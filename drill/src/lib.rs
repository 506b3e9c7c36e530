//! shouwang-drill: runs attack playbooks and capture corpora against a
//! collector and scores what it detects.

pub mod api;
pub mod corpus;
pub mod coverage;
pub mod packets;
pub mod playbook;
pub mod private;
pub mod run;
pub mod score;
