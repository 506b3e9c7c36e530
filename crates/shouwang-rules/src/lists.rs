//! Named lists (`rules/lists/NAME.txt`): one entry per line, `#` starts a
//! comment. An entry is an IP address, a CIDR block or a domain; a domain
//! matches itself and every name under it.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;

/// An IPv4 or IPv6 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: u128,
    prefix: u8,
    v6: bool,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let (addr, v6, max) = bits(ip);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0..={max}"))?,
        };
        Ok(Self {
            addr: addr & mask(prefix, max),
            prefix,
            v6,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (addr, v6, max) = bits(ip);
        v6 == self.v6 && addr & mask(self.prefix, max) == self.addr
    }
}

fn bits(ip: IpAddr) -> (u128, bool, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), false, 32),
        IpAddr::V6(a) => (u128::from(a), true, 128),
    }
}

fn mask(prefix: u8, max: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - u32::from(prefix))) >> (128 - u32::from(max))
    }
}

/// One list, ready for lookups.
#[derive(Debug, Default)]
pub struct NamedList {
    pub name: String,
    addrs: HashSet<IpAddr>,
    blocks: Vec<Cidr>,
    /// Lower-case domains and other strings.
    words: HashSet<String>,
}

impl NamedList {
    pub fn parse(name: &str, origin: &str, text: &str) -> Result<Self, Vec<Diagnostic>> {
        let mut l = Self {
            name: name.to_owned(),
            ..Self::default()
        };
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            if let Ok(ip) = entry.parse::<IpAddr>() {
                l.addrs.insert(ip);
            } else if entry.contains('/') {
                match Cidr::parse(entry) {
                    Ok(c) => l.blocks.push(c),
                    Err(e) => errors.push(Diagnostic::at_line(origin, i + 1, e, None)),
                }
            } else if entry.contains(char::is_whitespace) {
                errors.push(Diagnostic::at_line(
                    origin,
                    i + 1,
                    format!("`{entry}`: one entry per line (an address, a CIDR block or a domain)"),
                    None,
                ));
            } else {
                l.words
                    .insert(entry.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        if errors.is_empty() {
            Ok(l)
        } else {
            Err(errors)
        }
    }

    pub fn len(&self) -> usize {
        self.addrs.len() + self.blocks.len() + self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.addrs.contains(&ip) || self.blocks.iter().any(|b| b.contains(ip))
    }

    /// Exact word, or a domain in the list that `s` is under.
    pub fn contains_str(&self, s: &str) -> bool {
        if self.words.is_empty() {
            return s.parse::<IpAddr>().is_ok_and(|ip| self.contains_ip(ip));
        }
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = lower.as_str();
        loop {
            if self.words.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, tail)) if !tail.is_empty() => rest = tail,
                _ => break,
            }
        }
        lower.parse::<IpAddr>().is_ok_and(|ip| self.contains_ip(ip))
    }
}

pub type Lists = BTreeMap<String, Arc<NamedList>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_domains() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::5".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten/8").is_err());

        let l = NamedList::parse(
            "ti",
            "ti.txt",
            "# bad places\n203.0.113.7\n198.51.100.0/24 # a block\nevil.example\n",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.contains_ip("198.51.100.9".parse().unwrap()));
        assert!(l.contains_ip("203.0.113.7".parse().unwrap()));
        assert!(l.contains_str("a.b.EVIL.example."));
        assert!(!l.contains_str("notevil.example"));
        let err = NamedList::parse("x", "x.txt", "1.2.3.4\n10.0.0.0/99\n").unwrap_err();
        assert_eq!(err[0].line, 2);
    }
}
