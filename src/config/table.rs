//! Every `vip.*` config, declared once, like a row of Redis' own `standardConfig` table: its
//! name, type, default, bounds, flags and the one line that documents it. Registration with
//! the server, `Settings` and its default, the loadmodule argument check, the README's table
//! and redis.conf.example (checked by a test) all read [`CONFIGS`].
//!
//! A new config: one row here and its field in [`Settings`] (then the README row and the
//! redis.conf.example block the test asks for).

use super::tls::{self, parse_path, ModuleTls, ServerReplication, ServerTls, TlsPlan};
use super::{
    parse_addresses, parse_interface, parse_label, parse_secret, parse_sentinels, parse_token,
    Secret, SentinelAddr, Vip, MAX_SENTINELS,
};

/// How a config may be changed: Redis' module config flags, without the Redis types (this
/// module is pure; the glue turns them into `REDISMODULE_CONFIG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    /// Changed by `CONFIG SET` at any time.
    pub const DEFAULT: Flags = Flags(0);
    /// `CONFIG SET` only with `enable-protected-configs` (as Redis guards `dir`).
    pub const PROTECTED: Flags = Flags(1);
    /// Handed to the server as sensitive (`CONFIG GET` still shows it, as `masterauth`). What a
    /// server redacts for a module config varies: the slow log of Redis 7.0 and 8.0 and Valkey
    /// 9.1 still showed a `CONFIG SET` of one (checked 2026-12-04).
    pub const SENSITIVE: Flags = Flags(2);
    /// Set at load only.
    pub const IMMUTABLE: Flags = Flags(4);
    /// Protected and sensitive: a credential.
    pub const SECRET: Flags = Flags(1 | 2);

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A config's type, default and bounds, and how its value reaches its `Settings` field.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Text, parsed once into its field by `set`; the `Err` is what `CONFIG SET` (or a failed
    /// load) shows the operator. The text itself is kept for `CONFIG GET` (`Values`).
    Text {
        default: &'static str,
        set: fn(&mut Settings, &str) -> Result<(), String>,
    },
    /// A whole number; the server enforces the bounds and words the refusal.
    Number {
        default: i64,
        min: i64,
        max: i64,
        get: fn(&Settings) -> i64,
        set: fn(&mut Settings, i64),
    },
    /// yes or no.
    Bool {
        default: bool,
        get: fn(&Settings) -> bool,
        set: fn(&mut Settings, bool),
    },
}

/// One `vip.*` config.
#[derive(Clone, Copy)]
pub struct Config {
    /// The name without the `vip.` prefix, as a loadmodule argument takes it.
    pub name: &'static str,
    pub kind: Kind,
    pub flags: Flags,
    /// One line for the README's table (markdown) and the top of the redis.conf.example block.
    pub doc: &'static str,
}

impl Config {
    pub fn protected(&self) -> bool {
        self.flags.contains(Flags::PROTECTED)
    }

    /// The default as `CONFIG GET` shows it.
    pub fn default_text(&self) -> String {
        match self.kind {
            Kind::Text { default, .. } => default.to_string(),
            Kind::Number { default, .. } => default.to_string(),
            Kind::Bool { default, .. } => yes_no(default).to_string(),
        }
    }

    /// Put the default into its `Settings` field.
    fn reset(&self, s: &mut Settings) {
        match self.kind {
            // The defaults are valid (a test parses each one).
            Kind::Text { default, set } => {
                let _ = set(s, default);
            }
            Kind::Number { default, set, .. } => set(s, default),
            Kind::Bool { default, set, .. } => set(s, default),
        }
    }
}

pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A number in its field's type; the server kept it within the bounds, so it fits.
fn narrow<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

fn widen<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// `text!(name, field = parser, flags, default, doc)`: a text config parsed into `field`.
macro_rules! text {
    ($name:literal, $field:ident = $parse:expr, $flags:expr, $default:literal, $doc:literal) => {
        Config {
            name: $name,
            kind: Kind::Text {
                default: $default,
                set: |s, v| {
                    s.$field = ($parse)(v)?;
                    Ok(())
                },
            },
            flags: $flags,
            doc: $doc,
        }
    };
}

/// `number!(name, field, flags, default, min..=max, doc)`.
macro_rules! number {
    ($name:literal, $field:ident, $flags:expr, $default:expr, $min:expr, $max:expr, $doc:literal) => {
        Config {
            name: $name,
            kind: Kind::Number {
                default: $default,
                min: $min,
                max: $max,
                get: |s| widen(s.$field),
                set: |s, v| s.$field = narrow(v),
            },
            flags: $flags,
            doc: $doc,
        }
    };
}

/// `boolean!(name, field, flags, default, doc)`.
macro_rules! boolean {
    ($name:literal, $field:ident, $flags:expr, $default:literal, $doc:literal) => {
        Config {
            name: $name,
            kind: Kind::Bool {
                default: $default,
                get: |s| s.$field,
                set: |s, v| s.$field = v,
            },
            flags: $flags,
            doc: $doc,
        }
    };
}

const DEFAULT: Flags = Flags::DEFAULT;
const PROTECTED: Flags = Flags::PROTECTED;
const SECRET: Flags = Flags::SECRET;

/// Every config, in the order of the README's table (and of "the arguments are ..."). Every
/// config that can move or take away the VIP is protected.
#[rustfmt::skip]
pub static CONFIGS: &[Config] = &[
    text!("address", addresses = parse_addresses, PROTECTED, "",
        "one or more addresses in CIDR form, comma-separated, IPv4 and/or IPv6 (`192.0.2.100/24,2001:db8::100/64`), at most 16; a bare address means /32 or /128; empty: the module stays idle"),
    text!("interface", interface = parse_interface, PROTECTED, "",
        "the interface that carries the VIPs; empty: the module stays idle"),
    text!("label", label = parse_label, PROTECTED, "",
        "optional IPv4 label such as `eth0:vip` (at most 15 characters); empty: no label"),
    text!("sentinels", sentinels = parse_sentinels, PROTECTED, "",
        "the Sentinels to ask, `host:port` comma-separated, IPv6 as `[addr]:port`, at most 16 (more are learned with `SENTINEL SENTINELS`); empty: basic mode"),
    text!("master-name", master_name = |v| parse_token("master name", v), PROTECTED, "",
        "the Sentinel master name; required with `vip.sentinels`"),
    text!("sentinel-auth-user", auth_user = |v| parse_token("Sentinel user name", v), PROTECTED, "",
        "the ACL user for the Sentinels, as Sentinel's own `auth-user`; goes with `vip.sentinel-auth-pass`"),
    text!("sentinel-auth-pass", auth_pass = parse_secret, SECRET, "",
        "the password for the Sentinels, as Sentinel's own `auth-pass`; it never appears in the log"),
    boolean!("sentinel-tls", sentinel_tls, PROTECTED, false,
        "talk to the Sentinels over TLS (docs/operations.md, \"Sentinels over TLS and behind ACLs\")"),
    text!("sentinel-tls-ca-cert-file", sentinel_tls_ca_cert_file = |v| parse_path("CA file", v), PROTECTED, "",
        "the CA file the Sentinels' certificates are checked against; empty, with `vip.sentinel-tls-ca-cert-dir` empty too: the server's own `tls-ca-cert-file` / `tls-ca-cert-dir`"),
    text!("sentinel-tls-ca-cert-dir", sentinel_tls_ca_cert_dir = |v| parse_path("CA directory", v), PROTECTED, "",
        "a directory of CA certificates (as `tls-ca-cert-dir`), instead of or beside the CA file"),
    text!("sentinel-tls-cert-file", sentinel_tls_cert_file = |v| parse_path("certificate", v), PROTECTED, "",
        "the client certificate sent to Sentinels with `tls-auth-clients yes`; empty, with `vip.sentinel-tls-key-file` empty too: the server's `tls-client-cert-file` when set, else its `tls-cert-file` (and the matching key and passphrase)"),
    text!("sentinel-tls-key-file", sentinel_tls_key_file = |v| parse_path("key", v), PROTECTED, "",
        "the private key of `vip.sentinel-tls-cert-file`"),
    text!("sentinel-tls-key-file-pass", sentinel_tls_key_file_pass = parse_secret, SECRET, "",
        "the passphrase of that key, if it is encrypted; it never appears in the log"),
    number!("quorum", quorum, PROTECTED, 0, 0, MAX_SENTINELS as i64,
        "Sentinels that must confirm; 0 = a majority of those known (more if their own quorum is small)"),
    number!("lease-ms", lease_ms, PROTECTED, 0, 0, 600_000,
        "how long one confirmation counts, from when it was asked; 0 = half of Sentinel's `down-after-milliseconds`; never more than that"),
    number!("poll-interval-ms", poll_interval_ms, PROTECTED, 100, 10, 1000,
        "how often each Sentinel is asked (every 10 ms while a failover is under way)"),
    boolean!("failsafe", failsafe, PROTECTED, true,
        "when the Sentinels' support lapses without any naming another master, keep the VIP while every replica that could be promoted confirms that it follows this master (`VIP.WITNESS`); `no`: release, as without it"),
    number!("witness-lease-ms", witness_lease_ms, PROTECTED, 500, 100, 60_000,
        "how long one replica's confirmation counts, from when it was asked; the replica claims nothing for that long, even if promoted"),
    number!("announce-count", announce_count, DEFAULT, 5, 0, 100,
        "gratuitous ARPs / unsolicited NAs per burst; 0 = none"),
    number!("announce-interval-ms", announce_interval_ms, DEFAULT, 200, 10, 60_000,
        "spacing inside a burst; the first packet goes at once"),
    number!("announce-repeat-delay-ms", announce_repeat_delay_ms, DEFAULT, 5000, 0, 3_600_000,
        "a second burst this long after a claim; 0 = none"),
    number!("announce-refresh-ms", announce_refresh_ms, DEFAULT, 0, 0, 3_600_000,
        "re-announce periodically while holding; 0 = never"),
    number!("check-interval-ms", check_interval_ms, DEFAULT, 1000, 100, 60_000,
        "how often actual state is compared with desired state"),
    number!("address-lifetime-s", address_lifetime_s, DEFAULT, 1, 0, 3600,
        "valid lifetime of the VIPs, refreshed 4 times per lifetime while held: the kernel removes them this long after redis-server dies; 0 = permanent"),
    boolean!("release-on-shutdown", release_on_shutdown, DEFAULT, true,
        "remove the VIPs at SHUTDOWN and MODULE UNLOAD"),
    boolean!("enabled", enabled, PROTECTED, true,
        "`no` releases the VIPs and keeps the module idle"),
    boolean!("announce", announce, PROTECTED, true,
        "announce the VIPs on the wire (gratuitous ARP / unsolicited NA) and watch for other claimants; `no`: routed mode, the host's routing daemon announces the address"),
];

/// The config of that name (loadmodule arguments: any case).
pub fn find(name: &str) -> Option<&'static Config> {
    CONFIGS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Declares `Settings` and `Settings::zero()` (every field its type's zero, before the
/// table's defaults go in) from one list of fields.
macro_rules! settings {
    ($(#[$meta:meta])* pub struct Settings { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct Settings { $($(#[$fmeta])* pub $field: $ty,)* }

        impl Settings {
            fn zero() -> Settings {
                Settings { $($field: <$ty>::default(),)* }
            }

            /// The fields' names: one config each.
            #[cfg(test)]
            const FIELDS: &[&str] = &[$(stringify!($field),)*];
        }
    };
}

settings! {
    /// A snapshot of every `vip.*` config, handed to the worker as one value. `default()` is
    /// the table's defaults.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Settings {
        pub addresses: Vec<Vip>,
        pub interface: String,
        pub label: Option<String>,
        pub announce_count: u32,
        pub announce_interval_ms: u64,
        pub announce_repeat_delay_ms: u64,
        pub announce_refresh_ms: u64,
        pub check_interval_ms: u64,
        pub address_lifetime_s: u32,
        pub release_on_shutdown: bool,
        pub enabled: bool,
        /// Announce the VIPs on the wire (gratuitous ARP / unsolicited NA) and watch for other
        /// claimants. `false`: routed mode — the host's routing daemon announces the address.
        pub announce: bool,
        /// The Sentinels to ask; empty = basic mode.
        pub sentinels: Vec<SentinelAddr>,
        /// The Sentinel master name (required with `sentinels`).
        pub master_name: Option<String>,
        pub auth_user: Option<String>,
        pub auth_pass: Option<Secret>,
        /// Sentinels that must confirm; 0 = derived from what the Sentinels report.
        pub quorum: u32,
        /// How long one confirmation counts; 0 = half of Sentinel's down-after-milliseconds.
        /// Never longer than down-after-milliseconds, whatever is set.
        pub lease_ms: u64,
        pub poll_interval_ms: u64,
        /// `vip.failsafe`: the replicas as witnesses when the Sentinels' support lapses.
        pub failsafe: bool,
        /// How long a replica's confirmation counts (and keeps it from claiming).
        pub witness_lease_ms: u64,
        /// `vip.sentinel-tls`: TLS to the Sentinels, with the files below, each defaulting
        /// to the server's own (`server_tls`); `sentinel_tls_plan()` resolves them.
        pub sentinel_tls: bool,
        pub sentinel_tls_ca_cert_file: Option<String>,
        pub sentinel_tls_ca_cert_dir: Option<String>,
        pub sentinel_tls_cert_file: Option<String>,
        pub sentinel_tls_key_file: Option<String>,
        pub sentinel_tls_key_file_pass: Option<Secret>,
        /// Not a config: the server's own `tls-*` files, the defaults of the ones above. The
        /// Redis glue reads them at load and at every `CONFIG SET tls-*`.
        pub server_tls: ServerTls,
        /// Not a config: the server's replication credentials and `tls-replication`, how the
        /// failsafe's questions to the replicas go out. Read by the glue like `server_tls`.
        pub server_replication: ServerReplication,
    }
}

impl Settings {
    /// The fields that are not configs (the glue fills them from the server).
    #[cfg(test)]
    pub(crate) const NOT_CONFIGS: &[&str] = &["server_tls", "server_replication"];

    /// TLS to the Sentinels as it is in force: `None` for plaintext; else each
    /// `vip.sentinel-tls-*` that is set, and the server's own files for the rest.
    pub fn sentinel_tls_plan(&self) -> Option<TlsPlan> {
        let module = ModuleTls {
            enabled: self.sentinel_tls,
            ca_file: self.sentinel_tls_ca_cert_file.clone(),
            ca_dir: self.sentinel_tls_ca_cert_dir.clone(),
            cert_file: self.sentinel_tls_cert_file.clone(),
            key_file: self.sentinel_tls_key_file.clone(),
            key_pass: self.sentinel_tls_key_file_pass.clone(),
        };
        tls::resolve(&module, &self.server_tls)
    }
}

impl Default for Settings {
    fn default() -> Self {
        let mut s = Settings::zero();
        for config in CONFIGS {
            config.reset(&mut s);
        }
        s
    }
}

/// The values in force: the settings, parsed once when set, and each text config as it was
/// given (`CONFIG GET` and `CONFIG REWRITE` show it back as written).
#[derive(Debug, Clone)]
pub struct Values {
    settings: Settings,
    /// By the config's place in `CONFIGS`; empty for numbers and booleans.
    texts: Vec<String>,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            settings: Settings::default(),
            texts: CONFIGS
                .iter()
                .map(|c| match c.kind {
                    Kind::Text { default, .. } => default.to_string(),
                    _ => String::new(),
                })
                .collect(),
        }
    }
}

impl Values {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Set the text config at `index` in `CONFIGS`; refused (and nothing changed) when it does
    /// not parse.
    pub fn set_text(&mut self, index: usize, text: &str) -> Result<(), String> {
        let Some(Kind::Text { set, .. }) = CONFIGS.get(index).map(|c| c.kind) else {
            return Err("not a text config".into());
        };
        set(&mut self.settings, text)?;
        if let Some(slot) = self.texts.get_mut(index) {
            *slot = text.to_string();
        }
        Ok(())
    }

    pub fn text(&self, index: usize) -> &str {
        self.texts.get(index).map_or("", String::as_str)
    }

    pub fn set_number(&mut self, index: usize, value: i64) {
        if let Some(Kind::Number { set, .. }) = CONFIGS.get(index).map(|c| c.kind) {
            set(&mut self.settings, value);
        }
    }

    pub fn number(&self, index: usize) -> i64 {
        match CONFIGS.get(index).map(|c| c.kind) {
            Some(Kind::Number { get, .. }) => get(&self.settings),
            _ => 0,
        }
    }

    pub fn set_bool(&mut self, index: usize, value: bool) {
        if let Some(Kind::Bool { set, .. }) = CONFIGS.get(index).map(|c| c.kind) {
            set(&mut self.settings, value);
        }
    }

    pub fn boolean(&self, index: usize) -> bool {
        match CONFIGS.get(index).map(|c| c.kind) {
            Some(Kind::Bool { get, .. }) => get(&self.settings),
            _ => false,
        }
    }

    /// The value in force as `CONFIG GET` shows it, by the loadmodule name.
    pub fn shown(&self, name: &str) -> Option<String> {
        let (index, config) = CONFIGS.iter().enumerate().find(|(_, c)| c.name == name)?;
        Some(match config.kind {
            Kind::Text { .. } => self.text(index).to_string(),
            Kind::Number { .. } => self.number(index).to_string(),
            Kind::Bool { .. } => yes_no(self.boolean(index)).to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
