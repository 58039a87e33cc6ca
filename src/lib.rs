//! redis-vip: a Redis/Valkey module that keeps a virtual IP on the master.
//!
//! Where things are:
//! - `config`    parsing and validation of every `vip.*` value (pure)
//! - `core`      the decisions: (state, event, settings, now) -> actions (pure)
//! - `sentinel`  asking the Sentinels: answers (pure), the view and its rule (pure), pollers
//! - `packet`    gratuitous ARP and unsolicited NA frames (pure)
//! - `netlink`   addresses and links over NETLINK_ROUTE
//! - `announce`  the AF_PACKET sender and listener
//! - `reach`     can clients connect through the VIP (`bind`, protected mode)? (pure)
//! - `worker`    the thread that runs the core and carries out its actions (the loop, the
//!   system adapter, the watcher)
//! - `threads`   how every module thread is started (name, signal mask)
//! - `redis_glue` configs, events, VIP.STATUS, VIP.SENTINELS, INFO (main thread)

pub mod announce;
pub mod config;
pub mod core;
pub mod error;
pub mod netlink;
pub mod packet;
pub mod reach;
#[cfg(not(test))]
pub mod redis_glue;
pub mod sentinel;
pub mod threads;
pub mod worker;

#[cfg(all(feature = "module", not(test)))]
mod module {
    use redis_module::configuration::ConfigurationFlags;
    use redis_module::redis_module;

    use crate::config::limits;
    use crate::redis_glue::*;

    const PROTECTED: ConfigurationFlags = ConfigurationFlags::PROTECTED;
    const DEFAULT: ConfigurationFlags = ConfigurationFlags::DEFAULT;
    const SECRET: ConfigurationFlags =
        ConfigurationFlags::PROTECTED.union(ConfigurationFlags::SENSITIVE);

    redis_module! {
        name: "vip",
        version: 1,
        allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
        data_types: [],
        init: init,
        deinit: deinit,
        // no `info:` here: init registers the INFO callback itself (redis_glue::info_callback)
        commands: [
            // ACL categories are set in init, where the server supports them (acl_categories).
            ["vip.status", vip_status, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
            ["vip.sentinels", vip_sentinels, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
            ["vip.events", vip_events, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
        ],
        configurations: [
            i64: [
                ["announce-count", &ANNOUNCE_COUNT, 5, limits::ANNOUNCE_COUNT.0, limits::ANNOUNCE_COUNT.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["announce-interval-ms", &ANNOUNCE_INTERVAL_MS, 200, limits::ANNOUNCE_INTERVAL_MS.0, limits::ANNOUNCE_INTERVAL_MS.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["announce-repeat-delay-ms", &ANNOUNCE_REPEAT_DELAY_MS, 5000, limits::ANNOUNCE_REPEAT_DELAY_MS.0, limits::ANNOUNCE_REPEAT_DELAY_MS.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["announce-refresh-ms", &ANNOUNCE_REFRESH_MS, 0, limits::ANNOUNCE_REFRESH_MS.0, limits::ANNOUNCE_REFRESH_MS.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["check-interval-ms", &CHECK_INTERVAL_MS, 1000, limits::CHECK_INTERVAL_MS.0, limits::CHECK_INTERVAL_MS.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["address-lifetime-s", &ADDRESS_LIFETIME_S, 1, limits::ADDRESS_LIFETIME_S.0, limits::ADDRESS_LIFETIME_S.1, DEFAULT, Some(Box::new(on_config_changed))],
                ["quorum", &QUORUM, 0, limits::QUORUM.0, limits::QUORUM.1, PROTECTED, Some(Box::new(on_config_changed))],
                ["lease-ms", &LEASE_MS, 0, limits::LEASE_MS.0, limits::LEASE_MS.1, PROTECTED, Some(Box::new(on_config_changed))],
                ["poll-interval-ms", &POLL_INTERVAL_MS, 100, limits::POLL_INTERVAL_MS.0, limits::POLL_INTERVAL_MS.1, PROTECTED, Some(Box::new(on_config_changed))],
            ],
            string: [
                ["address", &ADDRESS, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["interface", &INTERFACE, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["label", &LABEL, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinels", &SENTINELS, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["master-name", &MASTER_NAME, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinel-auth-user", &SENTINEL_AUTH_USER, "", PROTECTED, Some(Box::new(on_config_changed))],
                // SENSITIVE: redacted from MONITOR and the slow log (CONFIG GET still shows
                // it, as Redis shows masterauth)
                ["sentinel-auth-pass", &SENTINEL_AUTH_PASS, "", SECRET, Some(Box::new(on_config_changed))],
                // --- TLS to the Sentinels (empty: the server's own tls-* config) ---
                ["sentinel-tls-ca-cert-file", &SENTINEL_TLS_CA_CERT_FILE, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinel-tls-ca-cert-dir", &SENTINEL_TLS_CA_CERT_DIR, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinel-tls-cert-file", &SENTINEL_TLS_CERT_FILE, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinel-tls-key-file", &SENTINEL_TLS_KEY_FILE, "", PROTECTED, Some(Box::new(on_config_changed))],
                ["sentinel-tls-key-file-pass", &SENTINEL_TLS_KEY_FILE_PASS, "", SECRET, Some(Box::new(on_config_changed))],
                // --- end TLS ---
            ],
            bool: [
                ["release-on-shutdown", &RELEASE_ON_SHUTDOWN, true, DEFAULT, Some(Box::new(on_config_changed))],
                ["enabled", &ENABLED, true, PROTECTED, Some(Box::new(on_config_changed))],
                ["announce", &ANNOUNCE, true, PROTECTED, Some(Box::new(on_config_changed))],
                // --- TLS to the Sentinels ---
                ["sentinel-tls", &SENTINEL_TLS, false, PROTECTED, Some(Box::new(on_config_changed))],
            ],
            enum: [],
            module_args_as_configuration: true,
        ]
    }
}
