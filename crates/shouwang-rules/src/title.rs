//! Incident titles that name the entities: who, against what, how much.
//!
//! A rule's `[title]` gives its name (`en`, `zh`) and a template for the
//! incident (`incident.en`, `incident.zh`):
//!
//! ```toml
//! [title]
//! en = "SSH brute force"
//! zh = "SSH 暴力破解"
//! incident.en = "SSH brute force from {src} against {target} ({count} failures, {distinct.user} users)"
//! incident.zh = "来自 {src} 针对 {target} 的 SSH 暴力破解（{count} 次失败，{distinct.user} 个用户）"
//! ```
//!
//! Placeholders (checked when the rule compiles; an unknown one is an error
//! at its place in the file):
//!
//! - `{count}`: events (or distinct values) counted over every detection of
//!   the incident;
//! - `{FIELD}`: a `group-by` field's value, or else the field's value in the
//!   latest counted event, as written (a port is `2200`);
//! - `{distinct.FIELD}`: how many distinct values the counted events had
//!   (exact up to [`EXACT_DISTINCT`], then estimated and shown as `~1,000`);
//! - `{top.FIELD}`: the field's most frequent value;
//! - `{target}`: the most frequent target: `dst:dst_port` of a flow (or of a
//!   DNS, TLS, HTTP or SSH event; of a fan-out report on one port), the server of a login reply or HTTP
//!   response, an auth event's host name (else its agent), a page's URL,
//!   an echo's receiver, else the agent;
//! - `{sum.FIELD}`, `{max.FIELD}`: sum and largest value of a numeric field
//!   (with separators: `{max.packets_to_server}` is `100,000`);
//! - `{span}`: from the first counted activity to the latest event
//!   (`12 s`, `3 min`).
//!
//! A part in `[…]` is shown only when every placeholder in it has a value
//! (`({count} failures[, {distinct.user} users])`: the users when the
//! counted events named any). `{{`, `}}`, `[[` and `]]` are literal.
//! A number may bring its noun: `{count|failure|failures}` is `1 failure`,
//! `240 failures`. A text value is cut at [`MAX_VALUE_CHARS`] characters. Numbers are written with thousands
//! separators. The engine keeps, per group, only what the template names,
//! each bounded (see [`Distinct`], [`Top`]).

use std::ops::Range;

use shouwang_proto::{Event, EventBody, EventKind};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::fields::{self, FieldType, Value};
use crate::spec::{TemplateSpec, Text};

/// Distinct values counted exactly per placeholder and group; past this
/// the count is a HyperLogLog estimate (1,024 registers: ±3 %).
pub const EXACT_DISTINCT: usize = 128;
/// Values a `{top.…}`/`{target}` placeholder tracks per group
/// (space-saving: the most frequent value is found when it is more than
/// 1/8 of the events).
pub const TOP_SLOTS: usize = 8;
/// Counting placeholders (`distinct.`, `top.`, `target`) one template may
/// use: they hold memory per group.
pub const MAX_COUNTING: usize = 4;

const HLL_BITS: u32 = 10;
const HLL_M: usize = 1 << HLL_BITS;

/// What a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Count,
    Span,
    /// The group-by field at this index.
    Group(usize),
    Target,
    Last(String),
    Distinct(String),
    Top(String),
    Sum(String),
    Max(String),
}

impl Slot {
    /// The field it reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Last(f) | Self::Distinct(f) | Self::Top(f) | Self::Sum(f) | Self::Max(f) => {
                Some(f)
            }
            _ => None,
        }
    }

    fn counting(&self) -> bool {
        matches!(self, Self::Distinct(_) | Self::Top(_) | Self::Target)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    /// A placeholder, and the noun after its number (`{count|failure|failures}`).
    Slot(usize, Option<Box<(String, String)>>),
    /// `[…]`: shown only when every placeholder in it has a value.
    Opt(Vec<Piece>),
}

/// A compiled incident title template, both languages.
#[derive(Debug, Clone, Default)]
pub struct Template {
    en: Vec<Piece>,
    zh: Vec<Piece>,
    /// Every placeholder either language uses, once.
    pub slots: Vec<Slot>,
}

/// One placeholder's value when the rule fired.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Text(String),
    Num(f64),
    /// An estimate (a distinct count past [`EXACT_DISTINCT`]).
    About(u64),
    /// Nanoseconds.
    Duration(i64),
    Missing,
}

/// `12,345` (negative numbers and fractions too: `-1,234.5`).
pub fn thousands(n: f64) -> String {
    if !n.is_finite() {
        return "?".to_owned();
    }
    let neg = n < 0.0;
    let a = n.abs();
    let whole = a.trunc();
    let frac = a - whole;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let w = whole as u64;
    let digits = w.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    if neg {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if frac >= 0.05 && a < 1e15 {
        let tenth = format!("{frac:.1}");
        if let Some(d) = tenth.strip_prefix("0.") {
            out.push('.');
            out.push_str(d);
        }
    }
    out
}

/// Two significant digits: what an estimate with a few percent error says.
fn about(n: u64) -> String {
    let mut scale = 1u64;
    while n / scale >= 100 {
        scale *= 10;
    }
    let r = (n + scale / 2) / scale * scale;
    #[allow(clippy::cast_precision_loss)]
    let s = thousands(r as f64);
    format!("~{s}")
}

fn duration(ns: i64, zh: bool) -> String {
    let s = ns.max(0) / 1_000_000_000;
    let (v, en, cn) = if s < 120 {
        (s, "s", "秒")
    } else if s < 7200 {
        (s / 60, "min", "分钟")
    } else {
        (s / 3600, "h", "小时")
    };
    #[allow(clippy::cast_precision_loss)]
    let v = thousands(v as f64);
    if zh {
        format!("{v} {cn}")
    } else {
        format!("{v} {en}")
    }
}

impl Template {
    /// The title in both languages: `facts` aligned with [`Self::slots`]
    /// (the count slot is filled with `count`).
    pub fn render(&self, facts: &[Fact], count: u64) -> Text {
        Text {
            en: self.render_one(&self.en, facts, count, false),
            zh: self.render_one(&self.zh, facts, count, true),
        }
    }

    fn render_one(&self, pieces: &[Piece], facts: &[Fact], count: u64, zh: bool) -> String {
        let mut out = String::new();
        self.render_into(&mut out, pieces, facts, count, zh);
        out
    }

    /// Appends `pieces`; false when a placeholder had no value.
    fn render_into(
        &self,
        out: &mut String,
        pieces: &[Piece],
        facts: &[Fact],
        count: u64,
        zh: bool,
    ) -> bool {
        let mut complete = true;
        for p in pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Opt(inner) => {
                    let mut part = String::new();
                    if self.render_into(&mut part, inner, facts, count, zh) {
                        out.push_str(&part);
                    }
                }
                Piece::Slot(i, noun) => {
                    #[allow(clippy::cast_precision_loss)]
                    let counted = Fact::Num(count as f64);
                    let fact = if self.slots.get(*i) == Some(&Slot::Count) {
                        &counted
                    } else {
                        facts.get(*i).unwrap_or(&Fact::Missing)
                    };
                    let one = match fact {
                        Fact::Text(s) => {
                            push_clipped(out, s);
                            false
                        }
                        Fact::Num(n) => {
                            out.push_str(&thousands(*n));
                            (*n - 1.0).abs() < f64::EPSILON
                        }
                        Fact::About(n) => {
                            out.push_str(&about(*n));
                            false
                        }
                        Fact::Duration(ns) => {
                            out.push_str(&duration(*ns, zh));
                            false
                        }
                        Fact::Missing => {
                            out.push('?');
                            complete = false;
                            false
                        }
                    };
                    if let Some(n) = noun {
                        out.push(' ');
                        out.push_str(if one { &n.0 } else { &n.1 });
                    }
                }
            }
        }
        complete
    }
}

impl Template {
    /// Placeholders outside `[…]` that `facts` leave without a value (in
    /// the English text), as written in the slot list.
    pub fn missing(&self, facts: &[Fact]) -> Vec<&Slot> {
        self.en
            .iter()
            .filter_map(|p| match p {
                Piece::Slot(i, _) if self.slots.get(*i) != Some(&Slot::Count) => {
                    matches!(facts.get(*i), None | Some(Fact::Missing))
                        .then(|| self.slots.get(*i))
                        .flatten()
                }
                _ => None,
            })
            .collect()
    }
}

/// Longest text a placeholder puts in a title (a URI, a path), in chars.
pub const MAX_VALUE_CHARS: usize = 64;

fn push_clipped(out: &mut String, s: &str) {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => {
            out.push_str(s.get(..i).unwrap_or(s));
            out.push('…');
        }
        None => out.push_str(s),
    }
}

/// Where in the file `needle` is inside the string at `span` (the whole
/// string when it cannot be found, e.g. written with escapes).
fn locate(src: &str, span: &Range<usize>, needle: &str) -> Range<usize> {
    src.get(span.clone())
        .and_then(|s| s.find(needle))
        .map_or(span.clone(), |i| {
            span.start + i..span.start + i + needle.len()
        })
}

/// What a template may know about its rule.
pub struct Scope<'a> {
    pub src: &'a str,
    pub group_names: &'a [String],
    /// The event kinds of the rule's clauses.
    pub kinds: &'a [EventKind],
}

fn parse(
    text: &Spanned<String>,
    scope: &Scope<'_>,
    slots: &mut Vec<Slot>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Piece> {
    let span = text.span();
    let mut err = |needle: &str, message: &str, hint: &str| {
        errors.push(Diagnostic::span(
            locate(scope.src, &span, needle),
            message.to_owned(),
            Some(hint.to_owned()),
        ));
    };
    // The pieces outside `[…]`, and those of the optional part under way.
    let mut top: Vec<Piece> = Vec::new();
    let mut opt: Option<Vec<Piece>> = None;
    let mut lit = String::new();
    let flush = |lit: &mut String, top: &mut Vec<Piece>, opt: &mut Option<Vec<Piece>>| {
        if !lit.is_empty() {
            let p = Piece::Lit(std::mem::take(lit));
            opt.as_mut().unwrap_or(top).push(p);
        }
    };
    let mut rest = text.get_ref().as_str();
    while let Some(i) = rest.find(['{', '}', '[', ']']) {
        lit.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        if ["{{", "}}", "[[", "]]"].iter().any(|d| tail.starts_with(d)) {
            lit.push_str(tail.get(..1).unwrap_or_default());
            rest = tail.get(2..).unwrap_or_default();
            continue;
        }
        rest = tail.get(1..).unwrap_or_default();
        match tail.as_bytes().first() {
            Some(b'}') => err(
                "}",
                "a `}` without its `{` in the title template",
                "write `}}` for a literal brace",
            ),
            Some(b'[') => {
                flush(&mut lit, &mut top, &mut opt);
                if opt.is_some() {
                    err(
                        tail,
                        "optional parts `[…]` do not nest",
                        "write `[[` for a literal bracket",
                    );
                } else {
                    opt = Some(Vec::new());
                }
            }
            Some(b']') => {
                flush(&mut lit, &mut top, &mut opt);
                match opt.take() {
                    Some(o) => top.push(Piece::Opt(o)),
                    None => err(
                        "]",
                        "a `]` without its `[` in the title template",
                        "write `]]` for a literal bracket",
                    ),
                }
            }
            _ => {
                let Some(end) = tail.find('}') else {
                    err(
                        tail,
                        "a `{` without its `}` in the title template",
                        "write `{{` for a literal brace",
                    );
                    rest = "";
                    break;
                };
                let inside = tail.get(1..end).unwrap_or_default();
                let whole = tail.get(..=end).unwrap_or_default();
                rest = tail.get(end + 1..).unwrap_or_default();
                let mut parts = inside.split('|');
                let name = parts.next().unwrap_or_default().trim();
                let noun = match (parts.next(), parts.next(), parts.next()) {
                    (None, _, _) => None,
                    (Some(one), Some(many), None) => {
                        Some(Box::new((one.to_owned(), many.to_owned())))
                    }
                    _ => {
                        err(
                            whole,
                            &format!(
                                "`{whole}`: write `{{{name}|one|many}}` for a number and its noun"
                            ),
                            "for example `{count|failure|failures}`",
                        );
                        continue;
                    }
                };
                match resolve(name, scope) {
                    Ok(slot) => {
                        flush(&mut lit, &mut top, &mut opt);
                        let idx = slots.iter().position(|s| *s == slot).unwrap_or_else(|| {
                            slots.push(slot);
                            slots.len() - 1
                        });
                        opt.as_mut()
                            .unwrap_or(&mut top)
                            .push(Piece::Slot(idx, noun));
                    }
                    Err((message, hint)) => err(whole, &message, &hint),
                }
            }
        }
    }
    lit.push_str(rest);
    flush(&mut lit, &mut top, &mut opt);
    if let Some(o) = opt {
        err(
            "[",
            "a `[` without its `]` in the title template",
            "write `[[` for a literal bracket",
        );
        top.extend(o);
    }
    top
}

const PLACEHOLDERS: &str = "placeholders: {count}, {span}, {target}, {FIELD}, \
     {distinct.FIELD}, {top.FIELD}, {sum.FIELD}, {max.FIELD} (docs/rules.md, Incidents)";

fn resolve(name: &str, scope: &Scope<'_>) -> Result<Slot, (String, String)> {
    match name {
        "count" => return Ok(Slot::Count),
        "span" => return Ok(Slot::Span),
        "target" => return Ok(Slot::Target),
        "" => {
            return Err((
                "an empty placeholder `{}`".to_owned(),
                PLACEHOLDERS.to_owned(),
            ));
        }
        _ => {}
    }
    if let Some(i) = scope.group_names.iter().position(|g| g == name) {
        return Ok(Slot::Group(i));
    }
    let (op, field) = match name.split_once('.') {
        Some((op, f)) => (op, f),
        None => ("", name),
    };
    let slot = match op {
        "" => Slot::Last(field.to_owned()),
        "distinct" => Slot::Distinct(field.to_owned()),
        "top" => Slot::Top(field.to_owned()),
        "sum" => Slot::Sum(field.to_owned()),
        "max" => Slot::Max(field.to_owned()),
        _ => {
            return Err((
                format!("unknown placeholder `{{{name}}}`: no `{op}.`"),
                PLACEHOLDERS.to_owned(),
            ));
        }
    };
    let defs: Vec<_> = scope
        .kinds
        .iter()
        .filter_map(|k| fields::lookup(*k, field))
        .collect();
    if defs.is_empty() {
        let kinds: Vec<&str> = scope.kinds.iter().map(|k| k.as_str()).collect();
        let near = scope.kinds.iter().find_map(|k| fields::suggest(*k, field));
        return Err((
            format!(
                "unknown placeholder `{{{name}}}`: `{field}` is not a field of {}",
                kinds.join(" or ")
            ),
            match near {
                Some(n) => format!("did you mean `{n}`? {PLACEHOLDERS}"),
                None => PLACEHOLDERS.to_owned(),
            },
        ));
    }
    if matches!(slot, Slot::Sum(_) | Slot::Max(_)) && defs.iter().any(|d| d.ty != FieldType::Num) {
        return Err((
            format!("`{{{name}}}`: `{field}` is not a number"),
            "`sum.` and `max.` take numeric fields".to_owned(),
        ));
    }
    Ok(slot)
}

/// Compiles an incident title template; problems go to `errors`.
pub fn compile(spec: &TemplateSpec, scope: &Scope<'_>, errors: &mut Vec<Diagnostic>) -> Template {
    let mut slots = Vec::new();
    let en = parse(&spec.en, scope, &mut slots, errors);
    let zh = parse(&spec.zh, scope, &mut slots, errors);
    if slots.iter().filter(|s| s.counting()).count() > MAX_COUNTING {
        errors.push(Diagnostic::span(
            spec.en.span(),
            format!(
                "a title may use at most {MAX_COUNTING} of `{{target}}`, `{{distinct.…}}` and `{{top.…}}`"
            ),
            Some("each keeps memory per group; name the ones the engineer needs".to_owned()),
        ));
    }
    Template { en, zh, slots }
}

/// The most frequent target of an event (see the module docs).
pub fn target(agent: &str, ev: &Event, out: &mut String) {
    use std::fmt::Write;
    fn hp(out: &mut String, ip: std::net::IpAddr, port: u16) {
        let _ = match ip {
            std::net::IpAddr::V6(v6) => write!(out, "[{v6}]:{port}"),
            std::net::IpAddr::V4(v4) => write!(out, "{v4}:{port}"),
        };
    }
    out.clear();
    match &ev.body {
        EventBody::Flow(f) => hp(out, f.dst, f.dst_port),
        // A flood's victim service; a scan's latest host probed.
        EventBody::Fanout(f) if f.ports == 1 && f.proto != 1 && f.proto != 58 => {
            hp(out, f.dst, f.dst_port);
        }
        EventBody::Fanout(f) => {
            let _ = write!(out, "{}", f.dst);
        }
        EventBody::Dns(d) => hp(out, d.endpoints.dst, d.endpoints.dst_port),
        EventBody::Tls(t) => hp(out, t.endpoints.dst, t.endpoints.dst_port),
        EventBody::HttpRequest(h) => match &h.host {
            Some(host) => out.push_str(host),
            None => hp(out, h.endpoints.dst, h.endpoints.dst_port),
        },
        EventBody::SshBanner(b) if b.from_server => {
            hp(out, b.endpoints.src, b.endpoints.src_port);
        }
        EventBody::SshBanner(b) => hp(out, b.endpoints.dst, b.endpoints.dst_port),
        EventBody::HttpResponse(h) => hp(out, h.endpoints.src, h.endpoints.src_port),
        EventBody::LoginReply(l) => hp(out, l.endpoints.src, l.endpoints.src_port),
        EventBody::IcmpEcho(i) => {
            let _ = write!(out, "{}", i.dst);
        }
        EventBody::Auth(a) => out.push_str(a.hostname.as_deref().unwrap_or(agent)),
        EventBody::SiteCheck(c) => out.push_str(&c.url),
        _ => out.push_str(agent),
    }
}

/// Distinct values: exact (hashes) up to [`EXACT_DISTINCT`], then a
/// HyperLogLog of 1 KiB.
#[derive(Debug, Clone, Default)]
pub struct Distinct {
    exact: Vec<u64>,
    hll: Option<Box<[u8; HLL_M]>>,
    /// Values inserted: an estimate never says more than this.
    seen: u64,
}

impl Distinct {
    pub fn insert(&mut self, h: u64) {
        self.seen += 1;
        if let Some(r) = &mut self.hll {
            hll_add(r, h);
            return;
        }
        if self.exact.contains(&h) {
            return;
        }
        if self.exact.len() < EXACT_DISTINCT {
            self.exact.push(h);
            return;
        }
        let mut r = Box::new([0u8; HLL_M]);
        for x in self.exact.drain(..) {
            hll_add(&mut r, x);
        }
        hll_add(&mut r, h);
        self.exact = Vec::new();
        self.hll = Some(r);
    }

    pub fn fact(&self) -> Fact {
        match &self.hll {
            // No counted event had the field: unknown, not zero.
            None if self.exact.is_empty() => Fact::Missing,
            None =>
            {
                #[allow(clippy::cast_precision_loss)]
                Fact::Num(self.exact.len() as f64)
            }
            Some(r) => Fact::About(hll_estimate(r).min(self.seen)),
        }
    }
}

fn hll_add(r: &mut [u8; HLL_M], h: u64) {
    // Mix: the hashers in use are good, but a fixed mix keeps the
    // register index and the rank independent whatever feeds it.
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let idx = usize::try_from(h >> (64 - HLL_BITS)).unwrap_or(0);
    let rest = (h << HLL_BITS) | (1 << (HLL_BITS - 1));
    let rank = u8::try_from(rest.leading_zeros() + 1).unwrap_or(u8::MAX);
    if let Some(slot) = r.get_mut(idx) {
        *slot = (*slot).max(rank);
    }
}

#[allow(clippy::cast_precision_loss)]
fn hll_estimate(r: &[u8; HLL_M]) -> u64 {
    let m = HLL_M as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = r.iter().map(|&x| 2f64.powi(-i32::from(x))).sum();
    let zeros = r.iter().filter(|&&x| x == 0).count();
    let mut e = alpha * m * m / sum;
    if e <= 2.5 * m && zeros > 0 {
        e = m * (m / zeros as f64).ln();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let e = e.round() as u64;
    e
}

/// The most frequent value (space-saving over [`TOP_SLOTS`] counters).
#[derive(Debug, Clone, Default)]
pub struct Top {
    items: Vec<(u64, String, u64)>,
}

impl Top {
    pub fn insert(&mut self, h: u64, value: &str) {
        if let Some(it) = self.items.iter_mut().find(|it| it.0 == h) {
            it.2 += 1;
            return;
        }
        if self.items.len() < TOP_SLOTS {
            self.items.push((h, value.to_owned(), 1));
            return;
        }
        if let Some(min) = self.items.iter_mut().min_by_key(|it| it.2) {
            min.0 = h;
            min.1.clear();
            min.1.push_str(value);
            min.2 += 1;
        }
    }

    pub fn fact(&self) -> Fact {
        self.items
            .iter()
            .max_by_key(|it| it.2)
            .map_or(Fact::Missing, |it| Fact::Text(it.1.clone()))
    }
}

/// A field's value as a title fact: as the group key writes it (a port
/// is `2200`, not `2,200`; quantities go through `sum.`/`max.`).
pub fn value_fact(v: &Value<'_>) -> Option<Fact> {
    if matches!(v, Value::Missing) {
        return None;
    }
    let mut s = String::new();
    v.write_key(&mut s);
    Some(Fact::Text(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(12_000.0), "12,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-4321.0), "-4,321");
        assert_eq!(thousands(2.5), "2.5");
        assert_eq!(about(9_812), "~9,800");
        assert_eq!(about(1_013), "~1,000");
        assert_eq!(about(57), "~57");
    }

    #[test]
    fn distinct_is_exact_then_close() {
        let s = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut d = Distinct::default();
        for i in 0..100u32 {
            d.insert(s.hash_one(i));
            d.insert(s.hash_one(i));
        }
        assert_eq!(d.fact(), Fact::Num(100.0));
        for n in [1_000u32, 9_800, 60_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.insert(s.hash_one(i));
            }
            let Fact::About(e) = d.fact() else {
                panic!("{n}: not an estimate");
            };
            let err = (f64::from(u32::try_from(e).unwrap()) - f64::from(n)).abs() / f64::from(n);
            assert!(err < 0.1, "{n}: estimated {e}");
        }
    }

    #[test]
    fn top_finds_the_heavy_hitter_among_many() {
        let mut t = Top::default();
        for i in 0..1000u64 {
            t.insert(i, &i.to_string());
            if i % 3 == 0 {
                t.insert(u64::MAX, "web-03:2200");
            }
        }
        assert_eq!(t.fact(), Fact::Text("web-03:2200".into()));
    }

    #[test]
    fn durations_read_in_both_languages() {
        assert_eq!(duration(12_400_000_000, false), "12 s");
        assert_eq!(duration(600_000_000_000, true), "10 分钟");
        assert_eq!(duration(3 * 3600 * 1_000_000_000, false), "3 h");
    }
}
