//! The replicas as witnesses: node-to-node questions (docs/safety.md, "Failsafe").
//!
//! When the Sentinels' support of a master is about to lapse (no spare supporter), the master
//! asks every replica that could be promoted whether it still follows this master:
//! `VIP.WITNESS <replid> <lease-ms>`. A replica's module confirms only when its role is
//! replica, its link to the master is up, and it follows the asked replication history
//! (`master_replid`); it then does not claim the VIP, even if promoted, until the lease it
//! granted has run out. The master counts the lease from when it *sent* the question.
//!
//! Pure: the question, the reply, and the replica's judgement. The asking threads are in
//! `asker`; the command is in `redis_glue`.

pub mod asker;

use std::fmt;

pub use crate::sentinel::answer::Endpoint;

/// The most a replica grants, whatever is asked: a master cannot keep a replica from
/// claiming longer than this.
pub const MAX_LEASE_MS: u64 = 60_000;

/// What the master asks: confirm that you follow `replid`, and stay away from the VIP for
/// `lease_ms` (the command's two arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub replid: String,
    pub lease_ms: u64,
}

/// Whom to ask, about what, and how: with the credentials and TLS the server uses for its
/// own replication (`masteruser`/`masterauth`, `tls-replication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPlan {
    pub targets: Vec<Endpoint>,
    pub question: Question,
    /// Ask every witness this often (the Sentinel poll interval).
    pub interval_ms: u64,
    pub auth_user: Option<String>,
    pub auth_pass: Option<crate::config::Secret>,
    pub tls: Option<crate::config::tls::TlsPlan>,
}

/// One witness as `VIP.WITNESSES` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRow {
    pub address: String,
    /// Why it is a witness: `info` (attached now), `sentinel` (listed), or both.
    pub source: String,
    /// The last reply (`follows (for 1000 ms)`, `promoted (a master now)`, ...) or "".
    pub reply: String,
    /// ms since that reply's question was sent (-1: never answered).
    pub age_ms: i64,
    /// ms its confirmation still counts (0: none in force).
    pub valid_ms: u64,
    /// The last failure to ask it ("" none).
    pub last_error: String,
}

/// Why a replica did not confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// It is a master now, promoted from the asked history (its `master_replid2` is the
    /// asked replid): a failover happened. Fences the asking master.
    Promoted,
    /// It follows another master's history with its link up: a failover happened, unless
    /// that history is the asking master's own previous one (`master_replid2`: a replica
    /// not yet moved over after our own promotion). The address and the followed replid.
    FollowsOther { master: String, replid: String },
    /// Not following us right now (link down, syncing, a master of another history, role
    /// unknown): counts as not confirmed, and fences nothing.
    NotFollowing(String),
    /// It follows us, but a Sentinel it hears is failing us over: a promotion is coming.
    /// Fences the asking master (the leader may be one the master cannot hear).
    FailingOver(String),
    /// It follows us, but the Sentinels it hears report us down (`s_down`/`o_down`): they
    /// cannot reach us and a failover may come. Fences a master holding on its witnesses
    /// alone (failsafe); otherwise counts as not confirmed.
    ReportedDown(String),
}

impl Denial {
    /// Evidence that another node took over or is about to, for a master whose own history
    /// is `replid` (and `replid2` before its promotion), in failsafe or not.
    pub fn fences(&self, replid: &str, replid2: &str, in_failsafe: bool) -> bool {
        match self {
            Denial::Promoted | Denial::FailingOver(_) => true,
            Denial::FollowsOther { replid: theirs, .. } => theirs != replid && theirs != replid2,
            Denial::ReportedDown(_) => in_failsafe,
            Denial::NotFollowing(_) => false,
        }
    }
}

/// The replica's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Follows the asked history; will not claim for `granted_ms` from its receipt.
    Follows {
        granted_ms: u64,
    },
    Denied(Denial),
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Follows { granted_ms } => write!(f, "follows (for {granted_ms} ms)"),
            Reply::Denied(Denial::Promoted) => write!(f, "promoted (a master now)"),
            Reply::Denied(Denial::FollowsOther { master, .. }) => {
                write!(f, "follows another master ({master})")
            }
            Reply::Denied(Denial::FailingOver(why)) => write!(f, "failing over ({why})"),
            Reply::Denied(Denial::NotFollowing(why)) => write!(f, "not following ({why})"),
            Reply::Denied(Denial::ReportedDown(why)) => write!(f, "reported down ({why})"),
        }
    }
}

/// The replication facts the judgement needs (`INFO replication`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replication {
    /// `role:master` (true) or `role:slave` (false).
    pub is_master: bool,
    /// `master_link_status:up` (replica).
    pub link_up: bool,
    /// `master_host:master_port` (replica).
    pub master: Option<Endpoint>,
    /// `master_replid`: our own history as a master, the followed one as a replica.
    pub replid: String,
    /// `master_replid2`: the history we came from (after a promotion).
    pub replid2: String,
    /// `slaveN:ip=...,port=...` (master): the replicas attached now, port 0 left out.
    pub replicas: Vec<Endpoint>,
}

/// A replid as Redis makes them: 40 hex digits.
pub fn valid_replid(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a replica's own Sentinels report against its master (none in basic mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct Against<'a> {
    /// A Sentinel is failing the master over.
    pub failing_over: Option<&'a str>,
    /// A Sentinel reports the master `s_down` / `o_down`.
    pub down: Option<&'a str>,
}

/// The replica's judgement of a question, from its own `INFO replication` and what its own
/// Sentinels report against the master.
pub fn judge_heard(info: &Replication, q: &Question, against: Against<'_>) -> Reply {
    match (judge(info, q), against.failing_over, against.down) {
        (Reply::Follows { .. }, Some(why), _) => {
            Reply::Denied(Denial::FailingOver(why.to_string()))
        }
        (Reply::Follows { .. }, None, Some(why)) => {
            Reply::Denied(Denial::ReportedDown(why.to_string()))
        }
        (reply, _, _) => reply,
    }
}

/// The replica's judgement of a question, from its own `INFO replication`.
pub fn judge(info: &Replication, q: &Question) -> Reply {
    let other = || {
        info.master
            .as_ref()
            .map_or_else(|| "?".to_string(), |m| m.to_string())
    };
    if info.is_master {
        return if !q.replid.is_empty() && info.replid2 == q.replid {
            Reply::Denied(Denial::Promoted)
        } else {
            Reply::Denied(Denial::NotFollowing(
                "a master of another history".to_string(),
            ))
        };
    }
    if !info.link_up {
        return Reply::Denied(Denial::NotFollowing(format!("link to {} down", other())));
    }
    if info.replid != q.replid {
        return Reply::Denied(Denial::FollowsOther {
            master: other(),
            replid: info.replid.clone(),
        });
    }
    Reply::Follows {
        granted_ms: q.lease_ms.min(MAX_LEASE_MS),
    }
}

/// Parse `INFO replication` text (either role). Unknown lines are ignored.
pub fn parse_replication(text: &str) -> Replication {
    let mut r = Replication::default();
    let (mut host, mut port) = (None, None);
    for line in text.lines() {
        let Some((k, v)) = line.trim_end_matches('\r').split_once(':') else {
            continue;
        };
        match k {
            "role" => r.is_master = v == "master",
            "master_link_status" => r.link_up = v == "up",
            "master_host" => host = Some(v.to_string()),
            "master_port" => port = v.parse::<u16>().ok(),
            "master_replid" => r.replid = v.to_string(),
            "master_replid2" => r.replid2 = v.to_string(),
            k if k.starts_with("slave") && k[5..].bytes().all(|b| b.is_ascii_digit()) => {
                if let Some(e) = replica_entry(v) {
                    r.replicas.push(e);
                }
            }
            _ => {}
        }
    }
    if let (Some(ip), Some(port)) = (host, port) {
        r.master = Some(Endpoint { ip, port });
    }
    r
}

/// `ip=192.0.2.2,port=6379,state=online,offset=...,lag=0` → the endpoint (port 0: none).
fn replica_entry(v: &str) -> Option<Endpoint> {
    let (mut ip, mut port) = (None, None);
    for kv in v.split(',') {
        match kv.split_once('=') {
            Some(("ip", x)) => ip = Some(x.to_string()),
            Some(("port", x)) => port = x.parse::<u16>().ok(),
            _ => {}
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) if port != 0 && !ip.is_empty() => Some(Endpoint { ip, port }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn replica(link_up: bool, replid: &str) -> Replication {
        Replication {
            is_master: false,
            link_up,
            master: Some(Endpoint {
                ip: "192.0.2.1".into(),
                port: 6379,
            }),
            replid: replid.into(),
            ..Default::default()
        }
    }

    fn q(replid: &str, lease_ms: u64) -> Question {
        Question {
            replid: replid.into(),
            lease_ms,
        }
    }

    #[test]
    fn a_replica_judges_the_question_from_its_own_replication() {
        let promoted = Replication {
            is_master: true,
            replid: B.into(),
            replid2: A.into(),
            ..Default::default()
        };
        let stranger = Replication {
            is_master: true,
            replid: B.into(),
            ..Default::default()
        };
        let cases: &[(&str, Replication, Question, Reply)] = &[
            (
                "follows, link up",
                replica(true, A),
                q(A, 1000),
                Reply::Follows { granted_ms: 1000 },
            ),
            (
                "the grant is capped",
                replica(true, A),
                q(A, 10_000_000),
                Reply::Follows {
                    granted_ms: MAX_LEASE_MS,
                },
            ),
            (
                "link down",
                replica(false, A),
                q(A, 1000),
                Reply::Denied(Denial::NotFollowing("link to 192.0.2.1:6379 down".into())),
            ),
            (
                "another history",
                replica(true, B),
                q(A, 1000),
                Reply::Denied(Denial::FollowsOther {
                    master: "192.0.2.1:6379".into(),
                    replid: B.into(),
                }),
            ),
            (
                "promoted",
                promoted,
                q(A, 1000),
                Reply::Denied(Denial::Promoted),
            ),
            (
                "a master of another history",
                stranger,
                q(A, 1000),
                Reply::Denied(Denial::NotFollowing("a master of another history".into())),
            ),
        ];
        for (name, info, question, want) in cases {
            assert_eq!(&judge(info, question), want, "{name}");
        }
    }

    #[test]
    fn a_replica_that_hears_the_master_failed_over_or_down_does_not_confirm() {
        let down = "Sentinel 192.0.2.21:26379 reports it subjectively down (s_down)";
        let over = "Sentinel 192.0.2.23:26379 is failing it over";
        let heard = |failing_over, down| Against { failing_over, down };
        let cases: &[(Replication, Against<'_>, Reply)] = &[
            (
                replica(true, A),
                heard(None, None),
                Reply::Follows { granted_ms: 1000 },
            ),
            (
                replica(true, A),
                heard(None, Some(down)),
                Reply::Denied(Denial::ReportedDown(down.into())),
            ),
            (
                replica(true, A),
                heard(Some(over), Some(down)),
                Reply::Denied(Denial::FailingOver(over.into())),
            ),
            (
                replica(true, B),
                heard(Some(over), Some(down)),
                Reply::Denied(Denial::FollowsOther {
                    master: "192.0.2.1:6379".into(),
                    replid: B.into(),
                }),
            ),
        ];
        for (info, against, want) in cases {
            assert_eq!(&judge_heard(info, &q(A, 1000), *against), want);
        }
    }

    #[test]
    fn what_fences_a_master() {
        const R2: &str = "cccccccccccccccccccccccccccccccccccccccc";
        let other = |replid: &str| Denial::FollowsOther {
            master: "x".into(),
            replid: replid.into(),
        };
        // (denial, in failsafe) -> fences a master of history A (B before its promotion)
        let cases: &[(Denial, bool, bool)] = &[
            (Denial::Promoted, false, true),
            (Denial::FailingOver("x".into()), false, true),
            (other(R2), false, true),
            (other(B), false, false), // not yet moved over after our own promotion
            (other(A), false, false), // we asked with a replid just changed
            (Denial::ReportedDown("x".into()), false, false),
            (Denial::ReportedDown("x".into()), true, true),
            (Denial::NotFollowing("x".into()), true, false),
        ];
        for (d, failsafe, want) in cases {
            assert_eq!(
                d.fences(A, B, *failsafe),
                *want,
                "{d:?} failsafe {failsafe}"
            );
        }
    }

    #[test]
    fn info_replication_is_parsed_for_either_role() {
        let master = format!(
            "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n\
             slave0:ip=192.0.2.2,port=6379,state=online,offset=1,lag=0\r\n\
             slave1:ip=192.0.2.9,port=0,state=online,offset=1,lag=0\r\n\
             slave2:ip=2001:db8::3,port=6380,state=wait_bgsave,offset=0,lag=0\r\n\
             master_replid:{A}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"
        );
        let r = parse_replication(&master);
        assert!(r.is_master);
        assert_eq!(r.replid, A);
        assert_eq!(
            r.replicas,
            vec![
                Endpoint {
                    ip: "192.0.2.2".into(),
                    port: 6379
                },
                Endpoint {
                    ip: "2001:db8::3".into(),
                    port: 6380
                },
            ]
        );
        let replica = format!(
            "role:slave\nmaster_host:192.0.2.1\nmaster_port:6379\nmaster_link_status:up\n\
             master_replid:{A}\n"
        );
        let r = parse_replication(&replica);
        assert!(!r.is_master && r.link_up);
        assert_eq!(
            r.master.map(|m| m.to_string()).as_deref(),
            Some("192.0.2.1:6379")
        );
        assert!(valid_replid(A) && !valid_replid("x"));
    }
}
