//! The page analyser on hostile HTML: deep nesting, broken markup, hidden
//! links in CSS, scripts, encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shouwang_page::{PageRules, analyse};

fuzz_target!(|data: &[u8]| {
    let text = shouwang_page::decode(data, Some("text/html"));
    let Ok(base) = url::Url::parse("https://www.example.gov.cn/") else {
        return;
    };
    let page = analyse(&text, &base, &PageRules::default());
    std::hint::black_box(page);
});
