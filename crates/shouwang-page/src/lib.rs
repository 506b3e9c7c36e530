//! The page core of shouwang (守望): what a fetched web page says, as pure
//! functions over its bytes and text.
//!
//! [`decode`] turns the body into text (charset from Content-Type, else
//! `<meta charset>`, else UTF-8; GBK and GB18030 pages are common);
//! [`analyse`] reads the HTML into a [`Page`]: visible text normalised for
//! comparison, DOM structure, title, links and how each is hidden from
//! visitors, and the hosts scripts and frames come from, under the site's
//! [`PageRules`]. [`shingles`], [`set_change`], [`multiset_change`] and
//! [`skeleton_hash`] compare pages with a remembered [`Fingerprint`];
//! [`cap_nesting`] bounds hostile nesting before parsing.
//!
//! Deliberately not here, and not depended on: fetching, DNS, TLS, files,
//! clocks and async runtimes (no tokio, no reqwest, no sqlx, no anyhow).
//! The agent's remote site checks are the edge that fetches the bytes; the
//! `html` fuzz target feeds this crate directly.

mod charset;
mod page;

pub use charset::decode;
pub use page::{
    Fingerprint, Link, MAX_NESTING, Page, PageRules, analyse, cap_nesting, multiset_change,
    set_change, shingles, skeleton_hash,
};
/// Text patterns [`PageRules::ignore_patterns`] removes.
pub use regex::Regex;
/// CSS selectors of elements [`PageRules::ignore`] leaves out.
pub use scraper::Selector;
/// The page's own address, to resolve its links against.
pub use url::Url;
