//! The Redis side, one job a file. Everything here runs on the Redis main thread, so it only
//! reads state or hands a control to the worker: no I/O, no waiting, except joining the
//! worker at shutdown and unload, which is what those are for.
//!
//! - `lifecycle` load (arguments, configs, worker) and unload
//! - `worker_link` the worker's handle and the status snapshot it publishes
//! - `configs`   the `vip.*` configs registered from `config::CONFIGS`; the values in force
//! - `server`    the role, this process's identity, whether clients can reach the VIP
//! - `events`    `__vip__:events`, published from the server cron, and its history
//! - `commands`  `VIP.STATUS`, `VIP.SENTINELS`, `VIP.WITNESSES`, `VIP.EVENTS`
//! - `witness`   `VIP.WITNESS` (the replica's answer) and the replication
//!   facts handed to the worker when they change
//! - `info`      the status as fields, for the commands and `INFO vip`
//! - `log`       lines in the Redis log, from the main thread and the worker
//! - `defrag`    the stand-in that keeps a load quiet on servers without defrag callbacks
//!
//! Nothing outside this folder uses it, except the `redis_module!` entry point in lib.rs.

use std::sync::{Mutex, MutexGuard};

mod commands;
mod configs;
mod defrag;
mod events;
mod info;
mod lifecycle;
mod log;
mod server;
mod witness;
mod worker_link;

pub use commands::{vip_events, vip_sentinels, vip_status, vip_witnesses};
pub use lifecycle::{deinit, init};
pub use witness::vip_witness;

/// A poisoned lock still holds the last value written: take it (no panic on the main thread).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
