//! `VIP.STATUS`, `VIP.SENTINELS` and `VIP.EVENTS`: read-only, O(1), from the last status
//! snapshot and the event history; nothing here waits on the worker.

use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use super::events::{self, HISTORY_LEN};
use super::info::{self, Fields, Value};
use super::worker_link;

/// Field/value pairs as one flat array, the names as `key` makes them.
pub(super) fn flat(fields: Fields, key: fn(&'static str) -> RedisValue) -> RedisValue {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(key(name));
        out.push(match value {
            Value::Text(t) => RedisValue::BulkString(t),
            Value::Int(i) => RedisValue::Integer(i),
        });
    }
    RedisValue::Array(out)
}

pub fn vip_status(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    Ok(flat(
        info::fields(&worker_link::status()),
        RedisValue::SimpleStringStatic,
    ))
}

/// `VIP.SENTINELS`: one entry per Sentinel asked (configured or learned), as field/value
/// arrays. Empty in basic mode.
pub fn vip_sentinels(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    let rows = worker_link::status().sentinels;
    let out = rows
        .iter()
        // the field names as bulk strings here, as they always were
        .map(|r| flat(info::sentinel_row(r), |k| RedisValue::BulkString(k.into())))
        .collect();
    Ok(RedisValue::Array(out))
}

/// `VIP.WITNESSES`: one entry per witness the master asks (or would ask), as field/value
/// arrays, from the last status snapshot. Empty on a replica and in basic mode.
pub fn vip_witnesses(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    let rows = worker_link::status().witness_rows;
    Ok(RedisValue::Array(
        rows.iter()
            .map(|r| flat(info::witness_row(r), |k| RedisValue::BulkString(k.into())))
            .collect(),
    ))
}

/// `VIP.EVENTS [count]`: the last lines published on `__vip__:events`, oldest first (at most
/// 64 are kept; default all).
pub fn vip_events(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let count =
        match args.get(1) {
            None => HISTORY_LEN,
            Some(a) => match a.to_string_lossy().parse::<usize>() {
                Ok(n) if args.len() == 2 => n,
                _ => return Err(RedisError::Str(
                    "ERR usage: VIP.EVENTS [count], count a number of lines (at most 64 are kept)",
                )),
            },
        };
    Ok(RedisValue::Array(
        events::history(count)
            .into_iter()
            .map(RedisValue::BulkString)
            .collect(),
    ))
}
