//! The client without async (feature `blocking`), for the end-to-end
//! tests.

use serde::de::DeserializeOwned;

use crate::error::{Error, short};
use crate::options::{Options, trim_base};
use crate::tls::TlsMaterial;

/// A blocking client of one collector.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Like [`crate::Client::new`] (`read_timeout` does not apply).
    pub fn new(
        base: &str,
        token: Option<&str>,
        tls: &TlsMaterial,
        opts: &Options,
    ) -> Result<Self, Error> {
        let mut b = reqwest::blocking::Client::builder().connect_timeout(opts.connect_timeout);
        // A blocking client's default total timeout is 30 s; `None` lifts it.
        b = b.timeout(opts.timeout);
        if let Some(ua) = &opts.user_agent {
            b = b.user_agent(ua.clone());
        }
        let http = tls.apply_blocking(b).build().map_err(Error::Build)?;
        Ok(Self {
            http,
            base: trim_base(base),
            token: token.map(str::to_owned),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` without credentials (to probe refusals).
    pub fn bare(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// A request to `path` with the bearer token (if any).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        let r = self.bare(method, path);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

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
