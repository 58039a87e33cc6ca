//! What the server tells the worker: its role, this process's identity, and whether clients
//! can reach it through the VIP (`bind`, protected mode, the default user). All of it read on
//! the main thread and handed over as a `Control`.

use std::sync::atomic::{AtomicBool, Ordering};

use redis_module::server_events::ServerRole;
use redis_module::{Context, ContextFlags, RedisValue};
use redis_module_macros::{config_changed_event_handler, role_changed_event_handler};

use super::configs;
use super::witness;
use super::worker_link::send;
use crate::config::tls::{
    ServerReplication, ServerTls, SERVER_REPLICATION_CONFIGS, SERVER_TLS_CONFIGS,
};
use crate::core::Role;
use crate::worker::{self, Control};

/// Set at load: the first cron tick reads `bind` and the default user again.
static RECHECK_CLIENTS: AtomicBool = AtomicBool::new(false);

/// The role at load, from the context's flags.
pub fn role(ctx: &Context) -> Role {
    if ctx.get_flags().contains(ContextFlags::MASTER) {
        Role::Master
    } else {
        Role::Replica
    }
}

/// What the worker hears first at load: who this process is, whom it lets in, its
/// replication, its role. The first cron tick reads the clients' side again.
pub fn first_controls(ctx: &Context, role: Role) -> Vec<Control> {
    RECHECK_CLIENTS.store(true, Ordering::Relaxed);
    vec![
        identity(ctx),
        listening(ctx),
        witness::first_replication(ctx),
        role_event(role, true),
    ]
}

/// Users from an aclfile are loaded after the modules: look at the default user again once
/// the server runs (from the first cron tick after a load).
pub fn recheck_clients_once(ctx: &Context) {
    if RECHECK_CLIENTS.swap(false, Ordering::Relaxed) {
        send(listening(ctx));
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

/// The server's own TLS files, the defaults of `vip.sentinel-tls-*` (`CONFIG GET` only reads
/// memory). At load, and at every `CONFIG SET tls-*`.
pub fn read_server_tls(ctx: &Context) {
    configs::set_server_tls(ServerTls::from_configs(|name| config_value(ctx, name)));
}

/// How this server authenticates and encrypts its replication (`masteruser`, `masterauth`,
/// `tls-replication`): the failsafe asks the replicas the same way. At load, and at every
/// `CONFIG SET` of one of them.
pub fn read_server_replication(ctx: &Context) {
    configs::set_server_replication(ServerReplication::from_configs(|name| {
        config_value(ctx, name)
    }));
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

/// `CONFIG SET bind / protected-mode / requirepass`: tell the worker what clients can reach
/// now. `CONFIG SET tls-*`: the server's files are the defaults of TLS to the Sentinels.
/// `CONFIG SET masteruser / masterauth / tls-replication`: the witnesses are asked with them.
#[config_changed_event_handler]
fn on_server_config_changed(ctx: &Context, names: &[&str]) {
    if names
        .iter()
        .any(|n| matches!(*n, "bind" | "protected-mode" | "requirepass"))
    {
        send(listening(ctx));
    }
    let tls = names.iter().any(|n| SERVER_TLS_CONFIGS.contains(n));
    let replication = names.iter().any(|n| SERVER_REPLICATION_CONFIGS.contains(n));
    if tls {
        read_server_tls(ctx);
    }
    if replication {
        read_server_replication(ctx);
    }
    if tls || replication {
        send(Control::Settings(Box::new(configs::settings())));
    }
}

#[role_changed_event_handler]
fn on_role_changed(_ctx: &Context, role: ServerRole) {
    let role = match role {
        ServerRole::Primary => Role::Master,
        ServerRole::Replica => Role::Replica,
    };
    send(role_event(role, false));
}
