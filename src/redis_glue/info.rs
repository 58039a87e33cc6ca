//! The status snapshot rendered as field/value pairs: one list feeds both `VIP.STATUS` and
//! `INFO vip`, and `VIP.SENTINELS` has its rows. One function per group of fields.

use std::ffi::c_int;

use redis_module::{raw, InfoContext};

use super::{events, worker_link};
use crate::config::Mode;
use crate::core::Status;
use crate::sentinel::SentinelRow;

/// A field's value: text or a number.
pub enum Value {
    Text(String),
    Int(i64),
}

use Value::{Int, Text};

pub type Fields = Vec<(&'static str, Value)>;

fn int(v: u64) -> Value {
    Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn flag(b: bool) -> Value {
    Int(i64::from(b))
}

/// Every field of `VIP.STATUS` and `INFO vip`, in their order.
pub fn fields(s: &Status) -> Fields {
    let mut out = version_fields();
    out.extend(state_fields(s));
    out.extend(fault_fields(s));
    out.extend(sentinel_fields(s));
    out.extend(witness_fields(s));
    out.extend(client_fields(s));
    out.extend(conflict_fields(s));
    out.extend(drop_fields(s));
    out
}

fn version_fields() -> Fields {
    vec![
        ("version", Text(env!("CARGO_PKG_VERSION").into())),
        ("build", Text(env!("VIP_BUILD_COMMIT").into())),
        ("version_num", Int(version_num())),
    ]
}

/// The state, mode and role (as text and, for scrapers, as numbers) and what is held where.
fn state_fields(s: &Status) -> Fields {
    vec![
        ("state", Text(s.state.as_str().into())),
        ("state_code", Int(s.state.code())),
        ("mode", Text(s.mode.as_str().into())),
        ("mode_code", flag(s.mode == Mode::Sentinel)),
        ("role", Text(s.role_str().into())),
        ("addresses", Text(s.addresses.clone())),
        ("interface", Text(s.interface.clone())),
        ("holding", flag(s.holding)),
        (
            "announce",
            Text(if s.announce { "yes" } else { "no" }.into()),
        ),
        (
            "conflict_detection",
            Text(s.conflict_detection.as_str().into()),
        ),
        ("reason", Text(s.reason.clone())),
        ("last_transition_ms", int(s.last_transition_ms)),
        ("last_claim_latency_us", int(s.last_claim_latency_us)),
    ]
}

fn fault_fields(s: &Status) -> Fields {
    let c = &s.counters;
    vec![
        ("announcements_sent", int(c.announcements_sent)),
        ("claims", int(c.claims)),
        ("releases", int(c.releases)),
        ("errors", int(c.errors)),
        ("error_active", flag(s.error_active)),
        ("last_error", Text(s.last_error.clone())),
        ("last_error_ms", int(s.last_error_ms)),
    ]
}

/// Sentinel mode: the count, the quorum, the lease and the fences.
fn sentinel_fields(s: &Status) -> Fields {
    vec![
        ("sentinels_known", int(s.sentinels_known)),
        ("sentinels_reachable", int(s.sentinels_reachable)),
        ("sentinels_confirming", int(s.sentinels_confirming)),
        ("sentinels_ghosts", int(s.sentinels_ghosts)),
        ("sentinel_entries_skipped", int(s.sentinel_entries_skipped)),
        ("quorum", int(s.quorum)),
        ("lease_ms", int(s.lease_ms)),
        ("lease_remaining_ms", int(s.lease_remaining_ms)),
        ("fences", int(s.counters.fences)),
        ("last_fence_reason", Text(s.last_fence_reason_str().into())),
        ("last_fence", Text(s.last_fence.clone())),
    ]
}

/// The failsafe: holding on the replicas' word, the witnesses asked, and (on a replica) how
/// long its own promise still keeps it from claiming.
fn witness_fields(s: &Status) -> Fields {
    vec![
        ("failsafe", flag(s.failsafe)),
        ("failsafe_since_ms", int(s.failsafe_since_ms)),
        ("witnesses", int(s.witnesses)),
        ("witnesses_confirmed", int(s.witnesses_confirmed)),
        ("witness_lease_ms", int(s.witness_lease_ms)),
        ("witnessed_until_ms", int(s.witnessed_until_ms)),
    ]
}

fn client_fields(s: &Status) -> Fields {
    vec![
        ("clients_can_connect", flag(s.clients_problem.is_empty())),
        ("clients_problem", Text(s.clients_problem.clone())),
    ]
}

fn conflict_fields(s: &Status) -> Fields {
    vec![
        ("conflicts", int(s.counters.conflicts)),
        ("last_conflict_mac", Text(s.last_conflict_mac.clone())),
        ("reannounced", int(s.counters.reannounced)),
    ]
}

fn drop_fields(s: &Status) -> Fields {
    vec![
        ("inbox_dropped", int(s.inbox_dropped)),
        ("events_dropped", int(events::dropped())),
    ]
}

/// The module version as one number for alerts and dashboards: 0.2.0 -> 200, 1.4.12 -> 10412.
fn version_num() -> i64 {
    let part = |s: &str| s.parse::<i64>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// One witness's row of `VIP.WITNESSES`.
pub fn witness_row(r: &crate::witness::WitnessRow) -> Fields {
    vec![
        ("address", Text(r.address.clone())),
        ("source", Text(r.source.clone())),
        ("reply", Text(r.reply.clone())),
        ("age_ms", Int(r.age_ms)),
        (
            "valid_ms",
            Int(i64::try_from(r.valid_ms).unwrap_or(i64::MAX)),
        ),
        ("last_error", Text(r.last_error.clone())),
    ]
}

/// One Sentinel's row of `VIP.SENTINELS`.
pub fn sentinel_row(r: &SentinelRow) -> Fields {
    let text = |s: &str| Text(s.to_string());
    vec![
        ("address", text(&r.addr)),
        ("runid", text(&r.runid)),
        ("learned", flag(r.learned)),
        ("reachable", flag(r.reachable)),
        ("last_answer_ms_ago", Int(r.last_answer_ms_ago)),
        ("master", text(&r.master)),
        ("names_this_node", flag(r.names_this_node)),
        ("config_epoch", int(r.config_epoch)),
        ("master_flags", text(&r.master_flags)),
        ("failover_state", text(&r.failover_state)),
        ("promoted", text(&r.promoted)),
        ("confirms", flag(r.confirms)),
        ("last_error", text(&r.last_error)),
        ("skipped_replicas", Int(i64::from(r.skipped_replicas))),
        ("skipped_peers", Int(i64::from(r.skipped_peers))),
        ("skipped_reason", text(&r.skipped_reason)),
        ("ghosts", Int(i64::from(r.ghosts))),
    ]
}

/// INFO text cannot carry line breaks or NULs.
fn info_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The module's INFO callback, registered by init in place of the one the redis_module! macro
/// installs. The macro's callback, in a crash report, first captures and symbolizes a Rust
/// backtrace (the backtrace crate reads /proc/self/maps and the DWARF of every loaded object,
/// with glibc's malloc and realpath, from inside the server's signal handler): on valkey 9.1 that
/// aborted in glibc's malloc and cut the report short. This one only formats the status.
pub extern "C" fn info_callback(ctx: *mut raw::RedisModuleInfoCtx, for_crash_report: c_int) {
    vip_info(&InfoContext::new(ctx), for_crash_report != 0);
}

fn vip_info(ctx: &InfoContext, for_crash_report: bool) {
    // A crash report must never wait: the worker may hold the lock, or be gone mid-update.
    let snapshot = if for_crash_report {
        match worker_link::try_status() {
            Some(s) => s,
            None => return,
        }
    } else {
        worker_link::status()
    };
    raw::add_info_section(ctx.ctx, None);
    for (name, value) in fields(&snapshot) {
        match value {
            Text(t) => {
                raw::add_info_field_str(ctx.ctx, name, &info_safe(&t));
            }
            Int(i) => {
                raw::add_info_field_long_long(ctx.ctx, name, i);
            }
        }
    }
}
