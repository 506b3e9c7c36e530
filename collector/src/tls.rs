//! TLS for the collector's listener (rustls, ring provider).
//!
//! - TLS is used when `tls.cert` and `tls.key` are set, or when
//!   `<data-dir>/tls/server.crt` and `server.key` exist (what
//!   `certs init` writes).
//! - Without TLS, a listener on a non-loopback address is refused unless
//!   `tls.allow-plaintext = true`: tokens and telemetry would cross the
//!   extranet in clear.
//! - With `tls.client-ca`, every client must present a certificate signed
//!   by that CA (mutual TLS); connections without one fail the handshake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::CollectorConfig;

/// How the listener will serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tls {
        cert: PathBuf,
        key: PathBuf,
        client_ca: Option<PathBuf>,
    },
}

/// Decides plaintext or TLS for `config`, refusing plaintext on a
/// non-loopback address unless allowed.
pub fn mode(config: &CollectorConfig) -> anyhow::Result<Mode> {
    let t = &config.tls;
    let default_dir = config.data_dir.join("tls");
    let (cert, key) = match (&t.cert, &t.key) {
        (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
        (None, None) => {
            let (c, k) = (
                default_dir.join("server.crt"),
                default_dir.join("server.key"),
            );
            if c.exists() && k.exists() {
                (Some(c), Some(k))
            } else {
                (None, None)
            }
        }
        _ => bail!("tls.cert and tls.key go together: set both or neither"),
    };
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Mode::Tls {
            cert,
            key,
            client_ca: t.client_ca.clone(),
        }),
        _ => {
            if t.client_ca.is_some() {
                bail!(
                    "tls.client-ca (mutual TLS) needs a server certificate: set tls.cert and tls.key, or run `shouwang-collector certs init`"
                );
            }
            let ip = config.listen.ip();
            if !ip.is_loopback() && !t.allow_plaintext {
                bail!(
                    "refusing to serve plaintext HTTP on {} (not loopback): agent tokens and telemetry would cross the network in clear. \
                     Run `shouwang-collector certs init --name HOST` (TLS is then used from {}), set tls.cert and tls.key, \
                     or set tls.allow-plaintext = true behind a TLS-terminating proxy",
                    config.listen,
                    default_dir.display()
                );
            }
            Ok(Mode::Plain)
        }
    }
}

fn certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let v: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} holds a malformed certificate", path.display()))?;
    if v.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(v)
}

/// The rustls server configuration for a TLS [`Mode`].
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<rustls::ServerConfig> {
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("{} is not a usable CA certificate", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .context("the server certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The URL clients use for `addr` in `mode`.
pub fn url(addr: SocketAddr, mode: &Mode) -> String {
    match mode {
        Mode::Plain => format!("http://{addr}"),
        Mode::Tls { .. } => format!("https://{addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, extra: &str, dir: &Path) -> CollectorConfig {
        CollectorConfig::parse(
            "t.toml",
            &format!(
                "listen = \"{listen}\"\ndata-dir = \"{}\"\n{extra}",
                dir.display()
            ),
        )
        .unwrap()
    }

    #[test]
    fn plaintext_is_refused_off_loopback_unless_allowed_and_certs_switch_tls_on() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            mode(&cfg("127.0.0.1:9740", "", dir.path())).unwrap(),
            Mode::Plain
        );
        assert_eq!(
            mode(&cfg("[::1]:9740", "", dir.path())).unwrap(),
            Mode::Plain
        );
        let e = mode(&cfg("0.0.0.0:9740", "", dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refusing to serve plaintext") && e.contains("certs init"),
            "{e}"
        );
        assert_eq!(
            mode(&cfg(
                "0.0.0.0:9740",
                "[tls]\nallow-plaintext = true\n",
                dir.path()
            ))
            .unwrap(),
            Mode::Plain
        );
        // After `certs init`, TLS by default, on any address.
        crate::certs::init(&dir.path().join("tls"), &["localhost".into()], &[]).unwrap();
        let m = mode(&cfg("0.0.0.0:9740", "", dir.path())).unwrap();
        assert!(
            matches!(
                m,
                Mode::Tls {
                    client_ca: None,
                    ..
                }
            ),
            "{m:?}"
        );
        let Mode::Tls { cert, key, .. } = m else {
            unreachable!()
        };
        server_config(&cert, &key, Some(&dir.path().join("tls/ca.crt"))).unwrap();
        // Half a pair is an error; a key that is not a key too.
        let e = mode(&cfg(
            "127.0.0.1:1",
            "[tls]\ncert = \"/x.crt\"\n",
            dir.path(),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        let e = server_config(&cert, &cert, None).unwrap_err();
        assert!(format!("{e:#}").contains("private key"), "{e:#}");
    }
}
