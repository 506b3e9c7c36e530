//! The network side of a site check: HTTP fetch with a bounded body and
//! charset decoding, the leaf certificate (from the fetch, or from a bare
//! handshake when the certificate does not verify), and DNS answers asked
//! of each configured resolver directly (no cache, no fail-over: a hijacked
//! resolver must not hide behind a healthy one).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// What one fetch returned.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub status: Option<u16>,
    pub body: String,
    /// The body was cut at the size limit.
    pub truncated: bool,
    pub elapsed_ms: u64,
    pub cert_der: Option<Vec<u8>>,
    pub error: Option<String>,
    /// The error is a certificate verification failure.
    pub tls_failed: bool,
}

/// Facts of a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub days_left: i64,
    pub issuer: String,
    pub fingerprint: String,
}

/// Reads a DER certificate.
pub fn cert_facts(der: &[u8], now_unix: i64) -> Option<CertFacts> {
    use sha2::Digest;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let left = not_after - now_unix;
    // Floor division: an hour past expiry is day -1.
    let days_left = left.div_euclid(86_400);
    Some(CertFacts {
        days_left,
        issuer: cert.issuer().to_string(),
        fingerprint: hex::encode(sha2::Sha256::digest(der)),
    })
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Short reason for a failed fetch.
fn classify(e: &reqwest::Error) -> (String, bool) {
    let chain = error_chain(e);
    let lower = chain.to_ascii_lowercase();
    let tls = lower.contains("certificate") || lower.contains("invalidcertificate");
    let short = if e.is_timeout() {
        "timeout".to_owned()
    } else if tls {
        let why = if lower.contains("expired") {
            "certificate expired"
        } else if lower.contains("unknownissuer")
            || lower.contains("unknown issuer")
            || lower.contains("badsignature")
            || lower.contains("bad signature")
        {
            // A bad signature under a known issuer name: another CA using
            // the trusted one's name.
            "certificate from an unknown issuer"
        } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            "certificate not valid for this name"
        } else if lower.contains("notvalidyet") {
            "certificate not yet valid"
        } else {
            tracing::debug!("unclassified certificate error: {chain}");
            "certificate rejected"
        };
        format!("tls: {why}")
    } else if e.is_connect() {
        if lower.contains("refused") {
            "connection refused".to_owned()
        } else {
            format!("connect: {chain}")
        }
    } else {
        chain
    };
    (short, tls)
}

/// GETs `url` with `user_agent`, reading at most `max_body` bytes.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    user_agent: &str,
    timeout: Duration,
    max_body: usize,
) -> Fetched {
    let started = Instant::now();
    let mut out = Fetched::default();
    let result = async {
        let mut resp = client
            .get(url)
            .header(reqwest::header::USER_AGENT, user_agent)
            .timeout(timeout)
            .send()
            .await?;
        out.status = Some(resp.status().as_u16());
        out.cert_der = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate().map(<[u8]>::to_vec));
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            let room = max_body.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                out.truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        out.body = shouwang_page::decode(&body, ct.as_deref());
        Ok::<(), reqwest::Error>(())
    }
    .await;
    if let Err(e) = result {
        let (why, tls) = classify(&e);
        out.error = Some(why);
        out.tls_failed = tls;
    }
    out.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    out
}

/// Accepts any certificate: used only to read the certificate of a site
/// whose certificate failed verification, never to fetch content.
#[derive(Debug)]
struct Capture(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Handshakes with `addr` as `host` and returns the leaf certificate,
/// whatever it is.
pub async fn leaf_certificate(addr: SocketAddr, host: &str, timeout: Duration) -> Option<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let tls = connector.connect(name, tcp).await.ok()?;
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// Answers of one resolver for `host` (A and AAAA): addresses and CNAME
/// targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsAnswer {
    pub addrs: Vec<IpAddr>,
    pub cnames: Vec<String>,
}

/// Asks `resolver` for `host`'s A and AAAA records over UDP (TCP when the
/// answer is truncated is not needed for address records of one name).
pub async fn resolve(
    resolver: SocketAddr,
    host: &str,
    timeout: Duration,
) -> Result<DnsAnswer, String> {
    let name = Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
        .map_err(|e| format!("bad host name {host:?}: {e}"))?;
    let bind: SocketAddr = if resolver.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("udp socket: {e}"))?;
    sock.connect(resolver)
        .await
        .map_err(|e| format!("resolver {resolver}: {e}"))?;
    let mut out = DnsAnswer::default();
    for rt in [RecordType::A, RecordType::AAAA] {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(name.clone(), rt));
        let id = q.metadata.id;
        let bytes = q.to_vec().map_err(|e| format!("encoding query: {e}"))?;
        sock.send(&bytes)
            .await
            .map_err(|e| format!("resolver {resolver}: {e}"))?;
        let mut buf = vec![0u8; 4096];
        let reply = loop {
            let n = tokio::time::timeout(timeout, sock.recv(&mut buf))
                .await
                .map_err(|_| format!("resolver {resolver}: no answer within {timeout:?}"))?
                .map_err(|e| format!("resolver {resolver}: {e}"))?;
            let Ok(m) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if m.metadata.id == id {
                break m;
            }
        };
        for r in &reply.answers {
            match &r.data {
                RData::A(a) => out.addrs.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => out.addrs.push(IpAddr::V6(a.0)),
                RData::CNAME(c) => {
                    let t = c.0.to_ascii();
                    let t = t.trim_end_matches('.').to_ascii_lowercase();
                    if !out.cnames.contains(&t) {
                        out.cnames.push(t);
                    }
                }
                _ => {}
            }
        }
    }
    out.addrs.sort();
    out.addrs.dedup();
    Ok(out)
}
