//! What the async and the blocking client share: the client value, and
//! (as macros: reqwest's two clients have the same builder and request
//! methods but no common trait) its request and builder methods.

use crate::error::Error;
use crate::options::Options;
use crate::tls::TlsMaterial;

/// A client of one collector over `H` (reqwest's async or blocking client).
#[derive(Debug, Clone)]
pub struct ApiClient<H> {
    pub(crate) http: H,
    pub(crate) base: String,
    pub(crate) token: Option<String>,
}

/// reqwest's async or blocking client, built with TLS material and options.
pub trait Transport: Sized {
    fn build(tls: &TlsMaterial, opts: &Options) -> Result<Self, Error>;
}

impl<H: Transport> ApiClient<H> {
    /// A client of the collector at `base` (`https://host:port`), sending
    /// `token` as a bearer token when there is one.
    pub fn new(
        base: &str,
        token: Option<&str>,
        tls: &TlsMaterial,
        opts: &Options,
    ) -> Result<Self, Error> {
        Ok(Self {
            http: H::build(tls, opts)?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
        })
    }
}

/// `$builder` with the connect timeout and user agent of `$opts`.
macro_rules! configured {
    ($builder:expr, $opts:expr) => {{
        let b = $builder.connect_timeout($opts.connect_timeout);
        match &$opts.user_agent {
            Some(ua) => b.user_agent(ua.clone()),
            None => b,
        }
    }};
}

/// `base`, `url`, `bare` and `request` for a client with `http`, `base`
/// and `token` fields whose requests are `$req`.
macro_rules! endpoint_methods {
    ($req:ty) => {
        pub fn base(&self) -> &str {
            &self.base
        }

        /// `base` + `path`.
        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        /// A request to `path` without credentials (ingest brings an
        /// agent's; tests probe refusals).
        pub fn bare(&self, method: reqwest::Method, path: &str) -> $req {
            self.http.request(method, self.url(path))
        }

        /// A request to `path` with the bearer token (if any).
        pub fn request(&self, method: reqwest::Method, path: &str) -> $req {
            let r = self.bare(method, path);
            match &self.token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        }
    };
}

/// `$builder` trusting only `$tls`'s roots (if any) and showing its
/// identity (if any).
macro_rules! with_material {
    ($tls:expr, $builder:expr) => {{
        let mut b = $builder;
        if let Some(r) = &$tls.roots {
            b = b.tls_certs_only(r.clone());
        }
        if let Some(id) = &$tls.identity {
            b = b.identity(id.clone());
        }
        b
    }};
}
