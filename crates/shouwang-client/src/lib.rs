//! shouwang-client: the one HTTP client of the collector's API, for the
//! console, the drill and the end-to-end tests.
//!
//! - [`Tls`] + [`load_tls`]: the collector's CA (only those roots are
//!   trusted) and a client certificate and key for mutual TLS, read from
//!   PEM files. The agent's uploader uses the same loader.
//! - [`Client`]: base URL, bearer token, timeouts; typed `GET`/`POST` of
//!   the views in `shouwang_proto::api`.
//! - [`Error`]: what went wrong, readable: a refusal carries the API's
//!   error message (`ErrorBody`), a network failure its innermost cause.
//! - `blocking` (feature): the same client without async, for tests.
//!
//! Deliberately depends on reqwest (rustls, no crypto provider chosen:
//! the binary installs one), serde, thiserror and shouwang-proto only: no
//! tokio runtime of its own, no server, no SQL.

#[macro_use]
mod common;
#[cfg(feature = "blocking")]
pub mod blocking;
mod error;
mod options;
mod tls;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use common::{ApiClient, Transport};
pub use error::{Error, error_text, short};
pub use options::Options;
pub use tls::{Tls, TlsMaterial, TlsNames, load_tls};

/// A client of one collector.
pub type Client = common::ApiClient<reqwest::Client>;

impl common::Transport for reqwest::Client {
    fn build(tls: &TlsMaterial, opts: &Options) -> Result<Self, Error> {
        let mut b = configured!(reqwest::Client::builder(), opts);
        if let Some(t) = opts.timeout {
            b = b.timeout(t);
        }
        if let Some(t) = opts.read_timeout {
            b = b.read_timeout(t);
        }
        tls.apply(b).build().map_err(Error::Build)
    }
}

impl Client {
    endpoint_methods!(reqwest::RequestBuilder);

    /// Sends `req`; a non-success answer is an [`Error::Status`].
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let resp = req.send().await.map_err(|e| Error::Transport(short(&e)))?;
        check(resp).await
    }

    /// `GET path` as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::GET, path))
            .await?
            .json()
            .await
            .map_err(|e| Error::Decode {
                path: path.to_owned(),
                message: short(&e),
            })
    }

    /// `POST path` with a JSON body; the answer as JSON (`null` when it is
    /// empty or not JSON).
    pub async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, Error> {
        let text = self
            .send(self.request(reqwest::Method::POST, path).json(body))
            .await?
            .text()
            .await
            .map_err(|e| Error::Transport(short(&e)))?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }
}

/// `resp` if it is a success; otherwise its status and the API's error
/// message.
pub async fn check(resp: reqwest::Response) -> Result<reqwest::Response, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(Error::status(status, &body))
}
