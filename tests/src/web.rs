//! A local HTTPS server for site-check tests: certificates from a test CA
//! made with rcgen (valid, expiring or expired), files served from a
//! directory, and the tricks real sites play:
//! - `NAME.crawler.html` is served instead of `NAME.html` to user agents
//!   containing `spider` or `bot` (cloaking);
//! - `{{now}}` and `{{csrf}}` in a page are replaced on every request
//!   (dynamic parts that must not count as changes).
//!
//! Plain HTTP/1.1 with keep-alive, written by hand: enough for reqwest and
//! for the benchmark's blackbox exporter, and nothing to configure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the server certificate is valid around now.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// From a day ago for a year.
    Good,
    /// Expires in this many days.
    ExpiresIn(i64),
    /// Expired this many days ago.
    ExpiredAgo(i64),
}

/// A test CA and a server certificate for `host`.
pub struct Certs {
    pub ca_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl Certs {
    pub fn new(host: &str, validity: Validity) -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let now = time::OffsetDateTime::now_utc();
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "shouwang test CA");
        ca.distinguished_name
            .push(DnType::OrganizationName, "shouwang tests");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.not_before = now - time::Duration::days(800);
        ca.not_after = now + time::Duration::days(800);
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);
        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec![host.to_owned()])?;
        leaf.distinguished_name.push(DnType::CommonName, host);
        let (nb, na) = match validity {
            Validity::Good => (
                now - time::Duration::days(1),
                now + time::Duration::days(365),
            ),
            Validity::ExpiresIn(d) => (
                now - time::Duration::days(90),
                now + time::Duration::days(d) + time::Duration::hours(1),
            ),
            Validity::ExpiredAgo(d) => (
                now - time::Duration::days(400),
                now - time::Duration::days(d) - time::Duration::hours(1),
            ),
        };
        leaf.not_before = nb;
        leaf.not_after = na;
        let cert = leaf.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

/// A running HTTPS server.
pub struct WebServer {
    pub addr: SocketAddr,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    pub requests: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebServer {
    /// Serves `docroot` over HTTPS on 127.0.0.1 with a certificate for
    /// `host`, on `threads` runtime threads.
    pub fn start(docroot: &Path, host: &str, validity: Validity) -> anyhow::Result<Self> {
        Self::start_with(docroot, host, validity, 1, true)
    }

    pub fn start_with(
        docroot: &Path,
        host: &str,
        validity: Validity,
        threads: usize,
        tls: bool,
    ) -> anyhow::Result<Self> {
        Self::start_on(
            docroot,
            host,
            validity,
            threads,
            tls,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        )
    }

    /// Like [`WebServer::start_with`] on a given address (a server that
    /// comes back on the same port with another certificate).
    pub fn start_on(
        docroot: &Path,
        host: &str,
        validity: Validity,
        threads: usize,
        tls: bool,
        bind: SocketAddr,
    ) -> anyhow::Result<Self> {
        let certs = Certs::new(host, validity)?;
        let acceptor = if tls {
            let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![certs.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(certs.key_der.clone().into()),
            )?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        } else {
            None
        };
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let docroot = docroot.to_path_buf();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        acc = listener.accept() => {
                            let Ok((tcp, _)) = acc else { continue };
                            let docroot = docroot.clone();
                            let acceptor = acceptor.clone();
                            let counter = counter.clone();
                            tokio::spawn(async move {
                                match acceptor {
                                    Some(a) => {
                                        if let Ok(tls) = a.accept(tcp).await {
                                            let _ = serve(tls, &docroot, &counter).await;
                                        }
                                    }
                                    None => {
                                        let _ = serve(tcp, &docroot, &counter).await;
                                    }
                                }
                            });
                        }
                    }
                }
            });
        });
        Ok(Self {
            addr,
            ca_pem: certs.ca_pem,
            requests,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Writes the CA to `dir/ca.pem` and returns the path.
    pub fn write_ca(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let p = dir.join("ca.pem");
        std::fs::write(&p, &self.ca_pem)?;
        Ok(p)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn render(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Some(bytes);
    };
    if !text.contains("{{") {
        return Some(bytes);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let csrf = format!("{:016x}{:08x}", now.as_nanos() as u64, std::process::id());
    Some(
        text.replace("{{now}}", &stamp)
            .replace("{{csrf}}", &csrf)
            .into_bytes(),
    )
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    docroot: &Path,
    counter: &AtomicU64,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one request head (bodies are not expected).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 {
                anyhow::bail!("request head too large");
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(120), s.read(&mut chunk))
                .await
                .context("idle")??;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        counter.fetch_add(1, Ordering::Relaxed);
        let mut lines = head.lines();
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .to_owned();
        let ua = lines
            .clone()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("user-agent")
                    .then(|| v.trim().to_ascii_lowercase())
            })
            .unwrap_or_default();
        let close = lines.any(|l| l.to_ascii_lowercase().starts_with("connection: close"));
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() || rel.ends_with('/') {
            format!("{rel}index.html")
        } else {
            rel.to_owned()
        };
        let body = if rel.contains("..") {
            None
        } else {
            let crawler = ua.contains("spider") || ua.contains("bot");
            let alt = rel
                .strip_suffix(".html")
                .map(|stem| docroot.join(format!("{stem}.crawler.html")));
            match alt {
                Some(a) if crawler && a.exists() => render(&a),
                _ => render(&docroot.join(&rel)),
            }
        };
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"<h1>not found</h1>".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(&body).await?;
        s.flush().await?;
        if close {
            let _ = s.shutdown().await;
            return Ok(());
        }
    }
}

/// A DNS responder on 127.0.0.1 that answers A queries for any name with
/// the addresses it is told (a hijacked resolver in tests).
pub struct DnsResponder {
    pub addr: SocketAddr,
    answers: Arc<std::sync::Mutex<Vec<Ipv4Addr>>>,
    cname: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsResponder {
    pub fn start(answers: &[Ipv4Addr]) -> anyhow::Result<Self> {
        use hickory_proto::op::{Message, MessageType};
        use hickory_proto::rr::rdata::{A, CNAME};
        use hickory_proto::rr::{Name, RData, Record, RecordType};
        let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = sock.local_addr()?;
        let answers = Arc::new(std::sync::Mutex::new(answers.to_vec()));
        let cname: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a2, c2, s2) = (answers.clone(), cname.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.message_type = MessageType::Response;
                r.metadata.recursion_desired = q.metadata.recursion_desired;
                r.metadata.recursion_available = true;
                for query in &q.queries {
                    r.add_query(query.clone());
                    let mut name = query.name().clone();
                    if let Some(c) = c2.lock().ok().and_then(|c| c.clone())
                        && let Ok(target) = Name::from_ascii(format!("{c}."))
                    {
                        r.add_answer(Record::from_rdata(
                            name.clone(),
                            60,
                            RData::CNAME(CNAME(target.clone())),
                        ));
                        name = target;
                    }
                    if query.query_type() == RecordType::A {
                        for ip in a2.lock().map(|v| v.clone()).unwrap_or_default() {
                            r.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(ip))));
                        }
                    }
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        Ok(Self {
            addr,
            answers,
            cname,
            stop,
            thread: Some(thread),
        })
    }

    /// Answers with these addresses from now on.
    pub fn set(&self, answers: &[Ipv4Addr]) {
        if let Ok(mut a) = self.answers.lock() {
            *a = answers.to_vec();
        }
    }

    /// Adds a CNAME to `target` in front of the addresses.
    pub fn set_cname(&self, target: Option<&str>) {
        if let Ok(mut c) = self.cname.lock() {
            *c = target.map(str::to_owned);
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
