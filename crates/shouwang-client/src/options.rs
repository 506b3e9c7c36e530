//! What a client is built with besides TLS: timeouts and the user agent.

use std::time::Duration;

/// Timeouts and the user agent of a client.
#[derive(Debug, Clone)]
pub struct Options {
    pub connect_timeout: Duration,
    /// Whole request; `None` for none (a stream).
    pub timeout: Option<Duration>,
    /// Between reads; detects a dead stream.
    pub read_timeout: Option<Duration>,
    pub user_agent: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Some(Duration::from_secs(30)),
            read_timeout: None,
            user_agent: None,
        }
    }
}
