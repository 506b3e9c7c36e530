//! The client's errors, and the readable text of an API error body.

use std::path::PathBuf;

use shouwang_proto::api::ErrorBody;

/// Longest piece of a non-JSON error body quoted.
const MAX_QUOTED: usize = 300;

/// What went wrong talking to the collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {name} {}", path.display())]
    Read {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} {} is not a PEM certificate", path.display())]
    NotPem {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("{name} {} holds no certificate", path.display())]
    NoCertificate { name: &'static str, path: PathBuf },
    #[error("{cert} {} / {key} {}: not a certificate and key", cert_path.display(), key_path.display())]
    NotIdentity {
        cert: &'static str,
        cert_path: PathBuf,
        key: &'static str,
        key_path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("{cert} and {key} go together: set both or neither")]
    HalfIdentity {
        cert: &'static str,
        key: &'static str,
    },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// No answer: connection refused, TLS, timeout (the innermost cause).
    #[error("{0}")]
    Transport(String),
    /// The collector answered with an error.
    #[error("HTTP {}: {message}", status.as_u16())]
    Status {
        status: reqwest::StatusCode,
        /// The API's error message, or the start of the body.
        message: String,
    },
    /// A success whose body is not what the route returns.
    #[error("{path}: {message}")]
    Decode { path: String, message: String },
}

impl Error {
    /// The error of an answer with `status` and `body`.
    pub fn status(status: reqwest::StatusCode, body: &str) -> Self {
        Self::Status {
            status,
            message: error_text(body, MAX_QUOTED),
        }
    }
}

/// The readable text of an error answer's body: the API's message, or the
/// first `max` characters of whatever came (a proxy's page).
pub fn error_text(body: &str, max: usize) -> String {
    ErrorBody::message_of(body).unwrap_or_else(|| body.chars().take(max).collect())
}

/// Shortest useful text of a request error: the innermost cause, marked
/// when it was a timeout.
pub fn short(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    if e.is_timeout() {
        format!("timed out ({msg})")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_reads_as_its_message_and_junk_is_quoted_short() {
        let body = r#"{"error":{"code":"forbidden","message":"token \"w\" is a viewer; this needs operator"}}"#;
        let e = Error::status(reqwest::StatusCode::FORBIDDEN, body);
        assert_eq!(
            e.to_string(),
            "HTTP 403: token \"w\" is a viewer; this needs operator"
        );
        assert_eq!(error_text(&"x".repeat(1000), 5), "xxxxx");
        assert_eq!(
            error_text("<html>bad gateway</html>", 300),
            "<html>bad gateway</html>"
        );
    }
}
