//! Real shouwang processes for whoever needs one started: the end-to-end
//! tests, the drill's private collector (`drill corpus`, `run --spawn`) and
//! the demo's agent. One way to start a private collector
//! ([`collector::Configured`] → [`collector::Running`]), one agent config
//! writer ([`agent::AgentConfig`]), one child-process handle ([`Proc`]).
//!
//! Synchronous and std-only (plus anyhow): it links no tokio, no HTTP client
//! and no collector code, so the drill and the console stay light. Talking
//! to a started collector is `shouwang-client`'s job.

pub mod agent;
pub mod collector;
mod proc;

pub use proc::{Proc, cli, sibling, wait_for, write_private};
