//! shouwang-collector: receives agents' batches, keeps the agent registry and
//! event store (SQLite), and exposes the REST API and Prometheus metrics.
//!
//! Layers, by what they may touch:
//! - [`ingest::seqset`], [`ingest::token`], [`config`], [`guard`],
//!   [`boards`] and the ingest plan: pure values;
//! - [`ingest`]: the ingest pipeline (plan, then store, rules and metrics;
//!   no HTTP); [`incidents`]: the detector and the incident book;
//! - [`store`]: all SQL, SQLite only;
//! - [`api`]: HTTP handlers only; [`metrics`]: the Prometheus registry;
//! - [`app`], [`server`]: wiring, serving and the periodic tasks (time is
//!   `shouwang_daemon::clock`, injected);
//! - [`demo`]: the one-command demo (spawns the agent process).
//!
//! Deliberately absent: no packet capture, no host sampling (that is the
//! agent), no terminal UI (that is the console).

pub mod api;
pub mod app;
pub mod audit;
pub mod boards;
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
