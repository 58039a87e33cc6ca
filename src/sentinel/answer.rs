//! What one Sentinel says about a master, parsed from its replies to
//! `SENTINEL MASTER`, `SENTINEL REPLICAS`, `SENTINEL SENTINELS` and `SENTINEL MYID`.
//!
//! Pure: the poller hands over the `redis::Value` it read, this module turns it into the
//! few facts the decisions need, or says what was wrong with it. Every field comes from
//! `addReplySentinelRedisInstance` in Redis' sentinel.c; numbers arrive as bulk strings
//! (RESP2) or integers (RESP3), pairs as a flat array (RESP2) or a map (RESP3).

use std::fmt;

use redis::Value;

pub use super::error::ReplyError;
use super::error::ServerError;

/// The most entries kept from one reply (replicas or peers of one master). A real
/// deployment has a handful, but Sentinel forgets nothing by itself (replicas that left,
/// backup clients, replaced Sentinels stay until `SENTINEL RESET`): entries past this are
/// skipped and counted, never a reason to refuse the answer.
pub const MAX_ENTRIES: usize = 64;
/// The most entries looked at in one reply: past this the rest is counted, not read.
const MAX_SCAN: usize = 4096;
/// Longest text accepted in any field (host names, flags, run ids).
const MAX_FIELD: usize = 512;

/// An instance as a Sentinel names it: address, port, and the run id of the process it
/// last saw there (empty until its first INFO of that instance).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::config::write_host_port(f, &self.ip, self.port)
    }
}

/// The flags of sentinel.c that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub s_down: bool,
    pub o_down: bool,
    pub disconnected: bool,
    pub failover_in_progress: bool,
    /// `SENTINEL FAILOVER`: a failover the operator forced, with no votes and no `o_down`.
    pub force_failover: bool,
    pub promoted: bool,
}

impl Flags {
    pub fn parse(text: &str) -> Flags {
        let mut f = Flags::default();
        for flag in text.split(',') {
            match flag.trim() {
                "s_down" => f.s_down = true,
                "o_down" => f.o_down = true,
                "disconnected" => f.disconnected = true,
                "failover_in_progress" => f.failover_in_progress = true,
                "force_failover" => f.force_failover = true,
                "promoted" => f.promoted = true,
                _ => {}
            }
        }
        f
    }
}

/// One master or replica entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub endpoint: Endpoint,
    pub runid: String,
    pub flags: Flags,
    /// ms since the oldest unanswered PING was sent (0: none pending). sentinel.c declares
    /// the instance down `down-after-milliseconds` after that PING.
    pub last_ping_sent_ms: u64,
    /// ms since the last valid PING reply.
    pub last_ok_ping_reply_ms: u64,
    /// ms since the Sentinel's last `INFO` of this instance (0: never): the run id it shows
    /// is that old.
    pub info_refresh_ms: u64,
}

/// `SENTINEL MASTER <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub instance: Instance,
    pub config_epoch: u64,
    pub down_after_ms: u64,
    /// Sentinel's own quorum for this master (how many must agree it is down).
    pub quorum: u32,
    /// Other Sentinels this one knows for the master.
    pub other_sentinels: u32,
    pub failover_timeout_ms: u64,
    /// `failover-state` while a failover runs (`wait_start`, `select_slave`,
    /// `send_slaveof_noone`, `wait_promotion`, `reconf_slaves`, `update_config`).
    pub failover_state: Option<String>,
}

/// A peer Sentinel from `SENTINEL SENTINELS <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub endpoint: Endpoint,
    pub runid: String,
    /// The answering Sentinel cannot reach it (`s_down` in its flags).
    pub s_down: bool,
    /// ms since the answering Sentinel last heard a hello from it.
    pub last_hello_ms: u64,
}

/// Entries of a list reply that could not be used: an address Sentinel itself never
/// connects to (a replication client without a listening port shows as `ip:0`), a field
/// that does not parse, or more entries than are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    pub count: u32,
    /// Why the first one was skipped, with its address when it has one.
    pub first: Option<String>,
}

impl Skipped {
    fn add(&mut self, why: String) {
        self.count = self.count.saturating_add(1);
        if self.first.is_none() {
            self.first = Some(why);
        }
    }
}

/// The usable entries of a list reply, and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub skipped: Skipped,
}

/// Everything one poll learned from one Sentinel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answering Sentinel's own run id (`SENTINEL MYID`): two addresses of one Sentinel
    /// count once.
    pub sentinel_runid: String,
    pub master: Master,
    pub replicas: Vec<Instance>,
    /// Only when the poll asked for them.
    pub peers: Option<Vec<Peer>>,
    /// Replica entries that could not be used (skipped, not fatal).
    pub skipped_replicas: Skipped,
    /// Peer entries that could not be used (skipped, not fatal).
    pub skipped_peers: Skipped,
}

impl Answer {
    /// The replica this Sentinel's running failover promotes, if it has chosen one.
    pub fn promoted(&self) -> Option<&Instance> {
        if !self.master.instance.flags.failover_in_progress {
            return None;
        }
        self.replicas.iter().find(|r| r.flags.promoted)
    }
}

fn malformed(why: impl Into<String>) -> ReplyError {
    ReplyError::Malformed(why.into())
}

fn text(v: &Value) -> Result<String, ReplyError> {
    let s = match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(|_| malformed("not UTF-8"))?,
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::ServerError(e) => return Err(ReplyError::Server(server_error(e))),
        other => return Err(malformed(format!("expected a string, got {}", kind(other)))),
    };
    if s.len() > MAX_FIELD {
        return Err(malformed("field too long"));
    }
    Ok(s)
}

/// An error reply, sorted, its text cut to the longest field kept.
pub(crate) fn server_error(e: &redis::ServerError) -> ServerError {
    ServerError::of(e, MAX_FIELD)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) | Value::SimpleString(_) | Value::VerbatimString { .. } => "a string",
        Value::Array(_) | Value::Set(_) => "an array",
        Value::Map(_) => "a map",
        Value::ServerError(_) => "an error",
        _ => "another type",
    }
}

/// Field/value pairs of one instance entry, RESP2 (flat array) or RESP3 (map).
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn of(v: &Value) -> Result<Fields, ReplyError> {
        let mut pairs = Vec::new();
        match v {
            Value::Array(items) => {
                if items.len() % 2 != 0 || items.len() > 2 * 128 {
                    return Err(malformed("odd or oversized field list"));
                }
                for pair in items.chunks(2) {
                    pairs.push((text(&pair[0])?, pair[1].clone()));
                }
            }
            Value::Map(items) => {
                if items.len() > 128 {
                    return Err(malformed("oversized field map"));
                }
                for (k, val) in items {
                    pairs.push((text(k)?, val.clone()));
                }
            }
            Value::ServerError(e) => return Err(ReplyError::Server(server_error(e))),
            other => {
                return Err(malformed(format!(
                    "expected field/value pairs, got {}",
                    kind(other)
                )))
            }
        }
        Ok(Fields(pairs))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Result<String, ReplyError> {
        let v = self
            .get(name)
            .ok_or_else(|| malformed(format!("no '{name}' field")))?;
        text(v)
    }

    fn text_or_empty(&self, name: &str) -> Result<String, ReplyError> {
        match self.get(name) {
            Some(v) => text(v),
            None => Ok(String::new()),
        }
    }

    fn number(&self, name: &str) -> Result<u64, ReplyError> {
        let t = self.text(name)?;
        // sentinel.c prints these with %lld; a negative one (clock step) counts as 0.
        match t.parse::<i64>() {
            Ok(n) => Ok(u64::try_from(n).unwrap_or(0)),
            Err(_) => Err(malformed(format!("'{name}' is not a number: {t}"))),
        }
    }

    fn number_or_zero(&self, name: &str) -> Result<u64, ReplyError> {
        if self.get(name).is_some() {
            self.number(name)
        } else {
            Ok(0)
        }
    }
}

fn endpoint(f: &Fields) -> Result<Endpoint, ReplyError> {
    let ip = f.text("ip")?;
    if ip.is_empty() {
        return Err(malformed("empty 'ip'"));
    }
    let port = f.number("port")?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| malformed(format!("bad port {port}")))?;
    Ok(Endpoint { ip, port })
}

fn instance(f: &Fields) -> Result<Instance, ReplyError> {
    let runid = f.text_or_empty("runid")?;
    Ok(Instance {
        endpoint: endpoint(f)?,
        runid: runid.to_ascii_lowercase(),
        flags: Flags::parse(&f.text("flags")?),
        last_ping_sent_ms: f.number_or_zero("last-ping-sent")?,
        last_ok_ping_reply_ms: f.number_or_zero("last-ok-ping-reply")?,
        info_refresh_ms: f.number_or_zero("info-refresh")?,
    })
}

/// `SENTINEL MASTER <name>`.
pub fn parse_master(v: &Value) -> Result<Master, ReplyError> {
    let f = Fields::of(v)?;
    let failover_state = match f.get("failover-state") {
        Some(v) => Some(text(v)?),
        None => None,
    };
    Ok(Master {
        instance: instance(&f)?,
        config_epoch: f.number("config-epoch")?,
        down_after_ms: f.number("down-after-milliseconds")?,
        quorum: u32::try_from(f.number("quorum")?).unwrap_or(u32::MAX),
        other_sentinels: u32::try_from(f.number_or_zero("num-other-sentinels")?)
            .unwrap_or(u32::MAX),
        failover_timeout_ms: f.number_or_zero("failover-timeout")?,
        failover_state,
    })
}

fn entries(v: &Value) -> Result<&[Value], ReplyError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::ServerError(e) => Err(ReplyError::Server(server_error(e))),
        other => Err(malformed(format!("expected a list, got {}", kind(other)))),
    }
}

/// Where an unusable entry was, for the operator: its address when the fields say one.
fn entry_label(f: &Fields) -> String {
    match (f.text("ip"), f.text("port")) {
        (Ok(ip), Ok(port)) if ip.contains(':') => format!("[{ip}]:{port}"),
        (Ok(ip), Ok(port)) => format!("{ip}:{port}"),
        _ => "an entry".to_string(),
    }
}

/// Parse each entry of a list reply on its own: one unusable entry is skipped and counted,
/// and the rest of the answer stands. Only a reply that is not a list at all fails.
/// `must_keep` names entries whose loss would hide a fact the rule needs (a replica flagged
/// `promoted`): such an entry that does not parse fails the whole reply instead, and such
/// an entry past the cap is still kept.
fn listed<T>(
    v: &Value,
    parse: impl Fn(&Fields) -> Result<T, ReplyError>,
    must_keep: impl Fn(&Fields) -> bool,
) -> Result<Listed<T>, ReplyError> {
    let all = entries(v)?;
    let mut out = Listed {
        items: Vec::new(),
        skipped: Skipped::default(),
    };
    for e in all.iter().take(MAX_SCAN) {
        let fields = match Fields::of(e) {
            Ok(f) => f,
            Err(ReplyError::Server(e)) => return Err(ReplyError::Server(e)),
            Err(err) => {
                out.skipped.add(err.to_string());
                continue;
            }
        };
        let keep = must_keep(&fields);
        match parse(&fields) {
            Ok(item) if out.items.len() < MAX_ENTRIES || keep => out.items.push(item),
            Ok(_) => out.skipped.add(format!("more than {MAX_ENTRIES} entries")),
            Err(err) if keep => return Err(err),
            Err(err) => out.skipped.add(format!("{}: {err}", entry_label(&fields))),
        }
    }
    for _ in all.iter().skip(MAX_SCAN) {
        out.skipped.add(format!("more than {MAX_SCAN} entries"));
    }
    Ok(out)
}

/// `SENTINEL REPLICAS <name>`.
pub fn parse_replicas(v: &Value) -> Result<Listed<Instance>, ReplyError> {
    listed(v, instance, |f| {
        f.text("flags").is_ok_and(|t| Flags::parse(&t).promoted)
    })
}

/// `SENTINEL SENTINELS <name>`.
pub fn parse_peers(v: &Value) -> Result<Listed<Peer>, ReplyError> {
    listed(
        v,
        |f| {
            Ok(Peer {
                endpoint: endpoint(f)?,
                runid: f.text_or_empty("runid")?.to_ascii_lowercase(),
                s_down: f.text("flags").is_ok_and(|t| Flags::parse(&t).s_down),
                last_hello_ms: f.number_or_zero("last-hello-message")?,
            })
        },
        |_| false,
    )
}

/// `SENTINEL MYID`: 40 hex characters.
pub fn parse_myid(v: &Value) -> Result<String, ReplyError> {
    let id = text(v)?;
    if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("SENTINEL MYID is not a 40-character run id"));
    }
    Ok(id.to_ascii_lowercase())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An entry as sentinel.c sends it over RESP2: a flat array of bulk strings.
    pub fn entry(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    /// A master entry as Redis 7.0.15 printed it (field order and all).
    pub fn master_entry(ip: &str, runid: &str, flags: &str, epoch: u64) -> Value {
        let epoch = epoch.to_string();
        entry(&[
            ("name", "mymaster"),
            ("ip", ip),
            ("port", "6379"),
            ("runid", runid),
            ("flags", flags),
            ("link-pending-commands", "0"),
            ("link-refcount", "1"),
            ("last-ping-sent", "0"),
            ("last-ok-ping-reply", "530"),
            ("last-ping-reply", "530"),
            ("down-after-milliseconds", "1000"),
            ("info-refresh", "8402"),
            ("role-reported", "master"),
            ("role-reported-time", "90123"),
            ("config-epoch", &epoch),
            ("num-slaves", "2"),
            ("num-other-sentinels", "2"),
            ("quorum", "2"),
            ("failover-timeout", "180000"),
            ("parallel-syncs", "1"),
        ])
    }

    #[test]
    fn a_master_entry_as_redis_sends_it() {
        let m = parse_master(&master_entry("192.0.2.11", "AB12", "master", 3)).unwrap();
        assert_eq!(m.instance.endpoint.to_string(), "192.0.2.11:6379");
        assert_eq!(m.instance.runid, "ab12");
        assert_eq!(m.config_epoch, 3);
        assert_eq!(m.down_after_ms, 1000);
        assert_eq!(m.quorum, 2);
        assert_eq!(m.other_sentinels, 2);
        assert_eq!(m.instance.last_ok_ping_reply_ms, 530);
        assert_eq!(m.failover_state, None);
        assert!(!m.instance.flags.s_down);
    }

    #[test]
    fn flags_and_failover_state() {
        let v = entry(&[
            ("name", "mymaster"),
            ("ip", "192.0.2.11"),
            ("port", "6379"),
            ("runid", ""),
            (
                "flags",
                "s_down,o_down,master,disconnected,failover_in_progress",
            ),
            ("failover-state", "send_slaveof_noone"),
            ("last-ping-sent", "1400"),
            ("down-after-milliseconds", "1000"),
            ("config-epoch", "0"),
            ("quorum", "2"),
        ]);
        let m = parse_master(&v).unwrap();
        let f = m.instance.flags;
        assert!(f.s_down && f.o_down && f.disconnected && f.failover_in_progress && !f.promoted);
        assert_eq!(m.failover_state.as_deref(), Some("send_slaveof_noone"));
        assert_eq!(m.instance.last_ping_sent_ms, 1400);
        assert_eq!(m.other_sentinels, 0);
    }

    #[test]
    fn resp3_maps_and_integers_parse_alike() {
        let v = Value::Map(vec![
            (bulk("ip"), bulk("2001:db8::11")),
            (bulk("port"), Value::Int(6380)),
            (bulk("flags"), bulk("slave,promoted")),
            (bulk("runid"), bulk("cd")),
        ]);
        let r = parse_replicas(&Value::Array(vec![v])).unwrap().items;
        assert_eq!(r[0].endpoint.to_string(), "[2001:db8::11]:6380");
        assert!(r[0].flags.promoted);
    }

    #[test]
    fn refused_shapes_say_what_is_wrong() {
        // (reply, text the error must contain)
        let no_such = redis::parse_redis_value(b"-ERR No such master with that name\r\n").unwrap();
        let cases: Vec<(Value, &str)> = vec![
            (no_such, "No such master"),
            (Value::Nil, "expected field/value pairs, got nil"),
            (entry(&[("ip", "192.0.2.1")]), "no 'port' field"),
            (
                entry(&[("ip", "192.0.2.1"), ("port", "70000"), ("flags", "")]),
                "bad port 70000",
            ),
            (
                Value::Array(vec![bulk("ip")]),
                "odd or oversized field list",
            ),
            (
                entry(&[
                    ("ip", "192.0.2.1"),
                    ("port", "1"),
                    ("flags", "master"),
                    ("config-epoch", "x"),
                ]),
                "'config-epoch' is not a number",
            ),
        ];
        for (v, want) in cases {
            let err = parse_master(&v).unwrap_err().to_string();
            assert!(err.contains(want), "{v:?}: {err}");
        }
    }

    fn replica(ip: &str, port: &str, flags: &str) -> Value {
        entry(&[
            ("name", "x"),
            ("ip", ip),
            ("port", port),
            ("runid", "ab"),
            ("flags", flags),
            ("info-refresh", "1200"),
        ])
    }

    #[test]
    fn an_unusable_entry_is_skipped_and_the_answer_stands() {
        // (entries, usable kept, skipped, first reason contains; or the error)
        let ok = replica("192.0.2.12", "6379", "slave");
        let rdb = replica("192.0.2.50", "0", "slave");
        type Kept<'a> = Result<(usize, u32, &'a str), &'a str>;
        let cases: Vec<(Vec<Value>, Kept)> = vec![
            (
                vec![ok.clone(), rdb.clone()],
                Ok((1, 1, "192.0.2.50:0: unexpected reply: bad port 0")),
            ),
            (vec![rdb.clone(), rdb.clone()], Ok((0, 2, "bad port 0"))),
            (
                vec![Value::Nil, ok.clone()],
                Ok((1, 1, "expected field/value pairs")),
            ),
            (
                vec![ok.clone(); MAX_ENTRIES + 3],
                Ok((MAX_ENTRIES, 3, "more than 64 entries")),
            ),
            // a promoted replica is never dropped: past the cap it is kept ...
            (
                [
                    vec![ok.clone(); MAX_ENTRIES],
                    vec![replica("192.0.2.13", "6379", "slave,promoted")],
                ]
                .concat(),
                Ok((MAX_ENTRIES + 1, 0, "")),
            ),
            // ... and when it does not parse, the reply fails rather than hide it
            (
                vec![ok.clone(), replica("192.0.2.13", "0", "slave,promoted")],
                Err("bad port 0"),
            ),
        ];
        for (list, want) in cases {
            let got = parse_replicas(&Value::Array(list));
            match (got, want) {
                (Ok(l), Ok((kept, skipped, why))) => {
                    assert_eq!((l.items.len(), l.skipped.count), (kept, skipped));
                    assert!(l.skipped.first.unwrap_or_default().contains(why));
                }
                (Err(e), Err(why)) => assert!(e.to_string().contains(why), "{e}"),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
        let l = parse_replicas(&Value::Array(vec![ok])).unwrap();
        assert_eq!(l.items[0].info_refresh_ms, 1200);
    }

    #[test]
    fn peers_skip_bad_addresses_and_keep_their_state() {
        let peer = |ip: &str, port: &str, flags: &str| {
            entry(&[
                ("name", "x"),
                ("ip", ip),
                ("port", port),
                ("runid", "AB"),
                ("flags", flags),
                ("last-hello-message", "95000"),
            ])
        };
        let l = parse_peers(&Value::Array(vec![
            peer("192.0.2.21", "26379", "s_down,sentinel,disconnected"),
            peer("", "26379", "sentinel"),
        ]))
        .unwrap();
        assert_eq!(l.items.len(), 1);
        assert!(l.items[0].s_down);
        assert_eq!(l.items[0].last_hello_ms, 95_000);
        assert_eq!(l.items[0].runid, "ab");
        assert_eq!(l.skipped.count, 1);
        assert!(parse_peers(&Value::Nil).is_err());
    }

    #[test]
    fn myid_is_forty_hex() {
        let id = "0123456789abcdef0123456789ABCDEF01234567";
        assert_eq!(parse_myid(&bulk(id)).unwrap(), id.to_ascii_lowercase());
        assert!(parse_myid(&bulk("xyz")).is_err());
    }

    #[test]
    fn the_promoted_replica_only_counts_during_a_failover() {
        let master = parse_master(&master_entry("192.0.2.11", "a", "master", 1)).unwrap();
        let replica = Instance {
            endpoint: Endpoint {
                ip: "192.0.2.12".into(),
                port: 6379,
            },
            runid: "b".into(),
            flags: Flags::parse("slave,promoted"),
            last_ping_sent_ms: 0,
            last_ok_ping_reply_ms: 0,
            info_refresh_ms: 0,
        };
        let mut a = Answer {
            sentinel_runid: "s1".into(),
            master,
            replicas: vec![replica],
            peers: None,
            skipped_replicas: Skipped::default(),
            skipped_peers: Skipped::default(),
        };
        assert!(a.promoted().is_none());
        a.master.instance.flags.failover_in_progress = true;
        assert_eq!(a.promoted().unwrap().runid, "b");
    }
}
