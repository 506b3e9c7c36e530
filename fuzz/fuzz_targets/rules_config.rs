//! Rule files and config files: TOML text of any shape into compiled rules
//! (conditions, regexes, lists, windows) and collector/agent configs, or
//! diagnostics with file:line.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use shouwang_collector::rules::compile::compile_rule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = compile_rule("fuzz.toml", text, &Default::default(), &Arc::new(Vec::new()));
    let _ = shouwang_collector::config::CollectorConfig::parse("fuzz.toml", text);
    let _ = shouwang_agent::config::LoadedConfig::parse("fuzz.toml", text);
});
