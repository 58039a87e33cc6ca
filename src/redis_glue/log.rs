//! The module's lines in the Redis log: from the main thread with the call's context, from
//! the worker through a detached context of our own.

use std::ffi::CString;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::{raw, Context};

use crate::core::Level;
use crate::worker::Log;

/// Our own detached context for logging from the worker (created in init, freed in deinit).
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(ptr::null_mut());

/// Log through RedisModule_Log with a constant "%s" format: the message is never a
/// format string (a '%' in it cannot crash the server).
pub fn log_raw(ctx: *mut raw::RedisModuleCtx, level: Level, message: &str) {
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

pub fn notice(ctx: &Context, message: &str) {
    log_raw(ctx.ctx, Level::Notice, message);
}

pub fn warning(ctx: &Context, message: &str) {
    log_raw(ctx.ctx, Level::Warning, message);
}

/// The worker's log: through the detached context, while there is one.
pub struct RedisLog;

impl Log for RedisLog {
    fn log(&self, level: Level, message: &str) {
        let ctx = LOG_CTX.load(Ordering::SeqCst);
        if !ctx.is_null() {
            log_raw(ctx, level, message);
        }
    }
}

/// At load, before the worker starts.
pub fn open_log_ctx(ctx: &Context) {
    // SAFETY: ctx is the valid load context; the detached context lives until deinit.
    unsafe {
        if let Some(detached) = raw::RedisModule_GetDetachedThreadSafeContext {
            LOG_CTX.store(detached(ctx.ctx), Ordering::SeqCst);
        }
    }
}

/// At unload, or a load that failed, once the worker is gone.
pub fn free_log_ctx() {
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
