//! The client without async (feature `blocking`), for the end-to-end
//! tests.

use serde::de::DeserializeOwned;

use crate::common::{ApiClient, Transport};
use crate::error::{Error, short};
use crate::options::Options;
use crate::tls::TlsMaterial;

/// A blocking client of one collector.
pub type Client = ApiClient<reqwest::blocking::Client>;

/// `read_timeout` does not apply to a blocking client.
impl Transport for reqwest::blocking::Client {
    fn build(tls: &TlsMaterial, opts: &Options) -> Result<Self, Error> {
        // A blocking client's default total timeout is 30 s; `None` lifts it.
        let b = configured!(reqwest::blocking::Client::builder(), opts).timeout(opts.timeout);
        tls.apply_blocking(b).build().map_err(Error::Build)
    }
}

impl Client {
    endpoint_methods!(reqwest::blocking::RequestBuilder);

    /// Sends `req`; a non-success answer is an [`Error::Status`].
    pub fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, Error> {
        let resp = req.send().map_err(|e| Error::Transport(short(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().unwrap_or_default();
        Err(Error::status(status, &body))
    }

    /// `GET path` as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::GET, path))?
            .json()
            .map_err(|e| Error::Decode {
                path: path.to_owned(),
                message: short(&e),
            })
    }
}
