//! The replica's side of the failsafe: `VIP.WITNESS <replid> <lease-ms>`, answered from this
//! server's own `INFO replication` (the master's view of its witnesses, `VIP.WITNESSES`, is
//! with the other status commands).
//! Also the replication facts the core needs (read at load and at every cron tick, handed
//! over only when they change).
//!
//! All of it on the main thread: one `INFO replication` (memory only), a judgement
//! (`witness::judge_heard`, with what this node's Sentinels report), and at most one control to the worker. Nothing waits.

use std::sync::Mutex;
use std::time::Duration;

use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use super::lock;
use super::worker_link::{self, send};
use crate::threads::mono;
use crate::witness::{self, Denial, Question, Replication, Reply};
use crate::worker::Control;

/// The replication facts last handed to the worker (None: none yet since load).
static LAST: Mutex<Option<Replication>> = Mutex::new(None);

const USAGE: &str = "ERR usage: VIP.WITNESS <replid> <lease-ms>: the asking master's replication id (40 hex digits, its INFO replication master_replid) and how long the answer holds, in milliseconds";

/// This server's `INFO replication`, parsed (empty when it cannot be read).
pub fn replication(ctx: &Context) -> Replication {
    let text = match ctx.call("INFO", &["replication"]) {
        Ok(RedisValue::SimpleString(s)) | Ok(RedisValue::BulkString(s)) => s,
        Ok(RedisValue::StringBuffer(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(RedisValue::BulkRedisString(s)) => s.to_string_lossy(),
        _ => String::new(),
    };
    witness::parse_replication(&text)
}

/// The replication facts at load (always handed over, and remembered for the cron).
pub fn first_replication(ctx: &Context) -> Control {
    let now = replication(ctx);
    *lock(&LAST) = Some(now.clone());
    Control::Replication(Box::new(now))
}

/// Every cron tick: read `INFO replication` and tell the worker when its facts changed
/// (the offsets and lags are not among them, so a busy master does not send 10 a second).
pub fn replication_tick(ctx: &Context) {
    let now = replication(ctx);
    let mut last = lock(&LAST);
    if last.as_ref() != Some(&now) {
        *last = Some(now.clone());
        drop(last);
        send(Control::Replication(Box::new(now)));
    }
}

/// Forget the last facts (at unload: the next load hands them over afresh).
pub fn forget() {
    *lock(&LAST) = None;
}

/// The question's arguments, checked: `Err` is the error reply.
fn question(args: &[RedisString]) -> Result<Question, RedisError> {
    let [_, replid, lease] = args else {
        return Err(RedisError::Str(USAGE));
    };
    let replid = replid.to_string_lossy();
    if !witness::valid_replid(&replid) {
        return Err(RedisError::String(format!(
            "ERR VIP.WITNESS: the replid must be 40 hex digits (a master_replid from INFO replication), got '{}'",
            replid.chars().take(64).collect::<String>()
        )));
    }
    let lease = lease.to_string_lossy();
    let lease_ms = match lease.parse::<u64>() {
        Ok(ms) if ms > 0 => ms,
        _ => {
            return Err(RedisError::String(format!(
                "ERR VIP.WITNESS: the lease must be a positive number of milliseconds, got '{}'",
                lease.chars().take(32).collect::<String>()
            )))
        }
    };
    Ok(Question { replid, lease_ms })
}

/// The reply as the asking master reads it: a kind and one detail.
fn reply_value(reply: &Reply) -> RedisValue {
    let bulk = |s: &str| RedisValue::BulkString(s.to_string());
    let (kind, detail) = match reply {
        Reply::Follows { granted_ms } => {
            return RedisValue::Array(vec![
                bulk("follows"),
                RedisValue::Integer(i64::try_from(*granted_ms).unwrap_or(i64::MAX)),
            ])
        }
        Reply::Denied(Denial::Promoted) => ("promoted", String::new()),
        Reply::Denied(Denial::FollowsOther { master, replid }) => {
            ("follows-other", format!("{master} {replid}"))
        }
        Reply::Denied(Denial::FailingOver(why)) => ("failing-over", why.clone()),
        Reply::Denied(Denial::NotFollowing(why)) => ("not-following", why.clone()),
        Reply::Denied(Denial::ReportedDown(why)) => ("reported-down", why.clone()),
    };
    RedisValue::Array(vec![bulk(kind), bulk(&detail)])
}

/// `VIP.WITNESS <replid> <lease-ms>`: does this replica follow the asking master (and do its
/// own Sentinels report nothing against it)? When it does, it promises not to claim the VIP
/// for the granted lease (from now), even if promoted meanwhile: the worker hears of the
/// promise before any later role change.
pub fn vip_witness(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let q = question(&args)?;
    // What this node's own Sentinels report against its master, as of the worker's last
    // snapshot (empty in basic mode): a replica that hears it does not confirm.
    // What this node's own Sentinels report against the master it follows now (by this
    // very INFO: not the one it followed before a move), as of the worker's last snapshot.
    let info = replication(ctx);
    let reports = worker_link::status().sentinel_reports;
    let against = match &info.master {
        Some(m) => witness::Against {
            failing_over: crate::sentinel::against(&reports, true, m),
            down: crate::sentinel::against(&reports, false, m),
        },
        None => witness::Against::default(),
    };
    let reply = witness::judge_heard(&info, &q, against);
    if let Reply::Follows { granted_ms } = reply {
        // Counted from now, on the module's one clock: the asker counts its own lease from
        // before it sent the question, so its end is never later than ours.
        send(Control::Witnessed {
            until: mono() + Duration::from_millis(granted_ms),
        });
    }
    Ok(reply_value(&reply))
}
