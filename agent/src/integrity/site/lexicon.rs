//! Sensitive-word lexicons: one Aho-Corasick automaton over every term of
//! every list, matched leftmost-longest on text with case folded and
//! whitespace and punctuation removed (spammers write 博 彩 and 博-彩).
//! Allow-list phrases are in the same automaton: a term inside a longer
//! allowed phrase is consumed by the phrase and not reported.

use std::collections::BTreeSet;
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};
use anyhow::Context;

/// The lexicons shipped with the agent (`agent/lexicons/`).
pub const BUILT_IN: &[(&str, &str)] = &[
    ("gambling", include_str!("../../../lexicons/gambling.txt")),
    ("porn", include_str!("../../../lexicons/porn.txt")),
    (
        "defacement",
        include_str!("../../../lexicons/defacement.txt"),
    ),
    ("allow", include_str!("../../../lexicons/allow.txt")),
];

/// The category whose hits are defacement signs.
pub const DEFACEMENT: &str = "defacement";
const ALLOW: &str = "allow";

/// A hit: the term as listed and its category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub term: String,
    pub category: String,
}

#[derive(Debug, Clone)]
pub struct Lexicon {
    ac: Option<AhoCorasick>,
    /// Per pattern: (term as written, category).
    terms: Vec<(String, String)>,
}

/// Lower case, letters and digits only.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

impl Lexicon {
    /// Builds from `(category, file text)` pairs.
    pub fn from_lists(lists: &[(String, String)]) -> anyhow::Result<Self> {
        let mut seen = BTreeSet::new();
        let mut patterns = Vec::new();
        let mut terms = Vec::new();
        for (cat, text) in lists {
            for line in text.lines() {
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let f = fold(t);
                if f.is_empty() || !seen.insert(f.clone()) {
                    continue;
                }
                patterns.push(f);
                terms.push((t.to_owned(), cat.clone()));
            }
        }
        let ac = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .context("building the sensitive-word automaton")?,
            )
        };
        Ok(Self { ac, terms })
    }

    /// The shipped lexicons, or every `*.txt` in `dir` (file stem =
    /// category; `allow.txt` = allow-list; `defacement.txt` = signatures).
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let lists: Vec<(String, String)> = match dir {
            None => BUILT_IN
                .iter()
                .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
                .collect(),
            Some(d) => {
                let mut v = Vec::new();
                let rd = std::fs::read_dir(d)
                    .with_context(|| format!("cannot read lexicon directory {}", d.display()))?;
                for de in rd.flatten() {
                    let p = de.path();
                    if p.extension().and_then(|e| e.to_str()) != Some("txt") {
                        continue;
                    }
                    let cat = p
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or_default()
                        .to_owned();
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read lexicon {}", p.display()))?;
                    v.push((cat, text));
                }
                if v.is_empty() {
                    anyhow::bail!("lexicon directory {} has no *.txt files", d.display());
                }
                v.sort();
                v
            }
        };
        Self::from_lists(&lists)
    }

    /// Terms found in `text` (already folded with [`fold`]), once each.
    pub fn find_folded(&self, folded: &str) -> BTreeSet<Hit> {
        let mut out = BTreeSet::new();
        let Some(ac) = &self.ac else { return out };
        for m in ac.find_iter(folded) {
            if let Some((term, cat)) = self.terms.get(m.pattern().as_usize())
                && cat != ALLOW
            {
                out.insert(Hit {
                    term: term.clone(),
                    category: cat.clone(),
                });
            }
        }
        out
    }

    pub fn find(&self, text: &str) -> BTreeSet<Hit> {
        self.find_folded(&fold(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_lists_find_spam_and_respect_the_allow_list() {
        let lx = Lexicon::load(None).unwrap();
        let hits = lx.find("最新 博 彩 平台，真人-荷官在线，Bet365 注册");
        let terms: Vec<&str> = hits.iter().map(|h| h.term.as_str()).collect();
        assert_eq!(terms, ["bet365", "博彩", "真人荷官"]);
        assert!(hits.iter().all(|h| h.category == "gambling"));
        // Government news about fighting gambling is not spam.
        assert!(lx.find("我县开展严厉打击赌博违法犯罪专项行动").is_empty());
        assert!(lx.find("扫黄打非工作会议").is_empty());
        // … but the bare word elsewhere is.
        assert_eq!(lx.find("欢迎来到网上赌博天堂").len(), 1);
        let d = lx.find("HACKED BY xx team");
        assert_eq!(
            d.iter().next().map(|h| h.category.as_str()),
            Some(DEFACEMENT)
        );
    }

    #[test]
    fn a_lexicon_directory_replaces_the_built_in_lists() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Lexicon::load(Some(dir.path())).is_err());
        std::fs::write(dir.path().join("politics.txt"), "# c\n违禁词\n").unwrap();
        let lx = Lexicon::load(Some(dir.path())).unwrap();
        assert_eq!(lx.find("这是违 禁 词").len(), 1);
        assert!(lx.find("博彩").is_empty());
    }
}
