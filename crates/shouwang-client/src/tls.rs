//! TLS material of a client: the roots it trusts and the identity it
//! shows, from PEM files.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where a client's TLS files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// CA (PEM) the collector's certificate must chain to; only these
    /// roots are trusted. `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS; both or neither.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// How the caller's user names the three files (in error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsNames {
    pub ca: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
}

impl TlsNames {
    /// Command-line flags (console, drill).
    pub const FLAGS: Self = Self {
        ca: "--ca",
        cert: "--cert",
        key: "--key",
    };
    /// Config keys (the agent's `[tls]`).
    pub const CONFIG: Self = Self {
        ca: "tls.ca",
        cert: "tls.cert",
        key: "tls.key",
    };
}

/// Loaded roots and identity, ready for a client builder.
#[derive(Debug, Clone, Default)]
pub struct TlsMaterial {
    roots: Option<Vec<reqwest::Certificate>>,
    identity: Option<reqwest::Identity>,
}

fn read(name: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        name,
        path: path.to_owned(),
        source,
    })
}

/// Reads the files of `tls`; `names` says what to call them in errors.
pub fn load_tls(tls: &Tls, names: &TlsNames) -> Result<TlsMaterial, Error> {
    let roots = match &tls.ca {
        Some(ca) => {
            let certs =
                reqwest::Certificate::from_pem_bundle(&read(names.ca, ca)?).map_err(|source| {
                    Error::NotPem {
                        name: names.ca,
                        path: ca.clone(),
                        source,
                    }
                })?;
            if certs.is_empty() {
                return Err(Error::NoCertificate {
                    name: names.ca,
                    path: ca.clone(),
                });
            }
            Some(certs)
        }
        None => None,
    };
    let identity = match (&tls.cert, &tls.key) {
        (Some(c), Some(k)) => {
            let mut pem = read(names.cert, c)?;
            pem.push(b'\n');
            pem.extend(read(names.key, k)?);
            Some(
                reqwest::Identity::from_pem(&pem).map_err(|source| Error::NotIdentity {
                    cert: names.cert,
                    cert_path: c.clone(),
                    key: names.key,
                    key_path: k.clone(),
                    source,
                })?,
            )
        }
        (None, None) => None,
        _ => {
            return Err(Error::HalfIdentity {
                cert: names.cert,
                key: names.key,
            });
        }
    };
    Ok(TlsMaterial { roots, identity })
}

impl TlsMaterial {
    /// `builder` trusting only the loaded roots (if any) and showing the
    /// identity (if any).
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        with_material!(self, builder)
    }

    /// The same for a blocking client.
    #[cfg(feature = "blocking")]
    pub fn apply_blocking(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::ClientBuilder {
        with_material!(self, builder)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_empty_and_half_files_are_errors_naming_the_setting() {
        let dir = std::env::temp_dir().join(format!("shouwang-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = Tls {
            ca: Some(dir.join("nope.crt")),
            ..Tls::default()
        };
        let e = load_tls(&missing, &TlsNames::FLAGS).unwrap_err();
        assert!(e.to_string().starts_with("cannot read --ca "), "{e}");
        let empty = dir.join("empty.crt");
        std::fs::write(&empty, "").unwrap();
        let e = load_tls(
            &Tls {
                ca: Some(empty),
                ..Tls::default()
            },
            &TlsNames::CONFIG,
        )
        .unwrap_err();
        assert!(e.to_string().ends_with("holds no certificate"), "{e}");
        let half = Tls {
            cert: Some(dir.join("c.crt")),
            ..Tls::default()
        };
        assert_eq!(
            load_tls(&half, &TlsNames::CONFIG).unwrap_err().to_string(),
            "tls.cert and tls.key go together: set both or neither"
        );
        assert!(load_tls(&Tls::default(), &TlsNames::FLAGS).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
