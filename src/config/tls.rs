//! TLS to the Sentinels, as configured: the `vip.sentinel-tls-*` values, the server's own
//! `tls-*` files they default to, and the plan a poller builds its client from. Pure data:
//! the client itself (OpenSSL) is `sentinel/tls.rs`.

use std::fmt;

use super::Secret;

/// Where the client's TLS material comes from: the `vip.sentinel-tls-*` configs, each
/// defaulting to the server's own `tls-*` config (resolved by the Redis glue).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsPlan {
    pub ca_file: Option<String>,
    pub ca_dir: Option<String>,
    /// The client certificate (chain) sent to a Sentinel that asks for one.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub key_pass: Option<Secret>,
}

impl fmt::Debug for TlsPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPlan")
            .field("ca_file", &self.ca_file)
            .field("ca_dir", &self.ca_dir)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("key_pass", &self.key_pass.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `vip.sentinel-tls-*-file` / `-dir`: empty means "the server's own"; otherwise a path.
/// The file is not read here (this runs on the Redis main thread): a poller reads it, and
/// names it in its error when it cannot be used.
pub fn parse_path(what: &str, text: &str) -> Result<Option<String>, String> {
    let path = text.trim();
    if path.is_empty() {
        return Ok(None);
    }
    if path.len() > 4096 {
        return Err(format!("the {what} path is longer than 4096 characters"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("the {what} path contains a control character"));
    }
    Ok(Some(path.to_string()))
}

/// The server's own TLS files, read by the Redis glue from `CONFIG GET` (at load and on
/// every `CONFIG SET tls-*`). For its outgoing connections Redis sends
/// `tls-client-cert-file` / `tls-client-key-file` when set, else `tls-cert-file` /
/// `tls-key-file`: so does the module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTls {
    pub ca_file: Option<String>,
    pub ca_dir: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub key_pass: Option<Secret>,
}

/// The server's configs that `ServerTls` is read from.
pub const SERVER_TLS_CONFIGS: &[&str] = &[
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-cert-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
];

impl ServerTls {
    /// No file (a server without TLS), as a constant for a static.
    pub const EMPTY: ServerTls = ServerTls {
        ca_file: None,
        ca_dir: None,
        cert_file: None,
        key_file: None,
        key_pass: None,
    };

    /// From the server's config values, by name (an absent or empty one is unset).
    pub fn from_configs(get: impl Fn(&str) -> String) -> ServerTls {
        let opt = |name: &str| Some(get(name)).filter(|v| !v.trim().is_empty());
        let (cert_file, key_file, key_pass) = match opt("tls-client-cert-file") {
            Some(c) => (
                Some(c),
                opt("tls-client-key-file"),
                opt("tls-client-key-file-pass"),
            ),
            None => (
                opt("tls-cert-file"),
                opt("tls-key-file"),
                opt("tls-key-file-pass"),
            ),
        };
        ServerTls {
            ca_file: opt("tls-ca-cert-file"),
            ca_dir: opt("tls-ca-cert-dir"),
            cert_file,
            key_file,
            key_pass: key_pass.map(Secret::new),
        }
    }
}

/// The module's own `vip.sentinel-tls-*` values (None = empty).
#[derive(Clone, Default)]
pub struct ModuleTls {
    pub enabled: bool,
    pub ca_file: Option<String>,
    pub ca_dir: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub key_pass: Option<Secret>,
}

/// The files in force: each module config that is set, else the server's. The CA file and
/// directory go together (one source for both), as do the certificate, key and passphrase:
/// a module certificate is never paired with the server's key.
pub fn resolve(module: &ModuleTls, server: &ServerTls) -> Option<TlsPlan> {
    if !module.enabled {
        return None;
    }
    let (ca_file, ca_dir) = if module.ca_file.is_some() || module.ca_dir.is_some() {
        (module.ca_file.clone(), module.ca_dir.clone())
    } else {
        (server.ca_file.clone(), server.ca_dir.clone())
    };
    let (cert_file, key_file, key_pass) = if module.cert_file.is_some() || module.key_file.is_some()
    {
        (
            module.cert_file.clone(),
            module.key_file.clone(),
            module.key_pass.clone(),
        )
    } else {
        (
            server.cert_file.clone(),
            server.key_file.clone(),
            server.key_pass.clone().or(module.key_pass.clone()),
        )
    };
    Some(TlsPlan {
        ca_file,
        ca_dir,
        cert_file,
        key_file,
        key_pass,
    })
}

/// How this server authenticates and encrypts its own replication connections
/// (`masteruser` / `masterauth`, `tls-replication`): the node-to-node questions of the
/// failsafe go out the same way. Read by the Redis glue like `ServerTls`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerReplication {
    pub user: Option<String>,
    pub pass: Option<Secret>,
    /// `tls-replication yes`.
    pub tls: bool,
}

/// The server's configs that `ServerReplication` is read from.
pub const SERVER_REPLICATION_CONFIGS: &[&str] = &["masteruser", "masterauth", "tls-replication"];

impl ServerReplication {
    pub const EMPTY: ServerReplication = ServerReplication {
        user: None,
        pass: None,
        tls: false,
    };

    /// From the server's config values, by name (an absent or empty one is unset).
    pub fn from_configs(get: impl Fn(&str) -> String) -> ServerReplication {
        let opt = |name: &str| Some(get(name)).filter(|v| !v.is_empty());
        ServerReplication {
            user: opt("masteruser"),
            pass: opt("masterauth").map(Secret::new),
            tls: get("tls-replication").eq_ignore_ascii_case("yes"),
        }
    }

    /// The TLS files for a replication connection: the server's own (as Redis uses them).
    pub fn tls_plan(&self, server: &ServerTls) -> Option<TlsPlan> {
        self.tls.then(|| TlsPlan {
            ca_file: server.ca_file.clone(),
            ca_dir: server.ca_dir.clone(),
            cert_file: server.cert_file.clone(),
            key_file: server.key_file.clone(),
            key_pass: server.key_pass.clone(),
        })
    }
}
