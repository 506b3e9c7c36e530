//! shouwang-console: the duty console, a ratatui client of the collector's
//! REST API and `/v1/stream`.
//!
//! - [`app`]: the state. Inputs (keys, mouse, ticks, network messages) in,
//!   effects (API requests, bell, report files, quit) out; no terminal, no
//!   network, no clock.
//! - [`ui`]: drawing, one module per view; reads the state only.
//! - [`net`]: tokio tasks that poll the API, follow the stream and carry
//!   out requests, reporting over a bounded channel.
//! - [`run`]: the terminal edge (raw mode, panic hook, log file, the loop).
//!
//! - `bench` (cargo feature, off in the shipped binary): [`bench`], the
//!   `bench-render` command, and [`fixture`], the synthetic fleet it and
//!   the snapshot tests draw.
//!
//! It deliberately depends on no collector code: only the wire types of
//! `shouwang-proto` and the API client `shouwang-client`, so it can run on an operator's laptop.

pub mod app;
#[cfg(feature = "bench")]
pub mod bench;
pub mod config;
#[cfg(any(test, feature = "bench"))]
pub mod fixture;
pub mod i18n;
pub mod live;
pub mod net;
pub mod report;
pub mod run;
pub mod theme;
pub mod ui;
