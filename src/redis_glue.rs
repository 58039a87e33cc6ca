//! The Redis side: configs, the role event, the shutdown event, the hello filter,
//! `VIP.STATUS` and `INFO vip`. Everything here runs on the Redis main thread (the filter
//! too), so it only reads state or sends an event to the worker: no I/O, no waiting,
//! except joining the worker at shutdown and unload, which is what those are for.

use std::ffi::{c_int, c_void, CString};
use std::net::IpAddr;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use redis_module::configuration::{ConfigurationContext, ConfigurationValue};
use redis_module::server_events::ServerRole;
use redis_module::{
    raw, Context, ContextFlags, InfoContext, RedisError, RedisResult, RedisString, RedisValue,
    Status as RedisStatus,
};
use redis_module_macros::role_changed_event_handler;

use crate::config::{self, Settings};
use crate::core::{Event, Level, Role, Status};
use crate::worker::{self, Handle, Log};

/// A string config whose value is checked by a parser from `config.rs` before it is kept.
pub struct StrConfig {
    value: Mutex<String>,
    check: fn(&str) -> Result<(), String>,
}

impl StrConfig {
    const fn new(check: fn(&str) -> Result<(), String>) -> StrConfig {
        StrConfig {
            value: Mutex::new(String::new()),
            check,
        }
    }

    fn get_string(&self) -> String {
        lock(&self.value).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ConfigurationValue<RedisString> for StrConfig {
    fn get(&self, _ctx: &ConfigurationContext) -> RedisString {
        RedisString::create(None, self.get_string().as_str())
    }

    fn set(&self, _ctx: &ConfigurationContext, val: RedisString) -> Result<(), RedisError> {
        let text = match val.try_as_str() {
            Ok(t) => t.to_string(),
            Err(_) => return Err(refuse("the value is not valid UTF-8".into())),
        };
        (self.check)(&text).map_err(refuse)?;
        *lock(&self.value) = text;
        Ok(())
    }
}

/// A refused value. During load, remember it: Redis then unloads the module without
/// calling OnUnload, so `init` must not start anything.
fn refuse(msg: String) -> RedisError {
    if !LOADED.load(Ordering::SeqCst) {
        *lock(&LOAD_REFUSED) = Some(msg.clone());
    }
    RedisError::String(msg)
}

pub static ADDRESS: StrConfig = StrConfig::new(|s| config::parse_addresses(s).map(|_| ()));
pub static INTERFACE: StrConfig = StrConfig::new(|s| config::parse_interface(s).map(|_| ()));
pub static LABEL: StrConfig = StrConfig::new(|s| config::parse_label(s).map(|_| ()));
pub static MASTER_NAME: StrConfig =
    StrConfig::new(|s| config::parse_token("master name", s).map(|_| ()));
pub static SENTINEL_USER: StrConfig =
    StrConfig::new(|s| config::parse_token("sentinel user", s).map(|_| ()));

pub static ANNOUNCE_COUNT: AtomicI64 = AtomicI64::new(5);
pub static ANNOUNCE_INTERVAL_MS: AtomicI64 = AtomicI64::new(200);
pub static ANNOUNCE_REPEAT_DELAY_MS: AtomicI64 = AtomicI64::new(5000);
pub static ANNOUNCE_REFRESH_MS: AtomicI64 = AtomicI64::new(0);
pub static CHECK_INTERVAL_MS: AtomicI64 = AtomicI64::new(1000);
pub static ADDRESS_LIFETIME_S: AtomicI64 = AtomicI64::new(2);
pub static QUORUM: AtomicI64 = AtomicI64::new(0);
pub static LEASE_MS: AtomicI64 = AtomicI64::new(5000);
pub static RELEASE_ON_SHUTDOWN: AtomicBool = AtomicBool::new(true);
pub static ENABLED: AtomicBool = AtomicBool::new(true);

/// Set once `init` finished; reset by `deinit` (statics outlive MODULE UNLOAD).
static LOADED: AtomicBool = AtomicBool::new(false);
/// The first value refused while loading (Redis 7.0 does not log it itself).
static LOAD_REFUSED: Mutex<Option<String>> = Mutex::new(None);
static WORKER: Mutex<Option<Handle>> = Mutex::new(None);
static STATUS: LazyLock<Arc<Mutex<Status>>> = LazyLock::new(Arc::default);
/// Our own detached context for logging from the worker (created in init, freed in deinit).
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(ptr::null_mut());
static FILTER: AtomicPtr<raw::RedisModuleCommandFilter> = AtomicPtr::new(ptr::null_mut());

fn num<T: TryFrom<i64> + Default>(v: &AtomicI64) -> T {
    T::try_from(v.load(Ordering::Relaxed)).unwrap_or_default()
}

/// Every config, validated already, as one value for the worker.
pub fn settings() -> Settings {
    Settings {
        addresses: config::parse_addresses(&ADDRESS.get_string()).unwrap_or_default(),
        interface: config::parse_interface(&INTERFACE.get_string()).unwrap_or_default(),
        label: config::parse_label(&LABEL.get_string()).unwrap_or_default(),
        announce_count: num(&ANNOUNCE_COUNT),
        announce_interval_ms: num(&ANNOUNCE_INTERVAL_MS),
        announce_repeat_delay_ms: num(&ANNOUNCE_REPEAT_DELAY_MS),
        announce_refresh_ms: num(&ANNOUNCE_REFRESH_MS),
        check_interval_ms: num(&CHECK_INTERVAL_MS),
        address_lifetime_s: num(&ADDRESS_LIFETIME_S),
        release_on_shutdown: RELEASE_ON_SHUTDOWN.load(Ordering::Relaxed),
        enabled: ENABLED.load(Ordering::Relaxed),
        quorum: num(&QUORUM),
        lease_ms: num(&LEASE_MS),
        master_name: config::parse_token("master name", &MASTER_NAME.get_string())
            .unwrap_or_default(),
        sentinel_user: config::parse_token("sentinel user", &SENTINEL_USER.get_string())
            .unwrap_or_default(),
    }
}

/// Any config changed (CONFIG SET, or at load before `init`, when nothing runs yet).
pub fn on_config_changed<G, T: ConfigurationValue<G>>(
    _ctx: &ConfigurationContext,
    _name: &str,
    _val: &'static T,
) {
    send(Event::Settings(settings()));
    update_filter(LOG_CTX.load(Ordering::SeqCst));
}

fn send(event: Event) {
    if let Some(w) = lock(&WORKER).as_ref() {
        w.send(event);
    }
}

/// Log through RedisModule_Log with a constant "%s" format: the message is never a
/// format string (a '%' in it cannot crash the server).
fn log_raw(ctx: *mut raw::RedisModuleCtx, level: Level, message: &str) {
    let level = match level {
        Level::Notice => c"notice",
        Level::Warning => c"warning",
    };
    let text = CString::new(message.replace('\0', "")).unwrap_or_default();
    // SAFETY: RedisModule_Log is filled in by RedisModule_Init before any of our code runs;
    // a detached thread-safe context may be used from any thread for logging.
    unsafe {
        if let Some(log) = raw::RedisModule_Log {
            log(ctx, level.as_ptr(), c"%s".as_ptr(), text.as_ptr());
        }
    }
}

struct RedisLog;

impl Log for RedisLog {
    fn log(&self, level: Level, message: &str) {
        let ctx = LOG_CTX.load(Ordering::SeqCst);
        if !ctx.is_null() {
            log_raw(ctx, level, message);
        }
    }
}

fn role_event(role: Role, loaded: bool) -> Event {
    Event::Role {
        role,
        at: worker::mono(),
        loaded,
    }
}

fn config_get(ctx: &Context, name: &str) -> Option<String> {
    match ctx.call("CONFIG", &["GET", name]) {
        Ok(RedisValue::Array(items)) => match items.get(1) {
            Some(RedisValue::SimpleString(s)) => Some(s.clone()),
            Some(RedisValue::BulkString(s)) => Some(s.clone()),
            Some(RedisValue::BulkRedisString(s)) => Some(s.to_string_lossy()),
            Some(RedisValue::StringBuffer(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// How Sentinels see this node: replica-announce-ip/-port if set, else our port.
fn identity(ctx: &Context) -> Event {
    let announce_ip = config_get(ctx, "replica-announce-ip").and_then(|s| s.parse::<IpAddr>().ok());
    let port = config_get(ctx, "replica-announce-port")
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .or_else(|| config_get(ctx, "port").and_then(|s| s.parse::<u16>().ok()))
        .unwrap_or(6379);
    Event::Identity { announce_ip, port }
}

#[role_changed_event_handler]
fn on_role_changed(ctx: &Context, role: ServerRole) {
    let role = match role {
        ServerRole::Primary => Role::Master,
        ServerRole::Replica => Role::Replica,
    };
    send(role_event(role, false));
    send(identity(ctx));
}

unsafe extern "C" fn on_shutdown(
    _ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    _data: *mut c_void,
) {
    // The process is about to exit: release now (per vip.release-on-shutdown).
    stop_worker();
}

const PUBLISH: &[u8] = b"publish";
const HELLO_CHANNEL: &[u8] = b"__sentinel__:hello";

/// # Safety
/// `s` must be a valid RedisModuleString for the duration of the returned borrow.
unsafe fn bytes<'a>(s: *mut raw::RedisModuleString) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    let mut len = 0usize;
    match raw::RedisModule_StringPtrLen {
        Some(f) => {
            let p = f(s, &mut len);
            if p.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), len)
            }
        }
        None => &[],
    }
}

/// Runs for EVERY command the server executes: compare the name first and return; only
/// `PUBLISH __sentinel__:hello <payload>` is copied and handed to the worker.
unsafe extern "C" fn hello_filter(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    let (Some(count), Some(arg)) = (
        raw::RedisModule_CommandFilterArgsCount,
        raw::RedisModule_CommandFilterArgGet,
    ) else {
        return;
    };
    if count(fctx) != 3 {
        return;
    }
    if !bytes(arg(fctx, 0)).eq_ignore_ascii_case(PUBLISH) || bytes(arg(fctx, 1)) != HELLO_CHANNEL {
        return;
    }
    let payload = bytes(arg(fctx, 2)).to_vec();
    // The user the client authenticated as (Redis 7.2+, Valkey). The replication link (the
    // master client) and AOF loading have no user: that is the replicated copy of a hello,
    // not a Sentinel speaking to us, so it is dropped without being counted. Redis 7.0 cannot
    // name the client in a filter; its hellos go on without a user (the core decides).
    let user = match (
        raw::RedisModule_CommandFilterGetClientId,
        raw::RedisModule_GetClientUserNameById,
    ) {
        (Some(client_id), Some(user_of)) => {
            // A real context is required (Valkey dereferences it for auto-memory; a NULL
            // one crashed valkey-server 8.1): our detached one, which has no auto-memory,
            // so the string is ours to free.
            let ctx = LOG_CTX.load(Ordering::SeqCst);
            if ctx.is_null() {
                return;
            }
            let s = user_of(ctx, client_id(fctx));
            if s.is_null() {
                return;
            }
            let name = String::from_utf8_lossy(bytes(s)).into_owned();
            if let Some(free) = raw::RedisModule_FreeString {
                free(ctx, s);
            }
            Some(name)
        }
        _ => None,
    };
    send(Event::HelloRaw { payload, user });
}

fn stop_worker() {
    let handle = lock(&WORKER).take();
    if let Some(h) = handle {
        h.stop();
    }
}

pub fn init(ctx: &Context, _args: &[RedisString]) -> RedisStatus {
    if let Some(why) = lock(&LOAD_REFUSED).take() {
        // Redis refuses the load after this (the configs were not set); start nothing.
        log_raw(
            ctx.ctx,
            Level::Warning,
            &format!("redis-vip not loaded: invalid configuration: {why}"),
        );
        return RedisStatus::Err;
    }
    // SAFETY: ctx is the valid load context; the detached context lives until deinit.
    unsafe {
        if let Some(detached) = raw::RedisModule_GetDetachedThreadSafeContext {
            LOG_CTX.store(detached(ctx.ctx), Ordering::SeqCst);
        }
    }
    let role = if ctx.get_flags().contains(ContextFlags::MASTER) {
        Role::Master
    } else {
        Role::Replica
    };
    let settings = settings();
    let first = vec![identity(ctx), role_event(role, true)];
    let summary = format!(
        "redis-vip loaded: address '{}' interface '{}' mode {} role {}",
        settings.addresses_text(),
        settings.interface,
        if settings.safe_mode() {
            "safe"
        } else {
            "basic"
        },
        role.as_str()
    );
    let handle = match worker::spawn(settings, first, Box::new(RedisLog), STATUS.clone()) {
        Ok(h) => h,
        Err(e) => {
            log_raw(
                ctx.ctx,
                Level::Warning,
                &format!("redis-vip: cannot start the worker thread: {e}"),
            );
            free_log_ctx();
            return RedisStatus::Err;
        }
    };
    *lock(&WORKER) = Some(handle);
    raw::subscribe_to_server_event(
        ctx.ctx,
        raw::RedisModuleEvent {
            id: raw::REDISMODULE_EVENT_SHUTDOWN,
            dataver: 1,
        },
        Some(on_shutdown),
    );
    LOADED.store(true, Ordering::SeqCst);
    update_filter(ctx.ctx);
    log_raw(ctx.ctx, Level::Notice, &summary);
    RedisStatus::Ok
}

fn free_log_ctx() {
    let ctx = LOG_CTX.swap(ptr::null_mut(), Ordering::SeqCst);
    if !ctx.is_null() {
        // SAFETY: created by GetDetachedThreadSafeContext in init; the worker is gone.
        unsafe {
            if let Some(free) = raw::RedisModule_FreeThreadSafeContext {
                free(ctx);
            }
        }
    }
}

/// The hello filter exists only in safe mode: every command the server runs passes through
/// a registered filter (Redis' dispatch to it alone costs ~50 instructions a command), and
/// basic mode has no use for hellos. Called at load and after every config change; `ctx`
/// must belong to this module (the load context or our detached one).
fn update_filter(ctx: *mut raw::RedisModuleCtx) {
    let want = LOADED.load(Ordering::SeqCst) && QUORUM.load(Ordering::Relaxed) > 0;
    let have = !FILTER.load(Ordering::SeqCst).is_null();
    if ctx.is_null() || want == have {
        return;
    }
    // SAFETY: main thread (load, CONFIG SET, unload); a filter list is not being walked
    // while a command's own code runs; the filter pointer is the one we registered.
    unsafe {
        if want {
            if let Some(register) = raw::RedisModule_RegisterCommandFilter {
                let f = register(
                    ctx,
                    Some(hello_filter),
                    raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
                );
                FILTER.store(f, Ordering::SeqCst);
            }
        } else {
            let f = FILTER.swap(ptr::null_mut(), Ordering::SeqCst);
            if let Some(unregister) = raw::RedisModule_UnregisterCommandFilter {
                unregister(ctx, f);
            }
        }
    }
}

pub fn deinit(ctx: &Context) -> RedisStatus {
    stop_worker();
    LOADED.store(false, Ordering::SeqCst);
    update_filter(ctx.ctx);
    log_raw(ctx.ctx, Level::Notice, "redis-vip unloaded");
    free_log_ctx();
    *lock(&STATUS) = Status::default();
    RedisStatus::Ok
}

fn status() -> Status {
    lock(&STATUS).clone()
}

/// One list of (field, value) feeds both VIP.STATUS and INFO vip.
enum Value {
    Text(String),
    Int(i64),
}

fn fields(s: &Status) -> Vec<(&'static str, Value)> {
    use Value::{Int, Text};
    let int = |v: u64| Int(i64::try_from(v).unwrap_or(i64::MAX));
    let c = &s.counters;
    vec![
        ("state", Text(s.state.into())),
        ("mode", Text(s.mode.into())),
        ("role", Text(s.role.into())),
        ("addresses", Text(s.addresses.clone())),
        ("interface", Text(s.interface.clone())),
        ("holding", Int(i64::from(s.holding))),
        ("reason", Text(s.reason.clone())),
        ("last_transition_ms", int(s.last_transition_ms)),
        ("last_claim_latency_us", int(s.last_claim_latency_us)),
        ("announcements_sent", int(c.announcements_sent)),
        ("claims", int(c.claims)),
        ("releases", int(c.releases)),
        ("errors", int(c.errors)),
        ("last_error", Text(s.last_error.clone())),
        ("sentinels_seen", int(s.sentinels_seen)),
        ("sentinels_confirming", int(s.sentinels_confirming)),
        ("lease_remaining_ms", int(s.lease_remaining_ms)),
        ("fences", int(c.fences)),
        ("last_fence_reason", Text(s.last_fence_reason.clone())),
        ("conflicts", int(c.conflicts)),
        ("last_conflict_mac", Text(s.last_conflict_mac.clone())),
        ("hellos_rejected", int(c.hellos_rejected)),
    ]
}

pub fn vip_status(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    let mut out = Vec::new();
    for (name, value) in fields(&status()) {
        out.push(RedisValue::SimpleStringStatic(name));
        out.push(match value {
            Value::Text(t) => RedisValue::BulkString(t),
            Value::Int(i) => RedisValue::Integer(i),
        });
    }
    Ok(RedisValue::Array(out))
}

/// `VIP.SENTINELS`: one entry per Sentinel heard (safe mode), as field/value arrays.
pub fn vip_sentinels(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    let rows = status().sentinels;
    let int = |v: u64| RedisValue::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    let text = |s: &str| RedisValue::BulkString(s.to_string());
    let out = rows
        .iter()
        .map(|r| {
            RedisValue::Array(vec![
                text("runid"),
                text(&r.runid),
                text("addr"),
                text(&r.addr),
                text("last_hello_ms_ago"),
                int(r.last_hello_ms_ago),
                text("current_epoch"),
                int(r.current_epoch),
                text("master_name"),
                text(&r.master_name),
                text("master"),
                text(&r.master),
                text("config_epoch"),
                int(r.config_epoch),
                text("names_this_node"),
                int(u64::from(r.names_this_node)),
            ])
        })
        .collect();
    Ok(RedisValue::Array(out))
}

/// INFO text cannot carry line breaks or NULs.
fn info_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn vip_info(ctx: &InfoContext, _for_crash_report: bool) {
    raw::add_info_section(ctx.ctx, None);
    for (name, value) in fields(&status()) {
        match value {
            Value::Text(t) => {
                raw::add_info_field_str(ctx.ctx, name, &info_safe(&t));
            }
            Value::Int(i) => {
                raw::add_info_field_long_long(ctx.ctx, name, i);
            }
        }
    }
}
