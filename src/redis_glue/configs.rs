//! The `vip.*` configs on the server: each row of `config::CONFIGS` registered through the
//! module API (RedisModule_Register{String,Numeric,Bool}Config, then LoadConfigs), and the
//! values in force, kept parsed (`config::Values`): the worker gets them as one `Settings`.
//!
//! The server calls the get and set callbacks below on the main thread (CONFIG GET / SET /
//! REWRITE, and LoadConfigs at load with the default, the loadmodule argument, a
//! `MODULE LOADEX ... CONFIG` value or a line of the configuration file).

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use redis_module::{raw, Context};

use super::lock;
use super::worker_link::send;
use crate::config::tls::{ServerReplication, ServerTls};
use crate::config::{self, Config, Flags, Kind, Settings, Values, CONFIGS};
use crate::worker::Control;

/// The values in force. Statics outlive MODULE UNLOAD: `register` starts them afresh.
static VALUES: LazyLock<Mutex<Values>> = LazyLock::new(|| Mutex::new(Values::default()));

/// Set once the load went through; while it is not, a refused value is kept for the log
/// line that says why the load failed (Redis 7.0 does not log it itself).
static LOADED: AtomicBool = AtomicBool::new(false);
static LOAD_REFUSED: Mutex<Option<String>> = Mutex::new(None);

/// The server's own `tls-*` files: the defaults of `vip.sentinel-tls-*`.
static SERVER_TLS: Mutex<ServerTls> = Mutex::new(ServerTls::EMPTY);

/// The server's own replication credentials and TLS switch: how the witnesses are asked.
static SERVER_REPLICATION: Mutex<ServerReplication> = Mutex::new(ServerReplication::EMPTY);

/// Every config, validated already, with the server's TLS files and replication
/// credentials, as one value for the worker.
pub fn settings() -> Settings {
    let mut settings = lock(&VALUES).settings().clone();
    settings.server_tls = lock(&SERVER_TLS).clone();
    settings.server_replication = lock(&SERVER_REPLICATION).clone();
    settings
}

/// Keep the server's replication credentials (read at load and at every `CONFIG SET` of
/// `masteruser`, `masterauth`, `tls-replication`).
pub fn set_server_replication(server: ServerReplication) {
    *lock(&SERVER_REPLICATION) = server;
}

/// Keep the server's own TLS files (read at load and at every `CONFIG SET tls-*`).
pub fn set_server_tls(server: ServerTls) {
    *lock(&SERVER_TLS) = server;
}

pub fn set_loaded(loaded: bool) {
    LOADED.store(loaded, Ordering::SeqCst);
}

/// Register every config, with the loadmodule argument (checked already) as its default,
/// and let the server set them (`LoadConfigs`). `Err`: why the load must fail.
pub fn register(ctx: &Context, args: &[(String, String)]) -> Result<(), String> {
    *lock(&VALUES) = Values::default();
    *lock(&LOAD_REFUSED) = None;
    for (index, config) in CONFIGS.iter().enumerate() {
        let argument = args.iter().find(|(name, _)| name == config.name);
        let default = match argument {
            Some((_, value)) => config::as_default(config, value),
            None => config.default_text(),
        };
        register_one(ctx, index, config, &default)
            .map_err(|why| format!("cannot register vip.{}: {why}", config.name))?;
    }
    // SAFETY: the load context, inside OnLoad; the API pointer is filled in by RedisModule_Init.
    let loaded = unsafe { raw::RedisModule_LoadConfigs.map(|load| load(ctx.ctx)) };
    match loaded {
        Some(status) if status == raw::REDISMODULE_OK as c_int => Ok(()),
        Some(_) => Err(lock(&LOAD_REFUSED)
            .take()
            .unwrap_or_else(|| "a value was refused (the server's log says which)".to_string())),
        None => Err("the server has no module configs (Redis 7.0 or later is needed)".into()),
    }
}

fn raw_flags(flags: Flags) -> c_uint {
    let mut bits = raw::REDISMODULE_CONFIG_DEFAULT;
    for (flag, bit) in [
        (Flags::PROTECTED, raw::REDISMODULE_CONFIG_PROTECTED),
        (Flags::SENSITIVE, raw::REDISMODULE_CONFIG_SENSITIVE),
        (Flags::IMMUTABLE, raw::REDISMODULE_CONFIG_IMMUTABLE),
    ] {
        if flags.contains(flag) {
            bits |= bit;
        }
    }
    bits as c_uint
}

/// The callbacks find their row by its place in the table, carried as the private data.
fn privdata(index: usize) -> *mut c_void {
    ptr::without_provenance_mut(index)
}

fn row(privdata: *mut c_void) -> usize {
    privdata.addr()
}

fn register_one(ctx: &Context, index: usize, config: &Config, default: &str) -> Result<(), String> {
    let name = CString::new(config.name).map_err(|e| e.to_string())?;
    let text = CString::new(default).map_err(|_| "the value contains a NUL byte".to_string())?;
    let flags = raw_flags(config.flags);
    let data = privdata(index);
    // SAFETY: the load context, inside OnLoad; the name and default are copied by the server;
    // the callbacks are plain functions that live as long as the module is mapped.
    let status = unsafe {
        match config.kind {
            Kind::Text { .. } => raw::RedisModule_RegisterStringConfig.map(|f| {
                f(
                    ctx.ctx,
                    name.as_ptr(),
                    text.as_ptr(),
                    flags,
                    Some(get_text),
                    Some(set_text),
                    None,
                    data,
                )
            }),
            Kind::Number { min, max, .. } => raw::RedisModule_RegisterNumericConfig.map(|f| {
                let default = default.parse().unwrap_or_default();
                f(
                    ctx.ctx,
                    name.as_ptr(),
                    default,
                    flags,
                    min,
                    max,
                    Some(get_number),
                    Some(set_number),
                    None,
                    data,
                )
            }),
            Kind::Bool { .. } => raw::RedisModule_RegisterBoolConfig.map(|f| {
                let default = c_int::from(config::parse_bool(default).unwrap_or_default());
                f(
                    ctx.ctx,
                    name.as_ptr(),
                    default,
                    flags,
                    Some(get_bool),
                    Some(set_bool),
                    None,
                    data,
                )
            }),
        }
    };
    match status {
        Some(s) if s == raw::REDISMODULE_OK as c_int => Ok(()),
        Some(_) => Err("the server refused it".into()),
        None => Err("the server has no module configs (Redis 7.0 or later is needed)".into()),
    }
}

/// A value was taken: the worker gets the settings now in force (nothing runs yet at load).
fn changed() {
    send(Control::Settings(Box::new(settings())));
}

/// A refused value, for the server to show: `CONFIG SET`'s error, or the load's.
fn refuse(msg: String, err: *mut *mut raw::RedisModuleString) -> c_int {
    if !LOADED.load(Ordering::SeqCst) {
        *lock(&LOAD_REFUSED) = Some(msg.clone());
    }
    // SAFETY: err is the server's out-parameter; it takes (and frees) the string.
    unsafe {
        if let Some(create) = raw::RedisModule_CreateString {
            if !err.is_null() {
                *err = create(ptr::null_mut(), msg.as_ptr().cast(), msg.len());
            }
        }
    }
    raw::REDISMODULE_ERR as c_int
}

extern "C" fn set_text(
    _name: *const c_char,
    val: *mut raw::RedisModuleString,
    privdata: *mut c_void,
    err: *mut *mut raw::RedisModuleString,
) -> c_int {
    // SAFETY: val is the server's string for the duration of the call.
    let bytes = unsafe {
        let mut len = 0usize;
        match raw::RedisModule_StringPtrLen {
            Some(ptr_len) if !val.is_null() => {
                let p = ptr_len(val, &mut len);
                if p.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(p.cast::<u8>(), len)
                }
            }
            _ => &[][..],
        }
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return refuse("the value is not valid UTF-8".into(), err);
    };
    let taken = lock(&VALUES).set_text(row(privdata), text);
    match taken {
        Ok(()) => {
            changed();
            raw::REDISMODULE_OK as c_int
        }
        Err(why) => refuse(why, err),
    }
}

/// The strings handed to the server by `get_text`, one per config: the server copies it at
/// once, and the next read of that config frees it (the module owns what a getter returns).
struct Held(Vec<*mut raw::RedisModuleString>);

// SAFETY: touched on the main thread only (the server's config callbacks, and unload).
unsafe impl Send for Held {}

static HELD: Mutex<Held> = Mutex::new(Held(Vec::new()));

extern "C" fn get_text(_name: *const c_char, privdata: *mut c_void) -> *mut raw::RedisModuleString {
    let index = row(privdata);
    let text = lock(&VALUES).text(index).to_string();
    // SAFETY: main thread; a string without a context is the module's to free.
    unsafe {
        let (Some(create), Some(free)) =
            (raw::RedisModule_CreateString, raw::RedisModule_FreeString)
        else {
            return ptr::null_mut();
        };
        let fresh = create(ptr::null_mut(), text.as_ptr().cast(), text.len());
        let mut held = lock(&HELD);
        if held.0.len() <= index {
            held.0.resize(index + 1, ptr::null_mut());
        }
        let old = std::mem::replace(&mut held.0[index], fresh);
        if !old.is_null() {
            free(ptr::null_mut(), old);
        }
        fresh
    }
}

/// At unload: free the strings last handed out.
pub fn release() {
    let held = std::mem::take(&mut lock(&HELD).0);
    // SAFETY: main thread; each was created by get_text and is no longer read by the server.
    unsafe {
        if let Some(free) = raw::RedisModule_FreeString {
            for s in held.into_iter().filter(|s| !s.is_null()) {
                free(ptr::null_mut(), s);
            }
        }
    }
}

extern "C" fn set_number(
    _name: *const c_char,
    val: c_longlong,
    privdata: *mut c_void,
    _err: *mut *mut raw::RedisModuleString,
) -> c_int {
    // the server checked the bounds
    lock(&VALUES).set_number(row(privdata), val);
    changed();
    raw::REDISMODULE_OK as c_int
}

extern "C" fn get_number(_name: *const c_char, privdata: *mut c_void) -> c_longlong {
    lock(&VALUES).number(row(privdata))
}

extern "C" fn set_bool(
    _name: *const c_char,
    val: c_int,
    privdata: *mut c_void,
    _err: *mut *mut raw::RedisModuleString,
) -> c_int {
    lock(&VALUES).set_bool(row(privdata), val != 0);
    changed();
    raw::REDISMODULE_OK as c_int
}

extern "C" fn get_bool(_name: *const c_char, privdata: *mut c_void) -> c_int {
    c_int::from(lock(&VALUES).boolean(row(privdata)))
}

/// A `vip.<name>` line of the configuration file wins over the loadmodule argument (Redis
/// applies the file after the arguments): say so when they differ.
pub fn overridden(name: &str, arg: &str) -> Option<String> {
    let current = lock(&VALUES).shown(name)?;
    let same = match config::parse_bool(arg) {
        Some(b) => current == config::yes_no(b),
        None => current.trim() == arg.trim(),
    };
    if same {
        return None;
    }
    let secret = config::find(name).is_some_and(|c| c.flags.contains(Flags::SENSITIVE));
    Some(if secret {
        format!("vip.{name} from the configuration file overrides the loadmodule argument")
    } else {
        format!(
            "vip.{name} '{current}' from the configuration file overrides the loadmodule argument '{arg}'"
        )
    })
}
