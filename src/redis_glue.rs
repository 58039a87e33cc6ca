//! The Redis side: configs, the role event, the shutdown event, `VIP.STATUS`,
//! `VIP.SENTINELS` and `INFO vip`. Everything here runs on the Redis main thread, so it only
//! reads state or hands an event to the worker: no I/O, no waiting, except joining the
//! worker at shutdown and unload, which is what those are for.

use std::collections::VecDeque;
use std::ffi::{c_int, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use redis_module::configuration::{ConfigurationContext, ConfigurationValue};
use redis_module::server_events::ServerRole;
use redis_module::{
    raw, Context, ContextFlags, InfoContext, RedisError, RedisResult, RedisString, RedisValue,
    Status as RedisStatus,
};
use redis_module_macros::{
    config_changed_event_handler, cron_event_handler, role_changed_event_handler,
};

use crate::config::{self, Mode, Settings};
use crate::core::{Level, Role, Status};
use crate::sentinel::tls;
use crate::worker::{self, Control, Handle, Log};

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
pub static SENTINELS: StrConfig = StrConfig::new(|s| config::parse_sentinels(s).map(|_| ()));
pub static SENTINEL_AUTH_USER: StrConfig =
    StrConfig::new(|s| config::parse_token("Sentinel user name", s).map(|_| ()));
pub static SENTINEL_AUTH_PASS: StrConfig = StrConfig::new(|s| config::parse_secret(s).map(|_| ()));

// --- TLS to the Sentinels (sentinel/tls.rs): the configs, and the server's own tls-* ---
pub static SENTINEL_TLS: AtomicBool = AtomicBool::new(false);
pub static SENTINEL_TLS_CA_CERT_FILE: StrConfig =
    StrConfig::new(|s| tls::parse_path("CA file", s).map(|_| ()));
pub static SENTINEL_TLS_CA_CERT_DIR: StrConfig =
    StrConfig::new(|s| tls::parse_path("CA directory", s).map(|_| ()));
pub static SENTINEL_TLS_CERT_FILE: StrConfig =
    StrConfig::new(|s| tls::parse_path("certificate", s).map(|_| ()));
pub static SENTINEL_TLS_KEY_FILE: StrConfig =
    StrConfig::new(|s| tls::parse_path("key", s).map(|_| ()));
pub static SENTINEL_TLS_KEY_FILE_PASS: StrConfig =
    StrConfig::new(|s| config::parse_secret(s).map(|_| ()));
/// The server's own TLS files, the defaults of the configs above.
static SERVER_TLS: Mutex<Option<tls::ServerTls>> = Mutex::new(None);

/// Read the server's own tls-* configs (main thread: CONFIG GET only reads memory). At load,
/// and on every `CONFIG SET tls-*`.
fn read_server_tls(ctx: &Context) {
    let server = tls::ServerTls::from_configs(|name| config_value(ctx, name));
    *lock(&SERVER_TLS) = Some(server);
}

/// The TLS plan in force: `vip.sentinel-tls-*`, else the server's.
fn sentinel_tls() -> Option<tls::TlsPlan> {
    let path = |c: &StrConfig| tls::parse_path("", &c.get_string()).unwrap_or_default();
    let module = tls::ModuleTls {
        enabled: SENTINEL_TLS.load(Ordering::Relaxed),
        ca_file: path(&SENTINEL_TLS_CA_CERT_FILE),
        ca_dir: path(&SENTINEL_TLS_CA_CERT_DIR),
        cert_file: path(&SENTINEL_TLS_CERT_FILE),
        key_file: path(&SENTINEL_TLS_KEY_FILE),
        key_pass: config::parse_secret(&SENTINEL_TLS_KEY_FILE_PASS.get_string())
            .unwrap_or_default(),
    };
    let server = lock(&SERVER_TLS).clone().unwrap_or_default();
    tls::resolve(&module, &server)
}
// --- end TLS ---

pub static ANNOUNCE_COUNT: AtomicI64 = AtomicI64::new(5);
pub static ANNOUNCE_INTERVAL_MS: AtomicI64 = AtomicI64::new(200);
pub static ANNOUNCE_REPEAT_DELAY_MS: AtomicI64 = AtomicI64::new(5000);
pub static ANNOUNCE_REFRESH_MS: AtomicI64 = AtomicI64::new(0);
pub static CHECK_INTERVAL_MS: AtomicI64 = AtomicI64::new(1000);
pub static ADDRESS_LIFETIME_S: AtomicI64 = AtomicI64::new(1);
pub static QUORUM: AtomicI64 = AtomicI64::new(0);
pub static LEASE_MS: AtomicI64 = AtomicI64::new(0);
pub static POLL_INTERVAL_MS: AtomicI64 = AtomicI64::new(100);
pub static RELEASE_ON_SHUTDOWN: AtomicBool = AtomicBool::new(true);
pub static ENABLED: AtomicBool = AtomicBool::new(true);
pub static ANNOUNCE: AtomicBool = AtomicBool::new(true);

/// Set once `init` finished; reset by `deinit` (statics outlive MODULE UNLOAD).
static LOADED: AtomicBool = AtomicBool::new(false);
/// The first value refused while loading (Redis 7.0 does not log it itself).
static LOAD_REFUSED: Mutex<Option<String>> = Mutex::new(None);
static WORKER: Mutex<Option<Handle>> = Mutex::new(None);
static STATUS: LazyLock<Arc<Mutex<Status>>> = LazyLock::new(Arc::default);
/// Our own detached context for logging from the worker (created in init, freed in deinit).
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(ptr::null_mut());

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
        announce: ANNOUNCE.load(Ordering::Relaxed),
        sentinels: config::parse_sentinels(&SENTINELS.get_string()).unwrap_or_default(),
        master_name: config::parse_token("master name", &MASTER_NAME.get_string())
            .unwrap_or_default(),
        auth_user: config::parse_token("Sentinel user name", &SENTINEL_AUTH_USER.get_string())
            .unwrap_or_default(),
        auth_pass: config::parse_secret(&SENTINEL_AUTH_PASS.get_string()).unwrap_or_default(),
        quorum: num(&QUORUM),
        lease_ms: num(&LEASE_MS),
        poll_interval_ms: num(&POLL_INTERVAL_MS),
        sentinel_tls: sentinel_tls().map(Box::new),
    }
}

/// Any config changed (CONFIG SET, or at load before `init`, when nothing runs yet).
pub fn on_config_changed<G, T: ConfigurationValue<G>>(
    _ctx: &ConfigurationContext,
    _name: &str,
    _val: &'static T,
) {
    send(Control::Settings(settings()));
}

fn send(control: Control) {
    if let Some(w) = lock(&WORKER).as_ref() {
        w.send(control);
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

/// The channel every transition is published on (format: `core::Notice`).
const EVENTS_CHANNEL: &str = "__vip__:events";
/// The last lines published, for `VIP.EVENTS`: a subscriber that was disconnected (Sentinel's
/// promotion runs CLIENT KILL TYPE normal and TYPE pubsub on the promoted replica, just when
/// its claim is published) reads what it missed.
const HISTORY_LEN: usize = 64;
static HISTORY: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Lines waiting for the main thread, which alone may publish (Redis 8 asserts it: a
/// subscriber's memory accounting runs on the main thread). Bounded: when the server is too busy
/// to drain it for long, the oldest are dropped and counted.
const PENDING_LEN: usize = 256;
static PENDING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// From the worker: queue a line for `__vip__:events`. Never blocks on the main thread.
fn queue_event(line: String) {
    let mut pending = lock(&PENDING);
    if pending.len() >= PENDING_LEN {
        pending.pop_front();
        EVENTS_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    pending.push_back(line);
}

/// Set at load: the first cron tick reads `bind` and the default user again.
static RECHECK_CLIENTS: AtomicBool = AtomicBool::new(false);

/// Every server cron (hz, 10 a second by default), on the main thread: publish what the worker
/// queued. A cron callback is torn down with the module, unlike a one-shot or a timer, which
/// would either outlive MODULE UNLOAD or block it. Lines reach this node's subscribers only (a
/// module's PUBLISH is not replicated): every node speaks for itself.
#[cron_event_handler]
fn on_cron(ctx: &Context, _hz: u64) {
    // Users from an aclfile are loaded after the modules: look at the default user again once
    // the server runs.
    if RECHECK_CLIENTS.swap(false, Ordering::Relaxed) {
        send(listening(ctx));
    }
    let lines: Vec<String> = {
        let mut pending = lock(&PENDING);
        if pending.is_empty() {
            return;
        }
        pending.drain(..).collect()
    };
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
        for line in &lines {
            let message = create(ctx.ctx, line.as_ptr().cast(), line.len());
            publish(ctx.ctx, channel, message);
            free(ctx.ctx, message);
        }
        free(ctx.ctx, channel);
    }
    let mut history = lock(&HISTORY);
    for line in lines {
        if history.len() >= HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(line);
    }
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
    let history = lock(&HISTORY);
    let skip = history.len().saturating_sub(count);
    Ok(RedisValue::Array(
        history
            .iter()
            .skip(skip)
            .map(|l| RedisValue::BulkString(l.clone()))
            .collect(),
    ))
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

fn role_event(role: Role, loaded: bool) -> Control {
    Control::Role {
        role,
        at: worker::mono(),
        loaded,
    }
}

/// This process as the Sentinels may name it: its run id (so that an earlier process at the
/// same address, a stale restart, is never taken for this one), its port and its age (so
/// that a Sentinel that has not sent INFO since we started is not read as naming another).
fn identity(ctx: &Context) -> Control {
    let info = ctx.server_info("server");
    let field = |name: &str| {
        info.field(name)
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
    };
    Control::Identity(crate::sentinel::Me {
        runid: field("run_id"),
        port: listed_port(ctx, field("tcp_port").parse().unwrap_or(0)),
        age: crate::worker::system::process_age().map(|age| (worker::mono(), age)),
    })
}

/// The port Sentinel lists this node by: a replica tells its master its `tls-port` when
/// `tls-replication yes` (a TLS-only node has `port 0`), else its `port`.
fn listed_port(ctx: &Context, tcp_port: u16) -> u16 {
    let tls_port = config_value(ctx, "tls-port").parse().unwrap_or(0);
    if tls_port != 0 && (tcp_port == 0 || config_value(ctx, "tls-replication") == "yes") {
        tls_port
    } else {
        tcp_port
    }
}

/// One config value as `CONFIG GET` answers it (empty when it cannot be read).
fn config_value(ctx: &Context, name: &str) -> String {
    match ctx.call("CONFIG", &["GET", name]) {
        Ok(RedisValue::Array(v)) => match v.get(1) {
            Some(RedisValue::SimpleString(s)) => s.clone(),
            Some(RedisValue::BulkString(s)) => s.clone(),
            Some(RedisValue::StringBuffer(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(RedisValue::BulkRedisString(s)) => s.to_string_lossy(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// Does the default user need a password? `ACL GETUSER default` lists `nopass` among its
/// flags when it does not; where that cannot be read, `requirepass` decides.
fn default_user_has_password(ctx: &Context) -> bool {
    let flag_is_nopass = |v: &RedisValue| match v {
        RedisValue::SimpleString(s) | RedisValue::BulkString(s) => s == "nopass",
        RedisValue::StringBuffer(b) => b.as_slice() == b"nopass",
        RedisValue::BulkRedisString(s) => s.to_string_lossy() == "nopass",
        _ => false,
    };
    let flags = match ctx.call("ACL", &["GETUSER", "default"]) {
        Ok(RedisValue::Array(pairs)) => pairs
            .chunks(2)
            .find(|p| matches!(&p[0], RedisValue::SimpleString(k) | RedisValue::BulkString(k) if k == "flags"))
            .and_then(|p| p.get(1).cloned()),
        _ => None,
    };
    match flags {
        Some(RedisValue::Array(f)) => !f.iter().any(flag_is_nopass),
        _ => !config_value(ctx, "requirepass").is_empty(),
    }
}

/// What the server listens on and whom it lets in: read with `CONFIG GET` (a read of the
/// server's state on the main thread), judged by the worker.
fn listening(ctx: &Context) -> Control {
    Control::Clients(crate::reach::Listening {
        bind: config_value(ctx, "bind"),
        protected_mode: config_value(ctx, "protected-mode") == "yes",
        default_user_has_password: default_user_has_password(ctx),
    })
}

/// `CONFIG SET bind / protected-mode / requirepass`: tell the worker what clients can reach now.
#[config_changed_event_handler]
fn on_server_config_changed(ctx: &Context, names: &[&str]) {
    if names
        .iter()
        .any(|n| matches!(*n, "bind" | "protected-mode" | "requirepass"))
    {
        send(listening(ctx));
    }
    // TLS to the Sentinels: the server's own files are the defaults.
    if names.iter().any(|n| tls::SERVER_TLS_CONFIGS.contains(n)) {
        read_server_tls(ctx);
        send(Control::Settings(settings()));
    }
}

#[role_changed_event_handler]
fn on_role_changed(ctx: &Context, role: ServerRole) {
    let role = match role {
        ServerRole::Primary => Role::Master,
        ServerRole::Replica => Role::Replica,
    };
    let _ = ctx;
    send(role_event(role, false));
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

fn stop_worker() {
    let handle = lock(&WORKER).take();
    if let Some(h) = handle {
        h.stop();
    }
}

/// The value in force of a config, as text, by its loadmodule name.
fn current_value(name: &str) -> Option<String> {
    let text = |c: &StrConfig| Some(c.get_string());
    let number = |v: &AtomicI64| Some(v.load(Ordering::Relaxed).to_string());
    let boolean = |v: &AtomicBool| {
        Some(
            if v.load(Ordering::Relaxed) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        )
    };
    match name {
        "address" => text(&ADDRESS),
        "interface" => text(&INTERFACE),
        "label" => text(&LABEL),
        "sentinels" => text(&SENTINELS),
        "master-name" => text(&MASTER_NAME),
        "sentinel-auth-user" => text(&SENTINEL_AUTH_USER),
        "sentinel-auth-pass" => text(&SENTINEL_AUTH_PASS),
        "quorum" => number(&QUORUM),
        "lease-ms" => number(&LEASE_MS),
        "poll-interval-ms" => number(&POLL_INTERVAL_MS),
        "announce-count" => number(&ANNOUNCE_COUNT),
        "announce-interval-ms" => number(&ANNOUNCE_INTERVAL_MS),
        "announce-repeat-delay-ms" => number(&ANNOUNCE_REPEAT_DELAY_MS),
        "announce-refresh-ms" => number(&ANNOUNCE_REFRESH_MS),
        "check-interval-ms" => number(&CHECK_INTERVAL_MS),
        "address-lifetime-s" => number(&ADDRESS_LIFETIME_S),
        "release-on-shutdown" => boolean(&RELEASE_ON_SHUTDOWN),
        "enabled" => boolean(&ENABLED),
        "announce" => boolean(&ANNOUNCE),
        // --- TLS ---
        "sentinel-tls" => boolean(&SENTINEL_TLS),
        "sentinel-tls-ca-cert-file" => text(&SENTINEL_TLS_CA_CERT_FILE),
        "sentinel-tls-ca-cert-dir" => text(&SENTINEL_TLS_CA_CERT_DIR),
        "sentinel-tls-cert-file" => text(&SENTINEL_TLS_CERT_FILE),
        "sentinel-tls-key-file" => text(&SENTINEL_TLS_KEY_FILE),
        "sentinel-tls-key-file-pass" => text(&SENTINEL_TLS_KEY_FILE_PASS),
        _ => None,
    }
}

/// A `vip.<name>` line of the configuration file wins over the loadmodule argument (Redis
/// applies the file after the arguments): say so when they differ.
fn overridden(name: &str, arg: &str) -> Option<String> {
    let current = current_value(name)?;
    let same = match config::parse_bool(arg) {
        Some(b) => current == if b { "yes" } else { "no" },
        None => current.trim() == arg.trim(),
    };
    if same {
        return None;
    }
    Some(
        if name == "sentinel-auth-pass" || name == "sentinel-tls-key-file-pass" {
            format!("vip.{name} from the configuration file overrides the loadmodule argument")
        } else {
            format!(
            "vip.{name} '{current}' from the configuration file overrides the loadmodule argument '{arg}'"
        )
        },
    )
}

/// No warning at load on servers without defrag callbacks (issue 21). The `redis_module!`
/// macro's `RedisModule_OnLoad` calls the crate's `register_defrag_functions`, which logs at
/// warning level "Skip register defrag callbacks as defrag callbacks is not supported on the
/// current Redis server" whenever `RedisModule_RegisterDefragCallbacks` is missing (Redis 7.0,
/// Valkey): it looks at the API before it looks whether there is anything to register, and this
/// module registers no defrag callback at all (redis-module 2.0.8, src/context/defrag.rs). The
/// macro has no option for it, and it runs before `init`.
///
/// `RedisModule_Init` fills in only the APIs the server has: Redis' `moduleGetApi` leaves the
/// pointer untouched for a name it does not know. So a stand-in put there when the library is
/// mapped, before `RedisModule_OnLoad` runs, stays on those servers (and silences the check),
/// and is replaced by the real function on the others. The crate calls it only for a
/// non-empty list of defrag callbacks, and the module declares none; were one ever declared,
/// the stand-in refuses and the load fails, rather than pretending to register it.
type DefragCallbacks = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    raw::RedisModuleDefragFunc,
    raw::RedisModuleDefragFunc,
) -> c_int;

extern "C" fn no_defrag_callbacks(
    _ctx: *mut raw::RedisModuleCtx,
    _start: raw::RedisModuleDefragFunc,
    _end: raw::RedisModuleDefragFunc,
) -> c_int {
    raw::Status::Err as c_int
}

extern "C" fn before_onload() {
    // SAFETY: runs once, from the dynamic loader, before any module code or thread; a plain
    // store into the API pointer that RedisModule_Init fills in later.
    unsafe {
        let current = raw::RedisModule_RegisterDefragCallbacks;
        if current.is_none() {
            raw::RedisModule_RegisterDefragCallbacks = Some(no_defrag_callbacks);
        }
    }
}

/// Whether the server has module defrag callbacks, told at verbose level (not shown at the
/// default `loglevel notice`): where the stand-in is still in place, the server lacks them.
/// tests/integration/test_compat.py reads it for docs/compatibility.md (the crate's warning
/// used to tell).
fn log_defrag_support(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: a plain read of the API pointer, filled in by RedisModule_Init before init runs.
    let current = unsafe { raw::RedisModule_RegisterDefragCallbacks };
    let stand_in: DefragCallbacks = no_defrag_callbacks;
    let stand_in = stand_in as usize;
    let text = if current.is_some_and(|f| f as usize != stand_in) {
        c"the server has module defrag callbacks (this module registers none)"
    } else {
        c"the server lacks module defrag callbacks (RedisModule_RegisterDefragCallbacks); this module registers none"
    };
    // SAFETY: as in log_raw; constant text, constant format.
    unsafe {
        if let Some(log) = raw::RedisModule_Log {
            log(ctx, c"verbose".as_ptr(), c"%s".as_ptr(), text.as_ptr());
        }
    }
}

/// Run `before_onload` when the library is mapped (an ELF constructor), that is before
/// Redis calls `RedisModule_OnLoad`. A reload of the same path reuses the mapping, where the
/// pointer set then is still in place.
#[used]
#[link_section = ".init_array"]
static BEFORE_ONLOAD: extern "C" fn() = before_onload;

/// Undo the server-event subscriptions the `redis_module!` macro made before calling `init`,
/// on every path where `init` fails. Redis 7.0 does not drop a failed module's subscriptions:
/// it frees the module and dlcloses the library, and the next cron tick calls into the unmapped
/// code (signal 11 one cron tick after a refused `MODULE LOAD`). Passing no callback
/// unsubscribes; on servers that clean up themselves this is harmless.
fn unsubscribe_events(ctx: *mut raw::RedisModuleCtx) {
    for id in [
        raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
        raw::REDISMODULE_EVENT_CRON_LOOP,
        raw::REDISMODULE_EVENT_CONFIG,
        raw::REDISMODULE_EVENT_SHUTDOWN,
    ] {
        let _ = raw::subscribe_to_server_event(ctx, raw::RedisModuleEvent { id, dataver: 1 }, None);
    }
}

pub fn init(ctx: &Context, args: &[RedisString]) -> RedisStatus {
    let status = init_or_refuse(ctx, args);
    if status == RedisStatus::Err {
        unsubscribe_events(ctx.ctx);
    }
    status
}

fn init_or_refuse(ctx: &Context, args: &[RedisString]) -> RedisStatus {
    if let Some(why) = lock(&LOAD_REFUSED).take() {
        // Redis refuses the load after this (the configs were not set); start nothing.
        log_raw(
            ctx.ctx,
            Level::Warning,
            &format!("redis-vip not loaded: invalid configuration: {why}"),
        );
        return RedisStatus::Err;
    }
    let texts: Vec<String> = args.iter().map(|a| a.to_string_lossy()).collect();
    match config::check_module_args(&texts) {
        Err(why) => {
            log_raw(
                ctx.ctx,
                Level::Warning,
                &format!("redis-vip not loaded: {why}"),
            );
            return RedisStatus::Err;
        }
        Ok(pairs) => {
            for (name, arg) in pairs {
                if let Some(note) = overridden(&name, &arg) {
                    log_raw(ctx.ctx, Level::Notice, &note);
                }
            }
        }
    }
    log_defrag_support(ctx.ctx);
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
    read_server_tls(ctx);
    let settings = settings();
    let first = vec![identity(ctx), listening(ctx), role_event(role, true)];
    RECHECK_CLIENTS.store(true, Ordering::Relaxed);
    let summary = format!(
        "redis-vip {} ({}) loaded: address '{}' interface '{}' mode {} role {}",
        env!("CARGO_PKG_VERSION"),
        env!("VIP_BUILD_COMMIT"),
        settings.addresses_text(),
        settings.interface,
        settings.mode().as_str(),
        role.as_str()
    );
    let basic_warning = (settings.mode() == Mode::Basic && settings.configured()).then_some(
        "redis-vip runs in basic mode (vip.sentinels is empty): it follows the local role only and does not protect against split brain (an isolated or restarted stale master takes the VIP too); set vip.sentinels and vip.master-name",
    );
    let handle = match worker::spawn(
        settings,
        first,
        Box::new(RedisLog),
        Box::new(queue_event),
        STATUS.clone(),
    ) {
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
    acl_categories(ctx.ctx);
    // Over the callback the redis_module! macro registered (see info_callback).
    raw::register_info_function(ctx.ctx, Some(info_callback));
    LOADED.store(true, Ordering::SeqCst);
    log_raw(ctx.ctx, Level::Notice, &summary);
    if let Some(path) = stale_mapping() {
        log_raw(
            ctx.ctx,
            Level::Warning,
            &format!(
                "this process runs an older build of the module than {path} now holds: MODULE UNLOAD keeps the code mapped and MODULE LOAD of the same path reuses it; restart redis-server, or load the new file under another path (docs/operations.md, rolling upgrade)"
            ),
        );
    }
    if let Some(w) = basic_warning {
        log_raw(ctx.ctx, Level::Warning, w);
    }
    RedisStatus::Ok
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

/// Put VIP.STATUS and VIP.SENTINELS in the ACL categories read and fast (a monitoring user
/// with +@read may run them) and in a module category vip, where the server can do that
/// (Redis 7.2+, Valkey). A category outlives MODULE UNLOAD on those servers, so after a reload
/// adding it again fails: that is fine, it is there. Redis 7.0 cannot give module commands
/// any category: there, grant +vip.status +vip.sentinels (README).
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
        for name in [c"vip.status", c"vip.sentinels", c"vip.events"] {
            let cmd = get(ctx, name.as_ptr());
            if cmd.is_null() {
                continue;
            }
            if set(cmd, c"read fast vip".as_ptr()) != raw::REDISMODULE_OK as i32 {
                let _ = set(cmd, c"read fast".as_ptr());
            }
        }
    }
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

pub fn deinit(ctx: &Context) -> RedisStatus {
    stop_worker();
    LOADED.store(false, Ordering::SeqCst);
    log_raw(ctx.ctx, Level::Notice, "redis-vip unloaded");
    free_log_ctx();
    *lock(&STATUS) = Status::default();
    lock(&HISTORY).clear();
    lock(&PENDING).clear();
    EVENTS_DROPPED.store(0, Ordering::Relaxed);
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
        ("version", Text(env!("CARGO_PKG_VERSION").into())),
        ("build", Text(env!("VIP_BUILD_COMMIT").into())),
        ("version_num", Int(version_num())),
        ("state", Text(s.state.into())),
        ("state_code", Int(state_code(s.state))),
        ("mode", Text(s.mode.into())),
        ("mode_code", Int(i64::from(s.mode == "sentinel"))),
        ("role", Text(s.role.into())),
        ("addresses", Text(s.addresses.clone())),
        ("interface", Text(s.interface.clone())),
        ("holding", Int(i64::from(s.holding))),
        (
            "announce",
            Text(if s.announce { "yes" } else { "no" }.into()),
        ),
        ("conflict_detection", Text(s.conflict_detection.into())),
        ("reason", Text(s.reason.clone())),
        ("last_transition_ms", int(s.last_transition_ms)),
        ("last_claim_latency_us", int(s.last_claim_latency_us)),
        ("announcements_sent", int(c.announcements_sent)),
        ("claims", int(c.claims)),
        ("releases", int(c.releases)),
        ("errors", int(c.errors)),
        ("error_active", Int(i64::from(s.error_active))),
        ("last_error", Text(s.last_error.clone())),
        ("last_error_ms", int(s.last_error_ms)),
        ("sentinels_known", int(s.sentinels_known)),
        ("sentinels_reachable", int(s.sentinels_reachable)),
        ("sentinels_confirming", int(s.sentinels_confirming)),
        ("sentinels_ghosts", int(s.sentinels_ghosts)),
        ("sentinel_entries_skipped", int(s.sentinel_entries_skipped)),
        ("quorum", int(s.quorum)),
        ("lease_ms", int(s.lease_ms)),
        ("lease_remaining_ms", int(s.lease_remaining_ms)),
        ("fences", int(c.fences)),
        ("last_fence_reason", Text(s.last_fence_reason.into())),
        ("last_fence", Text(s.last_fence.clone())),
        (
            "clients_can_connect",
            Int(i64::from(s.clients_problem.is_empty())),
        ),
        ("clients_problem", Text(s.clients_problem.clone())),
        ("conflicts", int(c.conflicts)),
        ("last_conflict_mac", Text(s.last_conflict_mac.clone())),
        ("reannounced", int(c.reannounced)),
        ("inbox_dropped", int(s.inbox_dropped)),
        (
            "events_dropped",
            int(EVENTS_DROPPED.load(Ordering::Relaxed)),
        ),
    ]
}

/// The module version as one number for alerts and dashboards: 0.2.0 -> 200, 1.4.12 -> 10412.
fn version_num() -> i64 {
    let part = |s: &str| s.parse::<i64>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// `state` as a number (Prometheus keeps numbers only): 0 idle, 1 standby, 2 holding, 3 error.
fn state_code(state: &str) -> i64 {
    match state {
        "standby" => 1,
        "holding" => 2,
        "error" => 3,
        _ => 0,
    }
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

/// `VIP.SENTINELS`: one entry per Sentinel asked (configured or learned), as field/value
/// arrays. Empty in basic mode.
pub fn vip_sentinels(_ctx: &Context, _args: Vec<RedisString>) -> RedisResult {
    let rows = status().sentinels;
    let int = |v: i64| RedisValue::Integer(v);
    let flag = |b: bool| RedisValue::Integer(i64::from(b));
    let text = |s: &str| RedisValue::BulkString(s.to_string());
    let out = rows
        .iter()
        .map(|r| {
            RedisValue::Array(vec![
                text("address"),
                text(&r.addr),
                text("runid"),
                text(&r.runid),
                text("learned"),
                flag(r.learned),
                text("reachable"),
                flag(r.reachable),
                text("last_answer_ms_ago"),
                int(r.last_answer_ms_ago),
                text("master"),
                text(&r.master),
                text("names_this_node"),
                flag(r.names_this_node),
                text("config_epoch"),
                int(i64::try_from(r.config_epoch).unwrap_or(i64::MAX)),
                text("master_flags"),
                text(&r.master_flags),
                text("failover_state"),
                text(&r.failover_state),
                text("promoted"),
                text(&r.promoted),
                text("confirms"),
                flag(r.confirms),
                text("last_error"),
                text(&r.last_error),
                text("skipped_replicas"),
                int(i64::from(r.skipped_replicas)),
                text("skipped_peers"),
                int(i64::from(r.skipped_peers)),
                text("skipped_reason"),
                text(&r.skipped_reason),
                text("ghosts"),
                int(i64::from(r.ghosts)),
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

/// The module's INFO callback, registered by init in place of the one the redis_module! macro
/// installs. The macro's callback, in a crash report, first captures and symbolizes a Rust
/// backtrace (the backtrace crate reads /proc/self/maps and the DWARF of every loaded object,
/// with glibc's malloc and realpath, from inside the server's signal handler): on valkey 9.1 that
/// aborted in glibc's malloc and cut the report short. This one only formats the status.
extern "C" fn info_callback(ctx: *mut raw::RedisModuleInfoCtx, for_crash_report: c_int) {
    vip_info(&InfoContext::new(ctx), for_crash_report != 0);
}

pub fn vip_info(ctx: &InfoContext, for_crash_report: bool) {
    // A crash report must never wait: the worker may hold the lock, or be gone mid-update.
    let snapshot = if for_crash_report {
        match STATUS.try_lock() {
            Ok(s) => s.clone(),
            Err(_) => return,
        }
    } else {
        status()
    };
    raw::add_info_section(ctx.ctx, None);
    for (name, value) in fields(&snapshot) {
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
