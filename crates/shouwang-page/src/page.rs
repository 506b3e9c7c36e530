//! What a fetched page says: visible text (normalised for comparison),
//! DOM structure, title, links and whether each is hidden from visitors,
//! and the domains scripts and frames come from. Pure functions over the
//! HTML text; the body size is bounded by the fetcher.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};
use serde::{Deserialize, Serialize};

/// Elements in a structure path at most.
const MAX_PATH_DEPTH: usize = 24;

/// How the analysis treats a site.
#[derive(Debug, Clone, Default)]
pub struct PageRules {
    /// Hosts that are the site's own (a host matches a domain equal to it
    /// or ending in `.domain`).
    pub allowed_domains: Vec<String>,
    /// Elements left out of text and structure (clocks, counters, ads).
    pub ignore: Vec<Selector>,
    /// Text removed before comparison (dates, visitor counts).
    pub ignore_patterns: Vec<Regex>,
}

impl PageRules {
    pub fn allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_domains.iter().any(|d| {
            host == *d
                || (host.len() > d.len()
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.')
        })
    }
}

/// A link on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub host: String,
    /// How it is hidden from visitors, if it is.
    pub hidden: Option<&'static str>,
    pub text: String,
}

/// The facts of one page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// All text outside scripts and ignored elements (hidden text too:
    /// spam is often hidden), normalised: lower case, digits folded to `0`,
    /// whitespace collapsed.
    pub text: String,
    /// Title, meta keywords and description, and all text, for word search.
    pub searchable: String,
    pub links: Vec<Link>,
    /// Hosts of external scripts, iframes, frames, embeds and objects.
    pub script_hosts: BTreeSet<String>,
    /// Element paths (`html>body>div>p`) with their counts.
    pub structure: BTreeMap<String, u32>,
}

/// The part of a page kept as its baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub title: String,
    /// FNV-1a hashes of 4-character shingles of the normalised text.
    pub shingles: Vec<u64>,
    pub structure: BTreeMap<String, u32>,
    pub script_hosts: BTreeSet<String>,
    pub text_sample: String,
}

fn fnv(s: &[char]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in s {
        for b in (*c as u32).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Hex runs at least this long are tokens (CSRF, nonces), not content.
const TOKEN_RUN: usize = 24;

/// FNV-1a over `body` without ASCII digits and without runs of
/// [`TOKEN_RUN`] or more hex digits: equal for two loads of a page that
/// differ only in times, counters and tokens.
pub fn skeleton_hash(body: &str) -> u64 {
    let b = body.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_hexdigit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            if i - start >= TOKEN_RUN {
                continue;
            }
            for &c in &b[start..i] {
                if !c.is_ascii_digit() {
                    h ^= u64::from(c);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
            }
            continue;
        }
        h ^= u64::from(b[i]);
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// Shingles (4 characters, whitespace removed) of `text`, sorted, unique.
pub fn shingles(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out: Vec<u64> = if chars.len() < 4 {
        if chars.is_empty() {
            Vec::new()
        } else {
            vec![fnv(&chars)]
        }
    } else {
        chars.windows(4).map(fnv).collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

/// 1 − Jaccard similarity of two sorted unique sets (0: same, 1: disjoint).
pub fn set_change(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    #[allow(clippy::cast_precision_loss)]
    let sim = inter as f64 / union as f64;
    1.0 - sim
}

/// 1 − weighted Jaccard of two multisets.
pub fn multiset_change(a: &BTreeMap<String, u32>, b: &BTreeMap<String, u32>) -> f64 {
    let (mut min, mut max) = (0u64, 0u64);
    for (k, &x) in a {
        let y = b.get(k).copied().unwrap_or(0);
        min += u64::from(x.min(y));
        max += u64::from(x.max(y));
    }
    for (k, &y) in b {
        if !a.contains_key(k) {
            max += u64::from(y);
        }
    }
    if max == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let sim = min as f64 / max as f64;
    1.0 - sim
}

impl Page {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            title: self.title.clone(),
            shingles: shingles(&self.text),
            structure: self.structure.clone(),
            script_hosts: self.script_hosts.clone(),
            text_sample: self.text.chars().take(300).collect(),
        }
    }
}

/// Hiding declarations in one CSS declaration block, if any.
fn hiding(decls: &str) -> Option<&'static str> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    for d in decls.split(';') {
        if let Some((k, v)) = d.split_once(':') {
            let v = v
                .trim()
                .trim_end_matches("!important")
                .trim()
                .to_ascii_lowercase();
            props.insert(k.trim().to_ascii_lowercase(), v);
        }
    }
    let get = |k: &str| props.get(k).map(String::as_str);
    let px = |v: &str| -> Option<f64> {
        let v = v.trim();
        let num = v
            .strip_suffix("px")
            .or_else(|| v.strip_suffix("pt"))
            .or_else(|| v.strip_suffix("em"))
            .or_else(|| v.strip_suffix('%'))
            .unwrap_or(v);
        num.trim().parse().ok()
    };
    if get("display") == Some("none") {
        return Some("display:none");
    }
    if matches!(get("visibility"), Some("hidden" | "collapse")) {
        return Some("visibility:hidden");
    }
    if get("opacity").and_then(px).is_some_and(|o| o <= 0.01) {
        return Some("opacity:0");
    }
    if get("font-size").and_then(px).is_some_and(|s| s <= 1.0) {
        return Some("font-size");
    }
    let far = |k: &str| {
        get(k)
            .and_then(px)
            .is_some_and(|x| x <= -100.0 || x >= 5000.0)
    };
    if far("text-indent") {
        return Some("off-screen");
    }
    if matches!(get("position"), Some("absolute" | "fixed"))
        && (far("left") || far("top") || far("right") || far("margin-left") || far("margin-top"))
    {
        return Some("off-screen");
    }
    let tiny = |k: &str| get(k).and_then(px).is_some_and(|x| x <= 1.0);
    if (tiny("width") || tiny("height") || tiny("max-height") || tiny("max-width"))
        && matches!(get("overflow"), Some("hidden" | "clip"))
    {
        return Some("zero-size");
    }
    if get("clip").is_some_and(|c| c.replace(' ', "").starts_with("rect(0")) {
        return Some("clip");
    }
    if let (Some(fg), Some(bg)) = (
        get("color"),
        get("background-color").or_else(|| get("background")),
    ) && !fg.is_empty()
        && fg == bg
    {
        return Some("same-colour");
    }
    None
}

fn attr_num(e: &scraper::node::Element, name: &str) -> Option<f64> {
    e.attr(name)?
        .trim()
        .trim_end_matches("px")
        .trim()
        .parse()
        .ok()
}

/// Hidden by its own attributes or inline style.
fn own_hiding(e: &scraper::node::Element) -> Option<&'static str> {
    if e.attr("hidden").is_some() {
        return Some("hidden-attribute");
    }
    if e.name() == "marquee"
        && (attr_num(e, "height").is_some_and(|h| h <= 5.0)
            || attr_num(e, "width").is_some_and(|w| w <= 5.0)
            || attr_num(e, "scrollamount").is_some_and(|s| s >= 500.0))
    {
        return Some("marquee");
    }
    e.attr("style").and_then(hiding)
}

/// Rules in `<style>` elements that hide what they select.
fn hiding_rules(doc: &Html) -> Vec<(Selector, &'static str)> {
    let mut out = Vec::new();
    let Ok(style) = Selector::parse("style") else {
        return out;
    };
    for st in doc.select(&style) {
        let css: String = st.text().collect();
        // Drop comments, then read `selectors { declarations }` pairs;
        // at-rules' inner blocks are read the same way.
        let mut clean = String::with_capacity(css.len());
        let mut rest = css.as_str();
        while let Some(i) = rest.find("/*") {
            clean.push_str(&rest[..i]);
            rest = rest[i + 2..]
                .find("*/")
                .map_or("", |j| &rest[i + 2 + j + 2..]);
        }
        clean.push_str(rest);
        for block in clean.split('}') {
            let Some((sel, decls)) = block.rsplit_once('{') else {
                continue;
            };
            let Some(how) = hiding(decls) else { continue };
            let sel = sel.rsplit('{').next().unwrap_or(sel).trim();
            if sel.is_empty() || sel.starts_with('@') {
                continue;
            }
            if let Ok(s) = Selector::parse(sel) {
                out.push((s, how));
            }
        }
    }
    out
}

fn normalise_into(out: &mut String, text: &str) {
    let mut last_space = out.is_empty() || out.ends_with(' ');
    let mut last_digit = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            last_digit = false;
            continue;
        }
        last_space = false;
        if c.is_ascii_digit() || c.is_numeric() {
            if !last_digit {
                out.push('0');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        out.extend(c.to_lowercase());
    }
}

fn host_of(url: &url::Url) -> Option<String> {
    url.host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
}

/// Hrefs written by inline scripts (`document.write`, `innerHTML`, …).
fn script_hrefs(js: &str) -> Vec<String> {
    static WRITES: &[&str] = &[
        "document.write",
        "innerhtml",
        "insertadjacenthtml",
        "outerhtml",
        ".append(",
    ];
    let lower = js.to_ascii_lowercase();
    if !WRITES.iter().any(|w| lower.contains(w)) {
        return Vec::new();
    }
    static HREF: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
        Regex::new(r#"(?i)href\s*=\s*\\?["']?(https?://[^"'\\\s<>]+)"#).ok()
    });
    let Some(re) = HREF.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(js)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_owned()))
        .collect()
}

/// Open elements a page may nest (browsers stop nesting near 512 too);
/// the HTML tree builder's work grows with the square of the depth.
pub const MAX_NESTING: usize = 512;

/// The prefix of `html` in which elements nest at most `max` deep
/// (a rough tag count: start tags of non-void elements up, end tags down).
pub fn cap_nesting(html: &str, max: usize) -> &str {
    const VOID: &[&[u8]] = &[
        b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
        b"source", b"track", b"wbr", b"p", b"li", b"option",
    ];
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        i = at + 1;
        match b.get(i) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                let end = b[i..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(b.len(), |e| i + e);
                let name = b[i..end].to_ascii_lowercase();
                if !VOID.contains(&name.as_slice()) {
                    depth += 1;
                    if depth > max {
                        return &html[..at];
                    }
                }
            }
            _ => {}
        }
    }
    html
}

/// Reads a page. `base` resolves relative links.
pub fn analyse(html: &str, base: &url::Url, rules: &PageRules) -> Page {
    let doc = Html::parse_document(cap_nesting(html, MAX_NESTING));
    let css_rules = hiding_rules(&doc);
    let mut page = Page::default();
    let mut searchable = String::new();
    let mut ignored_ids = BTreeSet::new();
    for sel in &rules.ignore {
        for e in doc.select(sel) {
            ignored_ids.insert(e.id());
        }
    }
    let mut css_hidden: BTreeMap<ego_tree::NodeId, &'static str> = BTreeMap::new();
    for (sel, how) in &css_rules {
        for e in doc.select(sel) {
            css_hidden.entry(e.id()).or_insert(how);
        }
    }
    if let Ok(meta) = Selector::parse(r#"meta[name="keywords"], meta[name="description"]"#) {
        for m in doc.select(&meta) {
            if let Some(c) = m.value().attr("content") {
                searchable.push_str(c);
                searchable.push(' ');
            }
        }
    }
    if let Ok(t) = Selector::parse("title")
        && let Some(t) = doc.select(&t).next()
    {
        let title: String = t.text().collect();
        page.title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    searchable.push_str(&page.title);
    searchable.push(' ');

    // Depth-first walk carrying (hidden how, element path).
    let mut raw_text = String::new();
    let mut stack: Vec<(ego_tree::NodeRef<'_, Node>, Option<&'static str>, String)> =
        vec![(doc.tree.root(), None, String::new())];
    while let Some((node, hidden, path)) = stack.pop() {
        match node.value() {
            Node::Text(t) => {
                if hidden.is_none() || !t.trim().is_empty() {
                    raw_text.push_str(t);
                    raw_text.push(' ');
                }
                continue;
            }
            Node::Element(e) => {
                if ignored_ids.contains(&node.id()) {
                    continue;
                }
                let name = e.name();
                if matches!(name, "script" | "style" | "noscript" | "template" | "title") {
                    if name == "script" {
                        if let Some(src) = e.attr("src") {
                            if let Ok(u) = base.join(src)
                                && let Some(h) = host_of(&u)
                                && !rules.allowed(&h)
                            {
                                page.script_hosts.insert(h);
                            }
                        } else if let Some(el) = ElementRef::wrap(node) {
                            let js: String = el.text().collect();
                            for href in script_hrefs(&js) {
                                if let Ok(u) = url::Url::parse(&href)
                                    && let Some(h) = host_of(&u)
                                {
                                    page.links.push(Link {
                                        href: u.to_string(),
                                        host: h,
                                        hidden: Some("script"),
                                        text: String::new(),
                                    });
                                }
                            }
                        }
                    }
                    continue;
                }
                let hidden = hidden
                    .or_else(|| own_hiding(e))
                    .or_else(|| css_hidden.get(&node.id()).copied());
                // Paths stop growing past MAX_PATH_DEPTH elements: deep
                // nesting (hostile or not) then costs linear, not
                // quadratic, time.
                let path = if path.is_empty() {
                    name.to_owned()
                } else if path.bytes().filter(|&b| b == b'>').count() + 1 >= MAX_PATH_DEPTH {
                    path
                } else {
                    format!("{path}>{name}")
                };
                *page.structure.entry(path.clone()).or_insert(0) += 1;
                match name {
                    "a" => {
                        if let Some(href) = e.attr("href")
                            && let Ok(u) = base.join(href.trim())
                            && matches!(u.scheme(), "http" | "https")
                            && let Some(h) = host_of(&u)
                        {
                            let text = ElementRef::wrap(node)
                                .map(|el| el.text().collect::<String>())
                                .unwrap_or_default();
                            page.links.push(Link {
                                href: u.to_string(),
                                host: h,
                                hidden,
                                text: text.trim().to_owned(),
                            });
                        }
                    }
                    "iframe" | "frame" | "embed" | "object" => {
                        if let Some(src) = e.attr("src").or_else(|| e.attr("data"))
                            && let Ok(u) = base.join(src)
                            && let Some(h) = host_of(&u)
                            && !rules.allowed(&h)
                        {
                            page.script_hosts.insert(h);
                        }
                    }
                    _ => {}
                }
                for child in node.children().rev() {
                    stack.push((child, hidden, path.clone()));
                }
            }
            Node::Document | Node::Fragment => {
                for child in node.children().rev() {
                    stack.push((child, hidden, path.clone()));
                }
            }
            _ => {}
        }
    }
    let mut cleaned = raw_text;
    for re in &rules.ignore_patterns {
        cleaned = re.replace_all(&cleaned, " ").into_owned();
    }
    searchable.push_str(&cleaned);
    normalise_into(&mut page.text, &cleaned);
    let t = page.text.trim_end().len();
    page.text.truncate(t);
    page.searchable = searchable;
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PageRules {
        PageRules {
            allowed_domains: vec!["portal.gov.test".into()],
            ..PageRules::default()
        }
    }

    fn base() -> url::Url {
        url::Url::parse("https://portal.gov.test/index.html").unwrap()
    }

    fn hidden_hosts(p: &Page, r: &PageRules) -> Vec<(String, &'static str)> {
        p.links
            .iter()
            .filter(|l| !r.allowed(&l.host))
            .filter_map(|l| l.hidden.map(|h| (l.host.clone(), h)))
            .collect()
    }

    #[test]
    fn each_hiding_trick_is_seen_and_visible_links_are_not_hidden() {
        let html = r#"<html><head><title>Portal</title>
            <style>.hide-me { display : none } #far{position:absolute;left:-9999px}
            /* comment { display:none } */ .tiny{font-size:0px}</style></head><body>
            <a href="/news/1.html">news</a>
            <a href="https://www.gov.cn/">national portal</a>
            <div style="display:none"><a href="http://bet.example/">a</a></div>
            <div style="visibility:hidden"><p><a href="http://b.example/">b</a></p></div>
            <div class="hide-me"><a href="http://c.example/">c</a></div>
            <div id="far"><a href="http://d.example/">d</a></div>
            <span class="tiny"><a href="http://e.example/">e</a></span>
            <div style="height:1px;overflow:hidden"><a href="http://f.example/">f</a></div>
            <div style="color:#fff;background-color:#fff"><a href="http://g.example/">g</a></div>
            <marquee height="1" width="1" scrollamount="3000"><a href="http://h.example/">h</a></marquee>
            <div style="text-indent:-9999px"><a href="http://i.example/">i</a></div>
            <script>document.write('<div style=display:none><a href="http://j.example/x">j</a></div>');</script>
            </body></html>"#;
        let r = rules();
        let p = analyse(html, &base(), &r);
        let got = hidden_hosts(&p, &r);
        let want = [
            ("bet.example", "display:none"),
            ("b.example", "visibility:hidden"),
            ("c.example", "display:none"),
            ("d.example", "off-screen"),
            ("e.example", "font-size"),
            ("f.example", "zero-size"),
            ("g.example", "same-colour"),
            ("h.example", "marquee"),
            ("i.example", "off-screen"),
            ("j.example", "script"),
        ];
        for (h, how) in want {
            assert!(
                got.iter().any(|(gh, gw)| gh == h && *gw == how),
                "{h} {how} not in {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
        let visible: Vec<&Link> = p.links.iter().filter(|l| l.hidden.is_none()).collect();
        assert_eq!(visible.len(), 2);
        assert_eq!(visible[0].href, "https://portal.gov.test/news/1.html");
    }

    #[test]
    fn text_is_normalised_and_ignores_apply() {
        let html = r#"<html><head><title> Home  Page </title><meta name="csrf" content="abc"></head>
            <body><p>Updated 2026-11-21 10:31:07</p><div id="clock">10:31</div>
            <input type="hidden" name="csrf" value="z8Y2"><p>Welcome   TO the portal</p>
            <p>访问量 123456</p></body></html>"#;
        let mut r = rules();
        r.ignore = vec![Selector::parse("#clock").unwrap()];
        let p = analyse(html, &base(), &r);
        assert_eq!(p.title, "Home Page");
        assert_eq!(p.text, "updated 0-0-0 0:0:0 welcome to the portal 访问量 0");
        r.ignore_patterns = vec![Regex::new(r"Updated [0-9: -]+").unwrap()];
        let p = analyse(html, &base(), &r);
        assert_eq!(p.text, "welcome to the portal 访问量 0");
    }

    #[test]
    fn skeletons_ignore_digits_and_tokens_only() {
        let a = skeleton_hash(
            "<p>2026-11-21 10:31</p><input value=\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\">",
        );
        let b = skeleton_hash(
            "<p>2026-11-22 08:02</p><input value=\"60303ae22b998861bce3b28f33eec1be758a213c\">",
        );
        assert_eq!(a, b);
        assert_ne!(
            skeleton_hash("<p>welcome</p>"),
            skeleton_hash("<p>hacked</p>")
        );
        assert_ne!(skeleton_hash("<a href=x>"), skeleton_hash("<a href=y>"));
        // Short hex words are content.
        assert_ne!(skeleton_hash("<p>cafe</p>"), skeleton_hash("<p>face</p>"));
    }

    #[test]
    fn change_scores() {
        let a = shingles("the quick brown fox jumps over the lazy dog");
        assert!(set_change(&a, &a).abs() < 1e-9);
        let b = shingles("hacked by someone, your security is nothing");
        assert!(set_change(&a, &b) > 0.9);
        let c = shingles("the quick brown fox jumps over the lazy cat");
        let d = set_change(&a, &c);
        assert!(d > 0.0 && d < 0.2, "{d}");
        let mut s1 = BTreeMap::new();
        s1.insert("html>body>div".to_owned(), 4);
        let mut s2 = s1.clone();
        assert!(multiset_change(&s1, &s2).abs() < 1e-9);
        s2.insert("html>body>h1".to_owned(), 4);
        assert!((multiset_change(&s1, &s2) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn hostile_html_does_not_panic() {
        let r = rules();
        let nested = "<div>".repeat(20_000) + "x";
        for html in [
            "",
            "<",
            "<a href=>",
            "<a href='javascript:alert(1)'>x</a>",
            "<style>}}}{{{ display:none } @media { .x { display:none } }</style><p class=x>a</p>",
            "<marquee width=abc>x</marquee>",
            "<script>document.write('href=\"http://')</script>",
            nested.as_str(),
            "\u{0}\u{feff}<title>\u{202e}</title>",
        ] {
            let _ = analyse(html, &base(), &r);
        }
        assert_eq!(cap_nesting(&nested, MAX_NESTING).len(), MAX_NESTING * 5);
        assert_eq!(cap_nesting("<div><br><p>x</div>", 1), "<div><br><p>x</div>");
    }

    #[test]
    fn allowed_domains_match_subdomains_only() {
        let r = rules();
        assert!(r.allowed("portal.gov.test"));
        assert!(r.allowed("www.portal.gov.test"));
        assert!(r.allowed("PORTAL.gov.test."));
        assert!(!r.allowed("evilportal.gov.test"));
        assert!(!r.allowed("gov.test"));
    }
}
