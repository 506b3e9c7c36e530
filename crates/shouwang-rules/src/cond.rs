//! Conditions: checked and compiled once against the field table of one
//! event kind, then evaluated per event without allocation (except for
//! list-valued and decoded fields, which build their value).

use std::net::IpAddr;
use std::sync::Arc;

use shouwang_proto::{AppProto, EventKind};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::fields::{self, Ctx, FieldDef, FieldType, Value};
use crate::lists::{Cidr, Lists, NamedList};
use crate::spec::{CmpSpec, CondSpec};

/// A literal a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Ip(IpAddr),
}

/// A numeric range test.
#[derive(Debug, Clone, Copy)]
pub struct Cmp {
    gt: Option<f64>,
    ge: Option<f64>,
    lt: Option<f64>,
    le: Option<f64>,
}

impl Cmp {
    fn holds(&self, v: f64) -> bool {
        self.gt.is_none_or(|x| v > x)
            && self.ge.is_none_or(|x| v >= x)
            && self.lt.is_none_or(|x| v < x)
            && self.le.is_none_or(|x| v <= x)
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    Eq(Lit),
    Ne(Lit),
    In(Vec<Lit>),
    Cidr(Vec<Cidr>),
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Regex(regex::Regex),
    Num(Cmp),
    Length(Cmp),
    Entropy(Cmp),
    InList(Arc<NamedList>),
}

#[derive(Debug, Clone)]
pub enum Cond {
    True,
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Leaf {
        field: &'static FieldDef,
        op: Op,
        nocase: bool,
    },
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &str) -> f64 {
    let b = s.as_bytes();
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in b {
        if let Some(n) = counts.get_mut(usize::from(c)) {
            *n += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let len = b.len() as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

fn fold(x: &str, nocase: bool) -> std::borrow::Cow<'_, str> {
    if nocase {
        std::borrow::Cow::Owned(x.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(x)
    }
}

fn str_test(op: &Op, s: &str, nocase: bool) -> bool {
    match op {
        Op::Eq(Lit::Str(l)) => {
            if nocase {
                s.eq_ignore_ascii_case(l)
            } else {
                s == l
            }
        }
        Op::Ne(Lit::Str(l)) => {
            if nocase {
                !s.eq_ignore_ascii_case(l)
            } else {
                s != l
            }
        }
        Op::In(v) => v.iter().any(|l| match l {
            Lit::Str(l) => {
                if nocase {
                    s.eq_ignore_ascii_case(l)
                } else {
                    s == l
                }
            }
            _ => false,
        }),
        // Needles were folded at compile time when `nocase`.
        Op::Contains(v) => {
            let h = fold(s, nocase);
            v.iter().any(|n| h.contains(n.as_str()))
        }
        Op::StartsWith(v) => {
            let h = fold(s, nocase);
            v.iter().any(|n| h.starts_with(n.as_str()))
        }
        Op::EndsWith(v) => {
            let h = fold(s, nocase);
            v.iter().any(|n| h.ends_with(n.as_str()))
        }
        Op::Regex(r) => r.is_match(s),
        Op::Length(c) => {
            #[allow(clippy::cast_precision_loss)]
            let n = s.chars().count() as f64;
            c.holds(n)
        }
        Op::Entropy(c) => c.holds(entropy(s)),
        Op::InList(l) => l.contains_str(s),
        Op::Cidr(blocks) => s
            .parse::<IpAddr>()
            .is_ok_and(|ip| blocks.iter().any(|b| b.contains(ip))),
        _ => false,
    }
}

fn test_value(op: &Op, v: &Value<'_>, nocase: bool) -> bool {
    match v {
        Value::Missing => matches!(op, Op::Ne(_)),
        Value::Str(s) => str_test(op, s, nocase),
        Value::List(items) => items.iter().any(|s| str_test(op, s, nocase)),
        Value::Num(n) => match op {
            Op::Eq(Lit::Num(l)) => n == l,
            Op::Ne(Lit::Num(l)) => n != l,
            Op::In(v) => v.iter().any(|l| matches!(l, Lit::Num(l) if l == n)),
            Op::Num(c) => c.holds(*n),
            _ => false,
        },
        Value::Bool(b) => match op {
            Op::Eq(Lit::Bool(l)) => b == l,
            Op::Ne(Lit::Bool(l)) => b != l,
            _ => false,
        },
        Value::Ip(ip) => match op {
            Op::Eq(Lit::Ip(l)) => ip == l,
            Op::Ne(Lit::Ip(l)) => ip != l,
            Op::In(v) => v.iter().any(|l| matches!(l, Lit::Ip(l) if l == ip)),
            Op::Cidr(blocks) => blocks.iter().any(|b| b.contains(*ip)),
            Op::InList(l) => l.contains_ip(*ip),
            _ => false,
        },
    }
}

impl Cond {
    pub fn eval(&self, c: &Ctx<'_>) -> bool {
        match self {
            Self::True => true,
            Self::All(v) => v.iter().all(|x| x.eval(c)),
            Self::Any(v) => v.iter().any(|x| x.eval(c)),
            Self::Not(x) => !x.eval(c),
            Self::Leaf { field, op, nocase } => test_value(op, &(field.get)(c), *nocase),
        }
    }
}

/// Compiles conditions for one event kind, collecting every error.
pub struct CondCompiler<'a> {
    pub kind: EventKind,
    pub lists: &'a Lists,
    pub errors: &'a mut Vec<Diagnostic>,
}

impl CondCompiler<'_> {
    fn err(&mut self, span: std::ops::Range<usize>, msg: String, hint: Option<String>) {
        self.errors.push(Diagnostic::span(span, msg, hint));
    }

    /// Resolves a field name for this kind, or records an error.
    pub fn field(&mut self, name: &Spanned<String>) -> Option<&'static FieldDef> {
        if let Some(f) = fields::lookup(self.kind, name.get_ref()) {
            return Some(f);
        }
        let hint = match fields::suggest(self.kind, name.get_ref()) {
            Some(s) => {
                format!("did you mean `{s}`? (`docs/rules.md` lists the fields of each kind)")
            }
            None => format!(
                "fields of `{}`: {}",
                self.kind,
                fields::fields_of(self.kind)
                    .iter()
                    .chain(fields::COMMON)
                    .map(|f| f.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.err(
            name.span(),
            format!(
                "unknown field `{}` for events of kind `{}`",
                name.get_ref(),
                self.kind
            ),
            Some(hint),
        );
        None
    }

    pub fn compile(&mut self, spec: &Spanned<CondSpec>) -> Cond {
        let span = spec.span();
        let c = spec.get_ref();
        let combinators = usize::from(c.all.is_some())
            + usize::from(c.any.is_some())
            + usize::from(c.not.is_some());
        if combinators > 0 {
            if combinators > 1 || c.field.is_some() {
                self.err(
                    span,
                    "a condition is one of `all`, `any`, `not` or a `field` test".to_owned(),
                    Some("nest them: `{ all = [ { any = [...] }, { not = {...} } ] }`".to_owned()),
                );
                return Cond::True;
            }
            if let Some(v) = &c.all {
                return Cond::All(v.iter().map(|x| self.compile(x)).collect());
            }
            if let Some(v) = &c.any {
                return Cond::Any(v.iter().map(|x| self.compile(x)).collect());
            }
            if let Some(x) = &c.not {
                return Cond::Not(Box::new(self.compile(x)));
            }
        }
        let Some(name) = &c.field else {
            self.err(
                span,
                "a condition needs `field` and one operator (or `all`, `any`, `not`)".to_owned(),
                Some("for example `{ field = \"dst_port\", eq = 22 }`".to_owned()),
            );
            return Cond::True;
        };
        let Some(field) = self.field(name) else {
            return Cond::True;
        };
        let errors_before = self.errors.len();
        let mut ops: Vec<(std::ops::Range<usize>, Op)> = Vec::new();
        let ty = field.ty;
        let fname = field.name;
        if let Some(v) = &c.eq
            && let Some(l) = self.lit(fname, ty, v)
        {
            ops.push((v.span(), Op::Eq(l)));
        }
        if let Some(v) = &c.ne
            && let Some(l) = self.lit(fname, ty, v)
        {
            ops.push((v.span(), Op::Ne(l)));
        }
        if let Some(v) = &c.in_ {
            let lits: Vec<Lit> = v
                .get_ref()
                .iter()
                .filter_map(|x| self.lit(fname, ty, &Spanned::new(v.span(), x.clone())))
                .collect();
            ops.push((v.span(), Op::In(lits)));
        }
        if let Some(v) = &c.cidr {
            if !matches!(ty, FieldType::Ip | FieldType::Str) {
                self.type_err(v.span(), "cidr", fname, ty);
            }
            let mut blocks = Vec::new();
            for s in v.get_ref().clone().into_vec() {
                match Cidr::parse(&s) {
                    Ok(b) => blocks.push(b),
                    Err(e) => self.err(
                        v.span(),
                        e,
                        Some("write a block as `10.0.0.0/8` or `2001:db8::/32`".to_owned()),
                    ),
                }
            }
            ops.push((v.span(), Op::Cidr(blocks)));
        }
        let fold = |v: Vec<String>| -> Vec<String> {
            if c.nocase {
                v.into_iter().map(|s| s.to_ascii_lowercase()).collect()
            } else {
                v
            }
        };
        for (name, spec, make) in [
            (
                "contains",
                &c.contains,
                Op::Contains as fn(Vec<String>) -> Op,
            ),
            ("starts-with", &c.starts_with, Op::StartsWith),
            ("ends-with", &c.ends_with, Op::EndsWith),
        ] {
            if let Some(v) = spec {
                if !matches!(ty, FieldType::Str | FieldType::StrList) {
                    self.type_err(v.span(), name, fname, ty);
                }
                ops.push((v.span(), make(fold(v.get_ref().clone().into_vec()))));
            }
        }
        if let Some(v) = &c.regex {
            if !matches!(ty, FieldType::Str | FieldType::StrList) {
                self.type_err(v.span(), "regex", fname, ty);
            }
            let pattern = if c.nocase {
                format!("(?i){}", v.get_ref())
            } else {
                v.get_ref().clone()
            };
            match regex::RegexBuilder::new(&pattern).size_limit(1 << 20).build() {
                Ok(r) => ops.push((v.span(), Op::Regex(r))),
                Err(e) => self.err(
                    v.span(),
                    format!("bad regular expression: {}", e.to_string().lines().last().unwrap_or_default().trim()),
                    Some("the syntax is Rust's `regex` crate (no look-around, no backreferences); in TOML prefer '...' literal strings so backslashes stay as written".to_owned()),
                ),
            }
        }
        let nums = [(&c.gt, "gt"), (&c.ge, "ge"), (&c.lt, "lt"), (&c.le, "le")];
        if nums.iter().any(|(v, _)| v.is_some()) {
            let first = nums
                .iter()
                .find_map(|(v, _)| v.as_ref().map(Spanned::span))
                .unwrap_or(span.clone());
            let name = nums
                .iter()
                .find(|(v, _)| v.is_some())
                .map_or("gt", |(_, n)| *n);
            if ty != FieldType::Num {
                self.type_err(first.clone(), name, fname, ty);
            }
            ops.push((
                first,
                Op::Num(Cmp {
                    gt: c.gt.as_ref().map(|v| *v.get_ref()),
                    ge: c.ge.as_ref().map(|v| *v.get_ref()),
                    lt: c.lt.as_ref().map(|v| *v.get_ref()),
                    le: c.le.as_ref().map(|v| *v.get_ref()),
                }),
            ));
        }
        for (name, spec, make) in [
            ("length", &c.length, Op::Length as fn(Cmp) -> Op),
            ("entropy", &c.entropy, Op::Entropy),
        ] {
            if let Some(v) = spec {
                if !matches!(ty, FieldType::Str | FieldType::StrList) {
                    self.type_err(v.span(), name, fname, ty);
                }
                ops.push((v.span(), make(self.cmp(v))));
            }
        }
        if let Some(v) = &c.in_list {
            match self.lists.get(v.get_ref()) {
                Some(l) => ops.push((v.span(), Op::InList(l.clone()))),
                None => {
                    let known: Vec<&str> = self.lists.keys().map(String::as_str).collect();
                    self.err(
                        v.span(),
                        format!("no list named `{}`", v.get_ref()),
                        Some(if known.is_empty() {
                            "put one entry per line in rules/lists/NAME.txt".to_owned()
                        } else {
                            format!("lists in rules/lists/: {}", known.join(", "))
                        }),
                    );
                }
            }
        }
        match ops.len() {
            // An operator was written but was wrong: that error says it all.
            0 if self.errors.len() > errors_before => Cond::True,
            0 => {
                self.err(
                    span,
                    format!("the test of `{fname}` has no operator"),
                    Some("add one of eq, ne, in, cidr, contains, starts-with, ends-with, regex, gt, ge, lt, le, length, entropy, in-list".to_owned()),
                );
                Cond::True
            }
            1 => {
                let (_, op) = ops.remove(0);
                Cond::Leaf {
                    field,
                    op,
                    nocase: c.nocase,
                }
            }
            _ => {
                self.err(
                    ops.get(1).map_or(span, |(s, _)| s.clone()),
                    format!("one operator per test (`{fname}` has {})", ops.len()),
                    Some("combine several tests with `all = [...]` (gt and lt together are one range test)".to_owned()),
                );
                Cond::True
            }
        }
    }

    fn type_err(&mut self, span: std::ops::Range<usize>, op: &str, field: &str, ty: FieldType) {
        self.err(
            span,
            format!("`{op}` does not apply to `{field}`, a {}", ty.name()),
            Some(match ty {
                FieldType::Num => "numbers take eq, ne, in, gt, ge, lt, le".to_owned(),
                FieldType::Ip => "addresses take eq, ne, in, cidr, in-list".to_owned(),
                FieldType::Bool => "booleans take eq, ne".to_owned(),
                FieldType::Str | FieldType::StrList => {
                    "strings take eq, ne, in, contains, starts-with, ends-with, regex, length, entropy, in-list".to_owned()
                }
            }),
        );
    }

    fn cmp(&mut self, v: &Spanned<CmpSpec>) -> Cmp {
        let c = v.get_ref();
        if c.gt.is_none() && c.ge.is_none() && c.lt.is_none() && c.le.is_none() {
            self.err(
                v.span(),
                "an empty comparison".to_owned(),
                Some("write `{ gt = 50 }` (gt, ge, lt, le)".to_owned()),
            );
        }
        Cmp {
            gt: c.gt,
            ge: c.ge,
            lt: c.lt,
            le: c.le,
        }
    }

    fn lit(&mut self, field: &str, ty: FieldType, v: &Spanned<toml::Value>) -> Option<Lit> {
        let got = v.get_ref();
        let lit = match (ty, got) {
            (FieldType::Str | FieldType::StrList, toml::Value::String(s)) => {
                Some(Lit::Str(s.clone()))
            }
            (FieldType::Num, toml::Value::Integer(i)) =>
            {
                #[allow(clippy::cast_precision_loss)]
                Some(Lit::Num(*i as f64))
            }
            (FieldType::Num, toml::Value::Float(f)) => Some(Lit::Num(*f)),
            (FieldType::Bool, toml::Value::Boolean(b)) => Some(Lit::Bool(*b)),
            (FieldType::Ip, toml::Value::String(s)) => match s.parse() {
                Ok(ip) => Some(Lit::Ip(ip)),
                Err(_) => {
                    self.err(
                        v.span(),
                        format!("`{s}` is not an IP address (`{field}` is an address)"),
                        Some("for a block use `cidr = \"10.0.0.0/8\"`".to_owned()),
                    );
                    return None;
                }
            },
            _ => None,
        };
        // `app` takes the protocol names the agent sends; a misspelt one
        // would never match.
        if field == "app"
            && let Some(Lit::Str(name)) = &lit
            && !AppProto::ALL.iter().any(|a| a.as_str() == name)
        {
            self.err(
                v.span(),
                format!("`{name}` is not an application protocol"),
                Some(format!(
                    "`app` is one of: {}",
                    AppProto::ALL.map(AppProto::as_str).join(", ")
                )),
            );
            return None;
        }
        if lit.is_none() {
            self.err(
                v.span(),
                format!(
                    "`{field}` is a {}, but this is a {}",
                    ty.name(),
                    got.type_str()
                ),
                Some(match ty {
                    FieldType::Num => "write a number without quotes: `eq = 22`".to_owned(),
                    FieldType::Bool => "write `eq = true` or `eq = false`".to_owned(),
                    _ => "write a quoted string: `eq = \"...\"`".to_owned(),
                }),
            );
        }
        lit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_text() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!(entropy("4a6f686e2e446f6540657861") > 3.0);
    }
}
