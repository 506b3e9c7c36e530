//! shouwang-agent: the part of shouwang (守望) that runs on every host.
//!
//! It samples the host (CPU, memory, load, disks, interfaces, processes,
//! listening sockets, sessions, boot time), follows the system auth log for
//! sshd / su / sudo attempts, and ships everything as numbered batches to the
//! collector.
//!
//! Layers, by what they may touch:
//! - [`config`], [`host::authlog`], [`host::sessions`]: pure parsing;
//! - [`host::sampler`], [`host::sockets`], [`host::follow`]: read /proc, utmp
//!   and log files (blocking; run off the async workers);
//! - [`ship`]: batching, the bounded spool, HTTP upload;
//! - [`runtime`]: the configuration made into runtime settings (name,
//!   token, capture settings);
//! - [`run`]: wiring and ordered shutdown.
//!
//! Deliberately absent: no TUI, no SQL, no rule engine. The agent is deployed
//! on every host and stays small; detection happens in the collector.

pub mod config;
pub mod host;
pub mod integrity;
pub mod limits;
pub mod log_cmd;
pub mod packet;
pub mod pcap_cmd;
pub mod run;
pub mod runtime;
pub mod ship;
pub mod state;
