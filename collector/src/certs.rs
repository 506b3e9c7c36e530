//! `shouwang-collector certs init` and `certs agent`: a small CA, a server
//! certificate and agent client certificates, for sites without a PKI.
//!
//! Files (PEM) in the TLS directory (default `<data-dir>/tls`): `ca.crt`,
//! `ca.key`, `server.crt`, `server.key`, `agent-NAME.crt`, `agent-NAME.key`.
//! Keys are written with mode 0600 and never overwritten. The collector
//! serves with `server.*` and, when `tls.client-ca` is set, requires agent
//! certificates signed by `ca.crt` (mutual TLS).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Validity of the CA and of the certificates it signs.
pub const CA_DAYS: i64 = 3650;
pub const LEAF_DAYS: i64 = 825;

/// What `certs init` wrote.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
}

fn write_new(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (it exists already? certs are never overwritten)",
                path.display()
            )
        })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
}

/// Creates the CA and the server certificate for `names` (DNS names and IP
/// addresses the agents use to reach the collector), and a client
/// certificate per agent in `agents`.
pub fn init(dir: &Path, names: &[String], agents: &[String]) -> anyhow::Result<Written> {
    if names.is_empty() {
        bail!("name at least one host name or address agents use to reach the collector (--name)");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in ["ca.crt", "ca.key", "server.crt", "server.key"] {
        if dir.join(f).exists() {
            bail!(
                "{} exists: this directory already has a CA (issue agent certificates with `certs agent NAME`)",
                dir.join(f).display()
            );
        }
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "shouwang collector CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "shouwang");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, CA_DAYS);
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut files = Vec::new();
    write_new(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?;
    write_new(&dir.join("ca.crt"), &ca_cert.pem(), false)?;
    files.extend([dir.join("ca.crt"), dir.join("ca.key")]);
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    for n in names {
        leaf.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into()?),
        });
    }
    leaf.distinguished_name.push(DnType::CommonName, &names[0]);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut leaf, LEAF_DAYS);
    let cert = leaf.signed_by(&key, &issuer)?;
    write_new(&dir.join("server.key"), &key.serialize_pem(), true)?;
    write_new(&dir.join("server.crt"), &cert.pem(), false)?;
    files.extend([dir.join("server.crt"), dir.join("server.key")]);
    for a in agents {
        files.extend(issue_agent(dir, &issuer, a)?);
    }
    Ok(Written { files })
}

/// A client certificate for agent `name`, signed by the CA in `dir`.
pub fn agent(dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let ca_pem = std::fs::read_to_string(dir.join("ca.crt"))
        .with_context(|| format!("no CA in {} (run `certs init` first)", dir.display()))?;
    let key_pem = std::fs::read_to_string(dir.join("ca.key"))
        .with_context(|| format!("cannot read {}", dir.join("ca.key").display()))?;
    let ca_key = KeyPair::from_pem(&key_pem).context("ca.key is not a key")?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_pem, &ca_key).context("ca.crt is not a certificate")?;
    issue_agent(dir, &issuer, name)
}

fn issue_agent(
    dir: &Path,
    issuer: &Issuer<'_, &KeyPair>,
    name: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    if !shouwang_proto::valid_agent_name(name) {
        bail!("invalid agent name {name:?}");
    }
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "shouwang agents");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut p, LEAF_DAYS);
    let cert = p.signed_by(&key, issuer)?;
    let (k, c) = (
        dir.join(format!("agent-{name}.key")),
        dir.join(format!("agent-{name}.crt")),
    );
    write_new(&k, &key.serialize_pem(), true)?;
    write_new(&c, &cert.pem(), false)?;
    Ok(vec![c, k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_makes_a_ca_a_server_and_agents_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let w = init(
            dir.path(),
            &["collector.example.gov.cn".into(), "10.1.2.3".into()],
            &["gw-01".into()],
        )
        .unwrap();
        assert_eq!(w.files.len(), 6);
        use std::os::unix::fs::PermissionsExt as _;
        for f in ["ca.key", "server.key", "agent-gw-01.key"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let e = init(dir.path(), &["x".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("already has a CA"), "{e}");
        // Later agents from the same CA.
        let more = agent(dir.path(), "gw-02").unwrap();
        assert_eq!(more.len(), 2);
        let e = agent(dir.path(), "gw-02").unwrap_err().to_string();
        assert!(e.contains("never overwritten"), "{e}");
        assert!(agent(dir.path(), "../x").is_err());
        // The server certificate names both the host and the address.
        let pem = std::fs::read_to_string(dir.path().join("server.crt")).unwrap();
        let der = pem_der(&pem);
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
        let san = x.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|g| format!("{g:?}")).collect();
        assert!(
            names.iter().any(|n| n.contains("collector.example.gov.cn")),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.contains("10.1.2.3") || n.contains("[10, 1, 2, 3]")),
            "{names:?}"
        );
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64_decode(&b64)
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut buf, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            let v = A.iter().position(|&a| a == c).unwrap() as u32;
            buf = (buf << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        out
    }
}
