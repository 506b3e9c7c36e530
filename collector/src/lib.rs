//! shouwang-collector: receives agents' batches, keeps the agent registry and
//! event store (SQLite), and exposes the REST API and Prometheus metrics.
//!
//! Layers, by what they may touch:
//! - [`ingest::seqset`], [`ingest::token`], [`config`]: pure values;
//! - [`ingest`]: the ingest pipeline (store and metrics, no HTTP);
//! - [`store`]: SQLite only;
//! - [`api`]: HTTP only; [`metrics`]: the Prometheus registry;
//! - [`demo`]: the one-command demo (spawns the agent process).
//!
//! Deliberately absent: no packet capture, no host sampling (that is the
//! agent), no terminal UI (that is the console).

pub mod api;
pub mod app;
pub mod audit;
pub mod certs;
pub mod config;
pub mod demo;
pub mod duty;
pub mod guard;
pub mod incidents;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod store;
pub mod tls;

pub use app::App;
pub use server::{bind, serve};
pub use shouwang_daemon::clock::{Clock, SystemClock};
