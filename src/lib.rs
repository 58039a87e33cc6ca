//! redis-vip: a Redis/Valkey module that keeps a virtual IP on the master.
//!
//! Where things are:
//! - `config`    every `vip.*` config declared once (the table), parsing and validation (pure)
//! - `core`      the decisions: (state, event, settings, now) -> actions (pure)
//! - `sentinel`  asking the Sentinels: answers (pure), the view and its rule (pure), pollers
//! - `packet`    gratuitous ARP and unsolicited NA frames (pure)
//! - `netlink`   addresses and links over NETLINK_ROUTE
//! - `announce`  the AF_PACKET sender and listener
//! - `reach`     can clients connect through the VIP (`bind`, protected mode)? (pure)
//! - `worker`    the thread that runs the core and carries out its actions (the loop, the
//!   system adapter, the watcher)
//! - `threads`   how every module thread is started (name, signal mask)
//! - `witness`   the replicas as witnesses: the node-to-node question (pure) and its askers
//! - `redis_glue` the Redis side, one job a file: load and unload, configs, events, commands,
//!   INFO (main thread)

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
pub mod witness;
pub mod worker;

#[cfg(all(feature = "module", not(test)))]
mod module {
    use redis_module::redis_module;

    use crate::redis_glue::*;

    redis_module! {
        name: "vip",
        version: 1,
        allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
        data_types: [],
        init: init,
        deinit: deinit,
        // no `info:` here: init registers the INFO callback itself (redis_glue/info.rs)
        commands: [
            // ACL categories are set in init, where the server supports them (acl_categories).
            ["vip.status", vip_status, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
            ["vip.sentinels", vip_sentinels, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
            ["vip.events", vip_events, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
            // Not readonly: a confirmation is a promise the module keeps (no claim until it
            // runs out). Not write either: a read-only replica must answer it.
            ["vip.witness", vip_witness, "fast allow-stale", 0, 0, 0, ""],
            ["vip.witnesses", vip_witnesses, "readonly fast allow-stale allow-loading", 0, 0, 0, ""],
        ],
        // no `configurations:` either: init registers every row of config::CONFIGS itself
        // (redis_glue/configs.rs), after checking the loadmodule arguments.
    }
}
