//! The loadmodule arguments: the input split at NUL bytes into arguments, each made text
//! the way redis_glue does it (`to_string_lossy`), then `config::check_module_args`.
//!
//! An accepted list is name/value pairs of known configs, each name once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_vip::config;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    if let Ok(pairs) = config::check_module_args(&args) {
        assert_eq!(pairs.len() * 2, args.len());
        for (i, (name, _)) in pairs.iter().enumerate() {
            assert!(
                config::find(name).is_some_and(|c| c.name == name),
                "{name}"
            );
            assert!(!pairs[..i].iter().any(|(n, _)| n == name), "{name} twice");
        }
    }
});
