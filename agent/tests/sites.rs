//! Remote site checks against a local HTTPS server (certificates from a
//! test CA made with rcgen) and a local DNS responder: each kind of
//! tampering gives its finding, and a clean page whose timestamps and CSRF
//! tokens change on every load gives none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use shouwang_agent::integrity::site::lexicon::Lexicon;
use shouwang_agent::integrity::site::{Site, SiteConfig};
use shouwang_e2e::web::{DnsResponder, Validity, WebServer};
use shouwang_proto::SiteCheck;

const HOST: &str = "portal.gov.test";

const CLEAN: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>某某县人民政府门户网站</title>
<meta name="csrf-token" content="{{csrf}}">
<script src="/static/app.js"></script>
<script src="https://www.gov.cn/static/common.js"></script>
</head><body>
<div id="header"><h1>某某县人民政府</h1><p>今天是 {{now}}</p></div>
<ul class="nav"><li><a href="/zwgk/">政务公开</a></li><li><a href="/bsfw/">办事服务</a></li>
<li><a href="/hdjl/">互动交流</a></li><li><a href="https://www.gov.cn/">中国政府网</a></li></ul>
<div class="news"><h2>要闻动态</h2>
<p>县委召开常委会议，传达学习上级会议精神，研究部署当前重点工作。</p>
<p>我县开展严厉打击赌博违法犯罪专项行动，维护社会治安稳定。</p>
<p>全县安全生产工作会议召开，要求压实责任，抓好隐患排查整治。</p>
<p>政务服务中心推行“一窗受理”，群众办事更加便捷高效。</p></div>
<form action="/search"><input type="hidden" name="_csrf" value="{{csrf}}"><input name="q"></form>
<div id="footer">主办：某某县人民政府办公室 访问量：{{now}}</div>
</body></html>
"#;

fn docroot() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("index.html"), CLEAN).unwrap();
    d
}

struct Rig {
    server: Option<WebServer>,
    site: Site,
    _state: tempfile::TempDir,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rig(root: &Path, validity: Validity, tweak: impl FnOnce(&mut SiteConfig)) -> Rig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = WebServer::start(root, HOST, validity).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cfg = SiteConfig::new(format!("https://{HOST}:{}/", server.addr.port()));
    cfg.site = Some("portal".into());
    cfg.connect_to = Some(server.addr);
    cfg.ca_file = Some(server.write_ca(state.path()).unwrap());
    cfg.allowed_domains = vec![HOST.into(), "gov.cn".into()];
    cfg.timeout = std::time::Duration::from_secs(5);
    tweak(&mut cfg);
    cfg.validate().unwrap();
    let lexicon = Arc::new(Lexicon::load(None).unwrap());
    let mut sites = Site::prepare(&[cfg], lexicon, state.path()).unwrap();
    Rig {
        server: Some(server),
        site: sites.remove(0),
        _state: state,
    }
}

impl Rig {
    fn check(&mut self) -> SiteCheck {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(self.site.check(now()))
    }
}

/// Nothing in `c` that a rule would call a finding.
fn assert_clean(c: &SiteCheck) {
    assert!(c.up, "{c:?}");
    assert_eq!(c.status, Some(200));
    assert!(
        c.defacement_score < 1e-9,
        "score {} in {c:?}",
        c.defacement_score
    );
    assert!(!c.title_changed && c.defacement_signs.is_empty(), "{c:?}");
    assert!(c.hidden_links.is_empty(), "{c:?}");
    assert!(!c.cloaking, "{c:?}");
    assert!(c.sensitive_words.is_empty(), "{c:?}");
    assert!(c.new_script_domains.is_empty(), "{c:?}");
    assert!(!c.tls_changed && c.tls_error.is_none(), "{c:?}");
    assert!(c.dns_unexpected.is_empty() && !c.slo_failing, "{c:?}");
}

#[test]
fn a_clean_page_with_changing_timestamps_and_csrf_tokens_gives_no_finding() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    for _ in 0..5 {
        let c = r.check();
        assert_clean(&c);
        assert_eq!(c.title.as_deref(), Some("某某县人民政府门户网站"));
        let days = c.tls_days_left.unwrap();
        assert!((364..=365).contains(&days), "{days}");
        assert!(
            c.tls_issuer
                .as_deref()
                .unwrap()
                .contains("shouwang test CA")
        );
        assert_eq!(c.tls_fingerprint.as_ref().map(String::len), Some(64));
        assert_eq!(c.site.as_deref(), Some("portal"));
    }
    // The dynamic parts did change between loads.
    assert!(
        r.server
            .as_ref()
            .unwrap()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 10
    );
}

#[test]
fn a_defaced_page_is_found_with_its_signs() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    assert_clean(&r.check());
    std::fs::write(
        root.path().join("index.html"),
        "<html><head><title>Hacked by Team X</title></head><body style='background:black'>\
         <h1>HACKED BY TEAM X</h1><p>your security is nothing. greetz to all crews</p></body></html>",
    )
    .unwrap();
    let c = r.check();
    assert!(c.up);
    assert!(c.defacement_score > 0.9, "{c:?}");
    assert!(c.title_changed);
    assert!(
        c.defacement_signs.contains(&"title-changed".to_owned()),
        "{c:?}"
    );
    assert!(c.defacement_signs.contains(&"replaced".to_owned()), "{c:?}");
    assert!(
        c.defacement_signs
            .contains(&"signature:hacked by".to_owned()),
        "{c:?}"
    );
}

#[test]
fn css_hidden_external_links_are_found_with_how_they_were_hidden() {
    let root = docroot();
    let spam = CLEAN.replace(
        "<div id=\"footer\">",
        "<div style=\"position:absolute;left:-3000px;top:-3000px\"><a href=\"http://www.bet-888.example/\">博彩网站</a>\
         <a href=\"http://dubo.example/x\">网上赌场</a></div>\
         <style>.s1{display:none}</style><p class=\"s1\"><a href=\"https://casino.example/\">百家乐</a></p>\
         <marquee height=1 width=1 scrollamount=3000><a href=\"http://porn.example/\">成人视频</a></marquee>\
         <div id=\"footer\">",
    );
    std::fs::write(root.path().join("index.html"), &spam).unwrap();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    let c = r.check();
    assert_eq!(
        c.hidden_links,
        [
            "http://dubo.example/x",
            "http://porn.example/",
            "http://www.bet-888.example/",
            "https://casino.example/",
        ]
    );
    assert_eq!(
        c.hidden_link_methods,
        ["display:none", "marquee", "off-screen"]
    );
    assert_eq!(c.sensitive_categories, ["gambling", "porn"]);
}

#[test]
fn spam_shown_only_to_crawlers_is_cloaking_for_each_crawler() {
    let root = docroot();
    let crawler_page = CLEAN.replace(
        "<div id=\"footer\">",
        "<p>最新博彩平台 <a href=\"http://sbo-bet.example/\">皇冠体育</a> 真人荷官 在线开户</p><div id=\"footer\">",
    );
    std::fs::write(root.path().join("index.crawler.html"), crawler_page).unwrap();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    for want in ["Baiduspider", "Sogou", "360Spider", "Googlebot"] {
        let c = r.check();
        // Visitors see the clean page.
        assert!(
            c.sensitive_words.is_empty() && c.hidden_links.is_empty(),
            "{c:?}"
        );
        assert!(c.cloaking, "{want}: {c:?}");
        assert_eq!(c.cloaking_agent.as_deref(), Some(want));
        assert_eq!(
            c.cloaking_terms,
            ["sbo-bet.example", "博彩", "皇冠体育", "真人荷官"],
            "{want}"
        );
    }
}

#[test]
fn sensitive_words_are_found_and_allow_listed_phrases_are_not() {
    let root = docroot();
    // The clean page already says 打击赌博违法犯罪 (allow-listed).
    let mut r = rig(root.path(), Validity::Good, |_| {});
    assert!(r.check().sensitive_words.is_empty());
    let page = CLEAN.replace(
        "</ul>",
        "</ul><p>澳门赌场 在线 百 家 乐，成人视频免费看</p>",
    );
    std::fs::write(root.path().join("index.html"), page).unwrap();
    let c = r.check();
    assert_eq!(c.sensitive_words, ["成人视频", "澳门赌场", "百家乐"]);
    assert_eq!(c.sensitive_categories, ["gambling", "porn"]);
}

#[test]
fn an_injected_external_script_is_a_new_script_domain() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    assert_clean(&r.check());
    let page = CLEAN.replace(
        "</head>",
        "<script src=\"https://cdn.evil-stats.example/t.js\"></script>\
         <iframe src=\"http://ads.example/frame\" width=0 height=0></iframe></head>",
    );
    std::fs::write(root.path().join("index.html"), page).unwrap();
    let c = r.check();
    assert_eq!(
        c.new_script_domains,
        ["ads.example", "cdn.evil-stats.example"]
    );
    // The page's own and allowed scripts are not "new".
    assert!(!c.new_script_domains.iter().any(|d| d.contains("gov.cn")));
}

#[test]
fn an_expired_certificate_fails_the_check_and_is_read_anyway() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::ExpiredAgo(3), |_| {});
    let c = r.check();
    assert!(!c.up, "{c:?}");
    assert_eq!(
        c.tls_error.as_deref(),
        Some("tls: certificate expired"),
        "{c:?}"
    );
    assert_eq!(c.tls_days_left, Some(-4), "{c:?}");
    assert!(
        c.tls_issuer
            .as_deref()
            .unwrap()
            .contains("shouwang test CA")
    );
}

#[test]
fn a_soon_expiring_certificate_gives_its_days_left() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::ExpiresIn(5), |_| {});
    let c = r.check();
    assert!(c.up && c.tls_error.is_none(), "{c:?}");
    assert_eq!(c.tls_days_left, Some(5));
}

#[test]
fn a_dns_hijack_through_a_resolver_is_found() {
    let root = docroot();
    let dns = DnsResponder::start(&[Ipv4Addr::new(192, 0, 2, 10)]).unwrap();
    let mut r = rig(root.path(), Validity::Good, |c| {
        c.resolvers = vec![dns.addr.to_string()];
        c.expect_addrs = vec!["192.0.2.10".parse().unwrap()];
        c.expect_cnames = vec!["portal.cdn.gov.test".into()];
    });
    let c = r.check();
    assert_eq!(c.dns_addrs, ["192.0.2.10"]);
    assert!(c.dns_unexpected.is_empty(), "{c:?}");
    dns.set(&[Ipv4Addr::new(203, 0, 113, 66)]);
    let c = r.check();
    assert_eq!(c.dns_addrs, ["203.0.113.66"]);
    assert_eq!(c.dns_unexpected, ["203.0.113.66"]);
    dns.set(&[Ipv4Addr::new(192, 0, 2, 10)]);
    dns.set_cname(Some("hijack.example"));
    let c = r.check();
    assert_eq!(c.dns_unexpected, ["cname:hijack.example"]);
}

#[test]
fn a_site_failing_more_than_5_percent_of_a_days_probes_fails_its_slo() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    for _ in 0..19 {
        let c = r.check();
        assert!(c.up && !c.slo_failing);
    }
    r.server = None; // the site goes down
    let c = r.check();
    assert!(!c.up && c.error.is_some(), "{c:?}");
    assert_eq!(c.slo_probes, 20);
    assert!(!c.slo_failing, "1 of 20 failed: 5%, not more");
    let c = r.check();
    assert_eq!(c.slo_probes, 21);
    assert!((c.slo_success_ratio - 19.0 / 21.0).abs() < 1e-9);
    assert!(c.slo_failing, "2 of 21 failed");
}

#[test]
fn a_swapped_certificate_is_a_change_and_an_unknown_issuer() {
    let root = docroot();
    let mut r = rig(root.path(), Validity::Good, |_| {});
    let first = r.check();
    assert!(first.up && !first.tls_changed);
    // The same address now answers with a certificate from another CA
    // (an attacker's, or a renewal nobody announced).
    let addr = r.server.as_ref().unwrap().addr;
    r.server = None;
    let other = WebServer::start_on(root.path(), HOST, Validity::Good, 1, true, addr).unwrap();
    assert_eq!(other.addr, addr);
    std::net::TcpStream::connect(addr).expect("the new server listens");
    r.server = Some(other);
    let c = r.check();
    assert!(!c.up, "{c:?}");
    assert_eq!(
        c.tls_error.as_deref(),
        Some("tls: certificate from an unknown issuer"),
        "{c:?}"
    );
    assert!(c.tls_changed, "{c:?}");
    assert_ne!(c.tls_fingerprint, first.tls_fingerprint);
}

#[test]
fn an_oversized_hostile_page_is_read_up_to_the_limit_and_judged() {
    let root = docroot();
    // 6 MB: a title, 200 000 unclosed nested divs, then spam the checker
    // never reads (past the 1 MiB limit).
    let mut page = String::from("<html><head><title>某某县人民政府门户网站</title></head><body>");
    page.push_str(&"<div>".repeat(200_000));
    while page.len() < 6_000_000 {
        page.push_str("<p>博彩 bet365</p>");
    }
    std::fs::write(root.path().join("index.html"), &page).unwrap();
    let mut r = rig(root.path(), Validity::Good, |c| c.max_body = 1 << 20);
    let started = std::time::Instant::now();
    let c = r.check();
    assert!(c.up, "{c:?}");
    assert_eq!(c.title.as_deref(), Some("某某县人民政府门户网站"));
    assert!(
        c.sensitive_words.is_empty(),
        "only the first MiB is read: {c:?}"
    );
    println!(
        "6 MB hostile page checked in {} ms",
        started.elapsed().as_millis()
    );
}
