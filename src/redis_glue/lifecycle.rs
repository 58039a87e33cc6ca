//! Load and unload: the loadmodule arguments checked, the configs registered, the worker
//! started (and joined at SHUTDOWN and MODULE UNLOAD), the INFO callback and ACL categories
//! put in place.

use std::ffi::c_void;

use redis_module::{raw, Context, RedisString, Status as RedisStatus};

use super::{configs, defrag, events, info, log, server, witness, worker_link};
use crate::config::{self, Mode, Settings};
use crate::core::Role;
use crate::worker;

pub fn init(ctx: &Context, args: &[RedisString]) -> RedisStatus {
    let status = load(ctx, args);
    if status == RedisStatus::Err {
        unsubscribe_events(ctx.ctx);
    }
    status
}

/// Undo the server-event subscriptions the `redis_module!` macro made before calling `init`,
/// on every path where `init` fails. Redis 7.0 does not drop a failed module's subscriptions:
/// it frees the module and dlcloses the library, and the next cron tick calls into the unmapped
/// code (signal 11 one cron tick after a refused `MODULE LOAD`). Passing no callback
/// unsubscribes; on servers that clean up themselves this is harmless.
///
/// Only events subscribed by then: on Redis 7.0 "unsubscribing" from an event never subscribed
/// adds a listener with no callback, and the server called it (address 0, signal 11) when that
/// event fired. The shutdown event is subscribed last, once nothing can fail any more, so it
/// is not in the list: it was, and every refused load crashed the next SHUTDOWN.
fn unsubscribe_events(ctx: *mut raw::RedisModuleCtx) {
    for id in [
        raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
        raw::REDISMODULE_EVENT_CRON_LOOP,
        raw::REDISMODULE_EVENT_CONFIG,
    ] {
        let _ = raw::subscribe_to_server_event(ctx, raw::RedisModuleEvent { id, dataver: 1 }, None);
    }
}

/// The arguments, then the configs (a refused value fails the load before anything starts),
/// then the worker.
fn load(ctx: &Context, args: &[RedisString]) -> RedisStatus {
    let texts: Vec<String> = args.iter().map(|a| a.to_string_lossy()).collect();
    let pairs = match config::check_module_args(&texts) {
        Ok(pairs) => pairs,
        Err(why) => return refuse_load(ctx, &why),
    };
    if let Err(why) = configs::register(ctx, &pairs) {
        // Redis refuses the load after this; start nothing.
        return refuse_load(ctx, &format!("invalid configuration: {why}"));
    }
    for (name, arg) in pairs {
        if let Some(note) = configs::overridden(&name, &arg) {
            log::notice(ctx, &note);
        }
    }
    defrag::log_defrag_support(ctx.ctx);
    log::open_log_ctx(ctx);
    start(ctx)
}

fn refuse_load(ctx: &Context, why: &str) -> RedisStatus {
    log::warning(ctx, &format!("redis-vip not loaded: {why}"));
    RedisStatus::Err
}

/// Start the worker with the settings, identity, clients and role of now, and hook the
/// module into the server.
fn start(ctx: &Context) -> RedisStatus {
    let role = server::role(ctx);
    server::read_server_tls(ctx);
    server::read_server_replication(ctx);
    let settings = configs::settings();
    let first = server::first_controls(ctx, role);
    let summary = summary(&settings, role);
    let basic = basic_mode_warning(&settings);
    let spawned = worker::spawn(
        settings,
        first,
        Box::new(log::RedisLog),
        Box::new(events::queue_event),
        worker_link::status_slot(),
    );
    match spawned {
        Ok(handle) => worker_link::attach(handle),
        Err(e) => {
            log::warning(
                ctx,
                &format!("redis-vip: cannot start the worker thread: {e}"),
            );
            log::free_log_ctx();
            return RedisStatus::Err;
        }
    }
    hook_in(ctx);
    configs::set_loaded(true);
    log::notice(ctx, &summary);
    if let Some(path) = stale_mapping() {
        log::warning(ctx, &stale_mapping_warning(&path));
    }
    if let Some(w) = basic {
        log::warning(ctx, w);
    }
    RedisStatus::Ok
}

/// The shutdown event, the ACL categories and our own INFO callback: nothing fails after this
/// (see unsubscribe_events).
fn hook_in(ctx: &Context) {
    raw::subscribe_to_server_event(
        ctx.ctx,
        raw::RedisModuleEvent {
            id: raw::REDISMODULE_EVENT_SHUTDOWN,
            dataver: 1,
        },
        Some(on_shutdown),
    );
    acl_categories(ctx.ctx);
    // Over the callback the redis_module! macro registered (see info::info_callback).
    raw::register_info_function(ctx.ctx, Some(info::info_callback));
}

fn summary(settings: &Settings, role: Role) -> String {
    format!(
        "redis-vip {} ({}) loaded: address '{}' interface '{}' mode {} role {}",
        env!("CARGO_PKG_VERSION"),
        env!("VIP_BUILD_COMMIT"),
        settings.addresses_text(),
        settings.interface,
        settings.mode().as_str(),
        role.as_str()
    )
}

fn basic_mode_warning(settings: &Settings) -> Option<&'static str> {
    (settings.mode() == Mode::Basic && settings.configured()).then_some(
        "redis-vip runs in basic mode (vip.sentinels is empty): it follows the local role only and does not protect against split brain (an isolated or restarted stale master takes the VIP too); set vip.sentinels and vip.master-name",
    )
}

fn stale_mapping_warning(path: &str) -> String {
    format!(
        "this process runs an older build of the module than {path} now holds: MODULE UNLOAD keeps the code mapped and MODULE LOAD of the same path reuses it; restart redis-server, or load the new file under another path (docs/operations.md, rolling upgrade)"
    )
}

/// The path this code was loaded from, when the file there is no longer the one mapped (it
/// was replaced after a first load; a reload of the same path hands back the old mapping).
fn stale_mapping() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: dladdr only reads the loader's tables; info is a plain struct it fills in.
    let path = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(stale_mapping as *const c_void, &mut info) == 0 || info.dli_fname.is_null()
        {
            return None;
        }
        std::ffi::CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned()
    };
    let on_disk = std::fs::metadata(&path).ok()?.ino();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let mapped = maps
        .lines()
        .filter(|l| l.ends_with(path.as_str()) || l.contains(&format!("{path} (deleted)")))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok())
        .find(|ino| *ino != 0)?;
    (mapped != on_disk).then_some(path)
}

/// Put VIP.STATUS, VIP.SENTINELS, VIP.EVENTS and VIP.WITNESSES in the ACL categories read and
/// fast (a monitoring user with +@read may run them), VIP.WITNESS in fast, and all of them in
/// a module category vip, where the server can do that (Redis 7.2+, Valkey). A category
/// outlives MODULE UNLOAD on those servers, so after a reload adding it again fails: that is
/// fine, it is there. Redis 7.0 cannot give module commands any category: there, grant
/// +vip.status +vip.sentinels, and the replication user +vip.witness (README).
fn acl_categories(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: called from init (OnLoad) with the load context; the names are NUL-terminated
    // constants and the command pointers come from the server.
    unsafe {
        let (Some(add), Some(get), Some(set)) = (
            raw::RedisModule_AddACLCategory,
            raw::RedisModule_GetCommand,
            raw::RedisModule_SetCommandACLCategories,
        ) else {
            return;
        };
        let _ = add(ctx, c"vip".as_ptr());
        // VIP.WITNESS is not `read`: its confirmation is a promise the module keeps.
        for (name, with_vip, without) in [
            (c"vip.status", c"read fast vip", c"read fast"),
            (c"vip.sentinels", c"read fast vip", c"read fast"),
            (c"vip.events", c"read fast vip", c"read fast"),
            (c"vip.witnesses", c"read fast vip", c"read fast"),
            (c"vip.witness", c"fast vip", c"fast"),
        ] {
            let cmd = get(ctx, name.as_ptr());
            if cmd.is_null() {
                continue;
            }
            if set(cmd, with_vip.as_ptr()) != raw::REDISMODULE_OK as i32 {
                let _ = set(cmd, without.as_ptr());
            }
        }
    }
}

pub fn deinit(ctx: &Context) -> RedisStatus {
    worker_link::stop();
    configs::set_loaded(false);
    log::notice(ctx, "redis-vip unloaded");
    log::free_log_ctx();
    worker_link::reset_status();
    events::clear();
    witness::forget();
    configs::release();
    RedisStatus::Ok
}

unsafe extern "C" fn on_shutdown(
    _ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    _data: *mut c_void,
) {
    // The process is about to exit: release now (per vip.release-on-shutdown).
    worker_link::stop();
}
