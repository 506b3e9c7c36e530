//! Rule files: TOML text of any shape into compiled rules (conditions,
//! regexes, lists, windows), or diagnostics with file:line.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use shouwang_rules::compile::compile_rule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = compile_rule("fuzz.toml", text, &Default::default(), &Arc::new(Vec::new()));
});
