//! What went wrong while asking a Sentinel, as types: an error reply is sorted once, by its
//! code, into a `Refusal`; every failure of a poll becomes one `PollError`, whose kind is
//! all the view needs and whose text is made here and nowhere else.

use std::fmt;
use std::io;

/// What a Sentinel's error reply says, read once from its code (the reply's first word)
/// and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `-ERR No such master with that name`: `vip.master-name` is not monitored there.
    NoSuchMaster,
    /// `-NOAUTH`: the Sentinel wants credentials.
    NoAuth,
    /// `-WRONGPASS`: the credentials are wrong (or the user is disabled).
    WrongPass,
    /// `-NOPERM`: the user may not run `command` (as the ACL names it, e.g. `sentinel|master`;
    /// empty when the reply does not say).
    NoPerm { command: String },
    /// `-ERR AUTH ... called without any password configured`: credentials sent to a
    /// Sentinel that has none.
    AuthNotConfigured,
    /// `-LOADING`: not ready yet.
    Loading,
    /// Any other error reply.
    Other,
}

impl Refusal {
    /// Sort an error reply: `code` is its first word, `detail` the rest.
    pub fn of(code: &str, detail: &str) -> Refusal {
        if code.contains("No such master") || detail.contains("No such master") {
            return Refusal::NoSuchMaster;
        }
        match code {
            "NOAUTH" => Refusal::NoAuth,
            "WRONGPASS" => Refusal::WrongPass,
            "NOPERM" => Refusal::NoPerm {
                command: noperm_command(detail).unwrap_or_default().to_string(),
            },
            "LOADING" => Refusal::Loading,
            "ERR" if detail.starts_with("AUTH") => Refusal::AuthNotConfigured,
            _ => Refusal::Other,
        }
    }

    /// The class of failure the view acts on.
    pub fn kind(&self) -> PollErrorKind {
        match self {
            Refusal::NoSuchMaster => PollErrorKind::NoSuchMaster,
            Refusal::NoAuth | Refusal::WrongPass | Refusal::AuthNotConfigured => {
                PollErrorKind::Auth
            }
            Refusal::NoPerm { .. } => PollErrorKind::Denied,
            Refusal::Loading | Refusal::Other => PollErrorKind::Reply,
        }
    }
}

/// The command a NOPERM reply's words name: "... no permissions to run the
/// 'sentinel|replicas' command" (Redis 7.0 and later, Valkey).
pub fn noperm_command(detail: &str) -> Option<&str> {
    let start = detail.find("run the '")? + "run the '".len();
    let len = detail[start..].find('\'')?;
    Some(&detail[start..start + len]).filter(|c| !c.is_empty())
}

/// An error reply: what it means, and its words as the Sentinel sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub refusal: Refusal,
    pub text: String,
}

impl ServerError {
    /// `max_chars`: the words are cut there (they end up in the status and the log).
    pub fn of(e: &redis::ServerError, max_chars: usize) -> ServerError {
        let mut text = e.code().to_string();
        if let Some(detail) = e.details() {
            text.push(' ');
            text.push_str(detail);
        }
        ServerError {
            refusal: Refusal::of(e.code(), e.details().unwrap_or_default()),
            text: text.chars().take(max_chars).collect(),
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The Sentinel answered with an error (`-ERR No such master with that name`, `-NOAUTH`).
    Server(ServerError),
    /// The reply does not have the shape sentinel.c gives it.
    Malformed(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Server(e) => write!(f, "{e}"),
            ReplyError::Malformed(why) => write!(f, "unexpected reply: {why}"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// What kind of failure a poll met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollErrorKind {
    /// Connection refused, unreachable, timed out while connecting.
    Connect,
    /// The Sentinel refused our credentials (or wants some).
    Auth,
    /// No answer within the read timeout.
    Timeout,
    /// The Sentinel does not monitor a master of that name.
    NoSuchMaster,
    /// Any other error reply, or a reply that does not parse.
    Reply,
    /// TLS: a certificate refused either way, a file that cannot be used, TLS on one side
    /// only. The text names the cause and the fix (sentinel/tls.rs).
    Tls,
    /// The Sentinel's ACL refuses a command the module needs (NOPERM); the text names the
    /// command and the rule to add (sentinel/acl.rs).
    Denied,
}

/// A failed poll: its kind, and the text `VIP.SENTINELS` and the log show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollError {
    pub kind: PollErrorKind,
    pub text: String,
}

impl PollError {
    pub fn new(kind: PollErrorKind, text: impl Into<String>) -> PollError {
        PollError {
            kind,
            text: text.into(),
        }
    }

    /// No answer within the read timeout.
    pub fn timeout() -> PollError {
        PollError::new(PollErrorKind::Timeout, "no answer within the timeout")
    }

    /// The Sentinel refused with an error reply.
    pub fn refused(e: &ServerError) -> PollError {
        PollError::new(e.refusal.kind(), e.text.clone())
    }

    /// A reply that could not be used: refused, or not the shape sentinel.c gives it.
    pub fn reply(e: &ReplyError) -> PollError {
        match e {
            ReplyError::Server(refused) => PollError::refused(refused),
            ReplyError::Malformed(_) => PollError::new(PollErrorKind::Reply, e.to_string()),
        }
    }

    /// A failure on the socket: timeouts, oversized replies and the rest of the I/O.
    pub fn io(e: &io::Error) -> PollError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => PollError::timeout(),
            io::ErrorKind::InvalidData => PollError::new(PollErrorKind::Reply, e.to_string()),
            _ => PollError::new(PollErrorKind::Connect, e.to_string()),
        }
    }

    /// A failure while reading a reply: a timeout, a closed connection, or bytes that are
    /// not RESP.
    pub fn reading(e: &redis::RedisError) -> PollError {
        if e.is_timeout() {
            PollError::timeout()
        } else if e.is_io_error() || e.is_connection_dropped() {
            PollError::new(PollErrorKind::Connect, e.to_string())
        } else {
            PollError::new(PollErrorKind::Reply, e.to_string())
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for PollError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_are_sorted_once_by_their_code() {
        // (reply, refusal, kind)
        let cases: [(&[u8], Refusal, PollErrorKind); 4] = [
            (
                b"-ERR No such master with that name\r\n",
                Refusal::NoSuchMaster,
                PollErrorKind::NoSuchMaster,
            ),
            (
                b"-NOAUTH Authentication required.\r\n",
                Refusal::NoAuth,
                PollErrorKind::Auth,
            ),
            (
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                Refusal::WrongPass,
                PollErrorKind::Auth,
            ),
            (
                b"-NOPERM User vip has no permissions to run the 'sentinel|master' command\r\n",
                Refusal::NoPerm {
                    command: "sentinel|master".into(),
                },
                PollErrorKind::Denied,
            ),
        ];
        check(&cases);
    }

    #[test]
    fn refusals_without_a_command_or_outside_auth_are_sorted_too() {
        // (reply, refusal, kind)
        let cases: [(&[u8], Refusal, PollErrorKind); 4] = [
            (
                b"-NOPERM this user has no permissions\r\n",
                Refusal::NoPerm {
                    command: String::new(),
                },
                PollErrorKind::Denied,
            ),
            (
                b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
                Refusal::AuthNotConfigured,
                PollErrorKind::Auth,
            ),
            (
                b"-LOADING Redis is loading the dataset in memory\r\n",
                Refusal::Loading,
                PollErrorKind::Reply,
            ),
            (
                b"-ERR unknown command 'SENTINEL'\r\n",
                Refusal::Other,
                PollErrorKind::Reply,
            ),
        ];
        check(&cases);
    }

    /// Each reply is sorted as the case says, and keeps its own words.
    fn check(cases: &[(&[u8], Refusal, PollErrorKind)]) {
        for (reply, refusal, kind) in cases {
            let Ok(redis::Value::ServerError(e)) = redis::parse_redis_value(reply) else {
                panic!("{reply:?} is not an error reply");
            };
            let e = ServerError::of(&e, 1024);
            assert_eq!(&e.refusal, refusal, "{e}");
            let polled = PollError::refused(&e);
            assert_eq!(polled.kind, *kind, "{e}");
            // The text is the reply's own words, without the leading '-' and CRLF.
            assert_eq!(
                polled.text.as_bytes(),
                &reply[1..reply.len() - 2],
                "{polled}"
            );
        }
    }

    #[test]
    fn socket_failures_are_sorted_by_kind() {
        // (io error kind, poll error kind)
        let cases = [
            (io::ErrorKind::WouldBlock, PollErrorKind::Timeout),
            (io::ErrorKind::TimedOut, PollErrorKind::Timeout),
            (io::ErrorKind::InvalidData, PollErrorKind::Reply),
            (io::ErrorKind::ConnectionRefused, PollErrorKind::Connect),
        ];
        for (io_kind, kind) in cases {
            let e = PollError::io(&io::Error::new(io_kind, "x"));
            assert_eq!(e.kind, kind, "{io_kind:?}");
        }
        assert_eq!(
            PollError::io(&io::Error::from(io::ErrorKind::TimedOut)).text,
            "no answer within the timeout"
        );
    }
}
