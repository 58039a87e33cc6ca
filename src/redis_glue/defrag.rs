//! The defrag-callback stand-in that keeps a load quiet on servers without module defrag
//! callbacks (Redis 7.0, Valkey), and the verbose line that says which kind of server this is.

use std::ffi::c_int;

use redis_module::raw;

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
pub fn log_defrag_support(ctx: *mut raw::RedisModuleCtx) {
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
