//! One `vip.*` string value, as CONFIG SET or a loadmodule argument hands it over: every
//! string parser of `config` on the same text. Values that are not UTF-8 never reach them
//! (redis_glue refuses those first), so neither do they here.
//!
//! Besides "never panics", checks what an accepted value promises: addresses and Sentinels
//! print back to text that parses to the same list, names fit the kernel's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_vip::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(vips) = config::parse_addresses(text) {
        assert!(vips.len() <= config::MAX_ADDRESSES);
        let printed = config::join(&vips);
        assert_eq!(
            config::parse_addresses(&printed).as_ref(),
            Ok(&vips),
            "{printed}"
        );
    }
    if let Ok(vip) = config::parse_cidr(text) {
        assert_eq!(config::parse_cidr(&vip.to_string()), Ok(vip));
    }
    if let Ok(name) = config::parse_interface(text) {
        assert!(name.len() <= config::MAX_IFNAME, "{name:?}");
        assert_eq!(config::parse_interface(&name).as_ref(), Ok(&name));
    }
    if let Ok(Some(label)) = config::parse_label(text) {
        assert!(label.len() <= config::MAX_LABEL, "{label:?}");
    }
    if let Ok(Some(token)) = config::parse_token("master name", text) {
        assert!(!token.contains(','), "{token:?}");
    }
    let _ = config::parse_secret(text);
    if let Ok(sentinels) = config::parse_sentinels(text) {
        assert!(sentinels.len() <= config::MAX_SENTINELS);
        let printed = sentinels
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            config::parse_sentinels(&printed).as_ref(),
            Ok(&sentinels),
            "{printed}"
        );
    }
    let _ = config::parse_bool(text);
});
