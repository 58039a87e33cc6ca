//! `__vip__:events`: the worker queues a line for every transition; the server cron publishes
//! them on the main thread and keeps the last ones for `VIP.EVENTS`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use redis_module::{raw, Context};
use redis_module_macros::cron_event_handler;

use super::{lock, server, witness};

/// The channel every transition is published on (format: `core::Publication`).
const EVENTS_CHANNEL: &str = "__vip__:events";
/// The last lines published, for `VIP.EVENTS`: a subscriber that was disconnected (Sentinel's
/// promotion runs CLIENT KILL TYPE normal and TYPE pubsub on the promoted replica, just when
/// its claim is published) reads what it missed.
pub const HISTORY_LEN: usize = 64;
static HISTORY: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Lines waiting for the main thread, which alone may publish (Redis 8 asserts it: a
/// subscriber's memory accounting runs on the main thread). Bounded: when the server is too busy
/// to drain it for long, the oldest are dropped and counted.
const PENDING_LEN: usize = 256;
static PENDING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// From the worker: queue a line for `__vip__:events`. Never blocks on the main thread.
pub fn queue_event(line: String) {
    let mut pending = lock(&PENDING);
    if pending.len() >= PENDING_LEN {
        pending.pop_front();
        EVENTS_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    pending.push_back(line);
}

/// Lines dropped because the main thread did not take them in time.
pub fn dropped() -> u64 {
    EVENTS_DROPPED.load(Ordering::Relaxed)
}

/// The last `count` lines published, oldest first.
pub fn history(count: usize) -> Vec<String> {
    let history = lock(&HISTORY);
    let skip = history.len().saturating_sub(count);
    history.iter().skip(skip).cloned().collect()
}

/// At unload: a reload starts with nothing queued, kept or counted.
pub fn clear() {
    lock(&HISTORY).clear();
    lock(&PENDING).clear();
    EVENTS_DROPPED.store(0, Ordering::Relaxed);
}

/// Every server cron (hz, 10 a second by default), on the main thread: hand over the
/// replication facts when they changed, and publish what the worker queued. A cron callback is torn down with the module, unlike a one-shot or a timer, which
/// would either outlive MODULE UNLOAD or block it. Lines reach this node's subscribers only (a
/// module's PUBLISH is not replicated): every node speaks for itself.
#[cron_event_handler]
fn on_cron(ctx: &Context, _hz: u64) {
    server::recheck_clients_once(ctx);
    witness::replication_tick(ctx);
    let lines: Vec<String> = {
        let mut pending = lock(&PENDING);
        if pending.is_empty() {
            return;
        }
        pending.drain(..).collect()
    };
    publish(ctx, &lines);
    let mut history = lock(&HISTORY);
    for line in lines {
        if history.len() >= HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(line);
    }
}

fn publish(ctx: &Context, lines: &[String]) {
    // SAFETY: main thread, inside a server event callback with a valid context; every string
    // created here is freed before returning.
    unsafe {
        let (Some(publish), Some(create), Some(free)) = (
            raw::RedisModule_PublishMessage,
            raw::RedisModule_CreateString,
            raw::RedisModule_FreeString,
        ) else {
            return;
        };
        let channel = create(
            ctx.ctx,
            EVENTS_CHANNEL.as_ptr().cast(),
            EVENTS_CHANNEL.len(),
        );
        for line in lines {
            let message = create(ctx.ctx, line.as_ptr().cast(), line.len());
            publish(ctx.ctx, channel, message);
            free(ctx.ctx, message);
        }
        free(ctx.ctx, channel);
    }
}
