//! Asking the witnesses: one thread per replica, each with its own kept connection.
//!
//! ```text
//!  worker ── Action::Witnesses(plan) ──▶ Askers::apply (reconcile threads; the question,
//!                                          │ interval and credentials shared, read per ask)
//!                         ┌────────────────┼──────────────────┐
//!                    vip-witness-0    vip-witness-1      vip-witness-2
//!                    connect (+TLS, +AUTH with masteruser/masterauth), then every interval:
//!                    VIP.WITNESS <replid> <lease-ms>   (sent = mono() just before the write)
//!                         │ Event::WitnessAnswer { from, sent, result } (the worker's feed)
//!                         └────────────────────────────▶ core
//! ```
//!
//! Built like the Sentinel pollers (`sentinel::poller`), with their connection (`Link`),
//! timeouts and TLS client (`sentinel::tls`): a dead or slow replica only holds up its own
//! thread. Nothing is decided here; a failure comes back as an operator sentence, which
//! names the fix (the ACL rule, the credentials, the version).

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::Value;

use super::{Denial, Endpoint, Reply, WitnessPlan};
use crate::config::tls::TlsPlan;
use crate::config::Secret;
use crate::sentinel::error::{PollError, PollErrorKind};
use crate::sentinel::poller::{cmd, open_stream, timeouts, Link};
use crate::sentinel::tls::{Peer, Stream, Tls};
use crate::threads::{self, mono};

/// Where the askers report (the worker's bounded feed). Never blocks; false once nobody
/// listens any more (the asker then stops).
pub trait AnswerFeed: Send + Sync {
    fn answer(&self, from: Endpoint, sent: Duration, result: Result<Reply, String>) -> bool;
}

/// The plan in force, shared with every asker: each reads it before each question, so a
/// new question, interval or set of credentials takes effect without a restart.
type Shared = Arc<Mutex<Option<Arc<WitnessPlan>>>>;

struct Asker {
    /// Dropped or sent to: stop.
    tx: Sender<()>,
    thread: Option<JoinHandle<()>>,
    socket: Arc<Mutex<Option<TcpStream>>>,
    stopping: Arc<AtomicBool>,
}

/// The running askers, owned by the worker thread.
pub struct Askers {
    feed: Arc<dyn AnswerFeed>,
    shared: Shared,
    running: BTreeMap<Endpoint, Asker>,
}

impl Askers {
    pub fn new(feed: Box<dyn AnswerFeed>) -> Askers {
        Askers {
            feed: Arc::from(feed),
            shared: Arc::default(),
            running: BTreeMap::new(),
        }
    }

    /// Ask exactly the witnesses the plan names (None: none). Threads of witnesses still
    /// named keep running and their connections; they take the new question and
    /// credentials at their next ask.
    pub fn apply(&mut self, plan: Option<WitnessPlan>) {
        let targets = plan.as_ref().map(|p| p.targets.clone()).unwrap_or_default();
        if let Ok(mut s) = self.shared.lock() {
            *s = plan.map(Arc::new);
        }
        let gone: Vec<Endpoint> = self
            .running
            .keys()
            .filter(|e| !targets.contains(e))
            .cloned()
            .collect();
        let gone: Vec<Asker> = gone.iter().filter_map(|e| self.running.remove(e)).collect();
        stop_all(gone);
        for (i, target) in targets.iter().enumerate() {
            if !self.running.contains_key(target) {
                self.start(i, target);
            }
        }
    }

    fn start(&mut self, i: usize, target: &Endpoint) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let socket = Arc::new(Mutex::new(None));
        let stopping = Arc::new(AtomicBool::new(false));
        let job = Job {
            target: target.clone(),
            shared: self.shared.clone(),
            feed: self.feed.clone(),
            ctl: rx,
            socket: socket.clone(),
            stopping: stopping.clone(),
        };
        match threads::spawn(&format!("vip-witness-{i}"), move || job.run()) {
            Ok(t) => {
                self.running.insert(
                    target.clone(),
                    Asker {
                        tx,
                        thread: Some(t),
                        socket,
                        stopping,
                    },
                );
            }
            Err(e) => {
                self.feed.answer(
                    target.clone(),
                    mono(),
                    Err(format!("cannot start an asker thread: {e}")),
                );
            }
        }
    }

    /// Stop every asker and wait for them: bounded by the connect timeout (a blocked read
    /// returns at once when its socket is shut down).
    pub fn stop_all(&mut self) {
        if let Ok(mut s) = self.shared.lock() {
            *s = None;
        }
        stop_all(std::mem::take(&mut self.running).into_values().collect());
    }
}

impl Drop for Askers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Tell them all first, then wait: the waits overlap.
fn stop_all(askers: Vec<Asker>) {
    for a in &askers {
        a.stopping.store(true, Ordering::SeqCst);
        let _ = a.tx.try_send(());
        if let Ok(slot) = a.socket.lock() {
            if let Some(s) = slot.as_ref() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
    for mut a in askers {
        if let Some(t) = a.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a connection was opened with: another value needs a new connection.
#[derive(PartialEq, Eq)]
struct Credentials {
    user: Option<String>,
    pass: Option<String>,
    tls: Option<TlsPlan>,
}

impl Credentials {
    fn of(plan: &WitnessPlan) -> Credentials {
        Credentials {
            user: plan.auth_user.clone(),
            pass: plan.auth_pass.as_ref().map(|p| p.expose().to_string()),
            tls: plan.tls.clone(),
        }
    }
}

struct Session {
    link: Link,
    opened_with: Credentials,
}

/// How one question went: answered (a reply, or an error reply on a sound connection), or
/// failed on the connection (which is then closed). Both carry when the question was sent.
enum Asked {
    Answer(Duration, Result<Reply, String>),
    Failed(Duration, String),
}

/// One asker's thread.
struct Job {
    target: Endpoint,
    shared: Shared,
    feed: Arc<dyn AnswerFeed>,
    ctl: Receiver<()>,
    /// A clone of the connected socket, so that a stop can shut it down under a blocked read.
    socket: Arc<Mutex<Option<TcpStream>>>,
    stopping: Arc<AtomicBool>,
}

impl Job {
    fn run(self) {
        let mut session: Option<Session> = None;
        let mut tls: Option<Tls> = None;
        let mut next = mono();
        loop {
            match self.ctl.recv_timeout(next.saturating_sub(mono())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let plan = match self.shared.lock() {
                Ok(s) => s.clone(),
                Err(_) => None,
            };
            let Some(plan) = plan else { return };
            next = mono() + Duration::from_millis(plan.interval_ms.max(1));
            let started = mono();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.ask_once(&plan, &mut session, &mut tls)
            }));
            let (sent, result) = match outcome {
                Ok(Asked::Answer(sent, result)) => (sent, result),
                Ok(Asked::Failed(sent, why)) => {
                    self.drop_session(&mut session);
                    (sent, Err(why))
                }
                Err(_) => {
                    self.drop_session(&mut session);
                    (started, Err("internal error while asking".to_string()))
                }
            };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            if !self.feed.answer(self.target.clone(), sent, result) {
                return;
            }
        }
    }

    fn drop_session(&self, session: &mut Option<Session>) {
        *session = None;
        if let Ok(mut s) = self.socket.lock() {
            *s = None;
        }
    }

    /// One question (connecting first when needed): when it was sent, and the answer.
    fn ask_once(
        &self,
        plan: &WitnessPlan,
        session: &mut Option<Session>,
        tls: &mut Option<Tls>,
    ) -> Asked {
        let credentials = Credentials::of(plan);
        if session
            .as_ref()
            .is_some_and(|s| s.opened_with != credentials)
        {
            self.drop_session(session);
        }
        // A TLS file changed: reconnect with it now (a broken renewal shows at once).
        if session.is_some() && tls.as_mut().is_some_and(|t| t.files_changed(mono())) {
            self.drop_session(session);
        }
        let user = plan.auth_user.as_deref();
        let s = match session {
            Some(s) => s,
            slot => match self.connect(plan, tls) {
                Ok(link) => slot.insert(Session {
                    link,
                    opened_with: credentials,
                }),
                Err(why) => return Asked::Failed(mono(), why),
            },
        };
        let question = cmd(&[
            "VIP.WITNESS",
            &plan.question.replid,
            &plan.question.lease_ms.to_string(),
        ]);
        let plaintext = s.link.is_plaintext();
        let sent = mono();
        match s.link.exchange(&[question]) {
            // An error reply (NOPERM, LOADING) leaves the connection fit for the next question.
            Ok(replies) => Asked::Answer(
                sent,
                match replies.first() {
                    Some(v) => parse_reply(v).map_err(|e| e.words(&self.target, user)),
                    None => {
                        Err(WitnessError::Malformed("no reply".into()).words(&self.target, user))
                    }
                },
            ),
            Err(e) => Asked::Failed(sent, transport(&self.target, &e, plaintext)),
        }
    }

    /// Connect, with TLS when the plan says so, and authenticate.
    fn connect(&self, plan: &WitnessPlan, tls: &mut Option<Tls>) -> Result<Link, String> {
        let interval = Duration::from_millis(plan.interval_ms.max(1));
        let (connect_timeout, read_timeout) = timeouts(interval);
        let at = &self.target;
        let stream = open_stream(&at.ip, at.port, connect_timeout)
            .map_err(|e| format!("cannot connect to the replica {at}: {e}"))?;
        let setup = |s: &TcpStream| -> io::Result<TcpStream> {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(read_timeout))?;
            s.set_write_timeout(Some(read_timeout))?;
            s.try_clone()
        };
        let stop_handle =
            setup(&stream).map_err(|e| format!("cannot connect to the replica {at}: {e}"))?;
        if let Ok(mut slot) = self.socket.lock() {
            *slot = Some(stop_handle);
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Err("stopping".into());
        }
        let stream = match &plan.tls {
            Some(p) => {
                if tls.as_ref().is_none_or(|t| t.plan() != p) {
                    *tls = Some(Tls::to(Peer::Replica, p.clone()));
                }
                match tls.as_mut() {
                    Some(t) => t
                        .handshake(stream, &at.ip)
                        .map_err(|e| format!("TLS to the replica {at}: {e}"))?,
                    None => return Err("internal error: no TLS client".into()),
                }
            }
            None => Stream::Plain(stream),
        };
        let mut link = Link::new(stream);
        if let Some(pass) = &plan.auth_pass {
            authenticate(&mut link, at, plan.auth_user.as_deref(), pass)?;
        }
        Ok(link)
    }
}

/// `AUTH [user] pass`: the password alone when no user is set (as Redis' own replication
/// does with `masterauth` alone).
fn authenticate(
    link: &mut Link,
    at: &Endpoint,
    user: Option<&str>,
    pass: &Secret,
) -> Result<(), String> {
    let mut auth = cmd(&["AUTH"]);
    if let Some(u) = user {
        auth.arg(u);
    }
    auth.arg(pass.expose());
    let plaintext = link.is_plaintext();
    let replies = link
        .exchange(&[auth])
        .map_err(|e| transport(at, &e, plaintext))?;
    match replies.first() {
        Some(Value::ServerError(e)) => {
            Err(refusal(at, user, e.code(), e.details().unwrap_or_default()))
        }
        Some(_) => Ok(()),
        None => Err(format!(
            "unexpected reply to AUTH from the replica {at}: none"
        )),
    }
}

/// A failure on the connection, as an operator sentence.
fn transport(at: &Endpoint, e: &PollError, plaintext: bool) -> String {
    match e.kind {
        PollErrorKind::Timeout => format!("the replica {at} did not answer within the timeout"),
        PollErrorKind::Tls => format!("TLS to the replica {at}: {e}"),
        PollErrorKind::Reply => format!("unexpected reply from the replica {at}: {e}"),
        _ if plaintext => format!(
            "the connection to the replica {at} failed ({e}): if the replica accepts TLS only, set tls-replication yes on this server"
        ),
        _ => format!("the connection to the replica {at} failed: {e}"),
    }
}

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WitnessError {
    /// An error reply: its code and the rest of its words.
    Refused { code: String, detail: String },
    /// Not the shape `VIP.WITNESS` answers with.
    Malformed(String),
}

impl WitnessError {
    fn words(&self, at: &Endpoint, user: Option<&str>) -> String {
        match self {
            WitnessError::Refused { code, detail } => refusal(at, user, code, detail),
            WitnessError::Malformed(what) => {
                format!("unexpected reply to VIP.WITNESS from the replica {at}: {what}")
            }
        }
    }
}

/// An error reply from a replica, as an operator sentence: the cause and the fix.
fn refusal(at: &Endpoint, user: Option<&str>, code: &str, detail: &str) -> String {
    let who = user.unwrap_or("default");
    let detail: String = detail.chars().take(200).collect();
    match code {
        "NOAUTH" => format!(
            "the replica {at} requires a password: set masterauth (and masteruser) on this server to the replication credentials the replicas accept"
        ),
        "WRONGPASS" => format!(
            "the replica {at} refused the credentials of user {who}: masteruser and masterauth on this server must be the replication credentials the replicas accept"
        ),
        "NOPERM" => format!(
            "the replica {at} refuses VIP.WITNESS to user {who}: allow it with ACL SETUSER {who} +vip.witness on every replica (or +@vip where the server has module ACL categories), in its ACL file too"
        ),
        "LOADING" => format!("the replica {at} is loading its data set"),
        "ERR" if detail.starts_with("unknown command") => format!(
            "the replica {at} does not know VIP.WITNESS: it does not run redis-vip {} or later (with the failsafe), as this node does",
            env!("CARGO_PKG_VERSION")
        ),
        "ERR" if detail.starts_with("AUTH") => format!(
            "the replica {at} has no password set, but this server sends masterauth: give the replica the same credentials, or clear masterauth here"
        ),
        _ => format!("the replica {at} answered: {code} {detail}"),
    }
}

/// A text element of a reply.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// `VIP.WITNESS`'s answer: `["follows", <granted-ms>]`, `["promoted", ""]`,
/// `["follows-other", "<host:port>"]`, `["not-following", "<reason>"]`,
/// `["reported-down", "<what its Sentinels report>"]`, or an error reply.
fn parse_reply(v: &Value) -> Result<Reply, WitnessError> {
    let malformed = |what: &str| Err(WitnessError::Malformed(what.to_string()));
    let items = match v {
        Value::ServerError(e) => {
            return Err(WitnessError::Refused {
                code: e.code().to_string(),
                detail: e.details().unwrap_or_default().to_string(),
            })
        }
        Value::Array(items) => items,
        _ => return malformed("not an array"),
    };
    let [kind, detail] = items.as_slice() else {
        return malformed(&format!("{} elements, not 2", items.len()));
    };
    let Some(kind) = text(kind) else {
        return malformed("the first element is not text");
    };
    match kind.as_str() {
        "follows" => match detail {
            Value::Int(ms) if *ms >= 0 => Ok(Reply::Follows {
                granted_ms: (*ms as u64).min(super::MAX_LEASE_MS),
            }),
            _ => malformed("follows without a lease in milliseconds"),
        },
        other => {
            let detail = text(detail).unwrap_or_default();
            match other {
                "promoted" => Ok(Reply::Denied(Denial::Promoted)),
                "follows-other" => {
                    // the address, a space, the followed replid
                    let (master, replid) = detail.split_once(' ').unwrap_or((detail.as_str(), ""));
                    Ok(Reply::Denied(Denial::FollowsOther {
                        master: master.to_string(),
                        replid: replid.to_string(),
                    }))
                }
                "failing-over" => Ok(Reply::Denied(Denial::FailingOver(detail))),
                "not-following" => Ok(Reply::Denied(Denial::NotFollowing(detail))),
                "reported-down" => Ok(Reply::Denied(Denial::ReportedDown(detail))),
                _ => malformed(&format!(
                    "unknown answer '{}'",
                    other.chars().take(40).collect::<String>()
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn resp(bytes: &[u8]) -> Value {
        redis::parse_redis_value(bytes).unwrap()
    }

    fn at() -> Endpoint {
        Endpoint {
            ip: "192.0.2.2".into(),
            port: 6379,
        }
    }

    #[test]
    fn replies_are_read_from_their_bytes() {
        // (RESP bytes as the replica's module sends them, the reply)
        let cases: &[(&[u8], Reply)] = &[
            (
                b"*2\r\n$7\r\nfollows\r\n:1000\r\n",
                Reply::Follows { granted_ms: 1000 },
            ),
            (
                b"*2\r\n$7\r\nfollows\r\n:99999999\r\n",
                Reply::Follows {
                    granted_ms: crate::witness::MAX_LEASE_MS,
                },
            ),
            (
                b"*2\r\n$8\r\npromoted\r\n$0\r\n\r\n",
                Reply::Denied(Denial::Promoted),
            ),
            (
                b"*2\r\n$13\r\nfollows-other\r\n$14\r\n192.0.2.9:6379\r\n",
                Reply::Denied(Denial::FollowsOther {
                    master: "192.0.2.9:6379".into(),
                    replid: String::new(),
                }),
            ),
            (
                b"*2\r\n$13\r\nreported-down\r\n$13\r\nSentinel said\r\n",
                Reply::Denied(Denial::ReportedDown("Sentinel said".into())),
            ),
            (
                b"*2\r\n$13\r\nnot-following\r\n$27\r\nlink to 192.0.2.1:6379 down\r\n",
                Reply::Denied(Denial::NotFollowing("link to 192.0.2.1:6379 down".into())),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                &parse_reply(&resp(bytes)).unwrap(),
                want,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn replies_of_another_shape_are_named() {
        // (RESP bytes, the words of the error)
        let cases: &[(&[u8], &str)] = &[
            (b"+OK\r\n", "not an array"),
            (b"*1\r\n$7\r\nfollows\r\n", "1 elements, not 2"),
            (
                b"*2\r\n$7\r\nfollows\r\n$4\r\n1000\r\n",
                "follows without a lease in milliseconds",
            ),
            (b"*2\r\n:1\r\n:2\r\n", "the first element is not text"),
            (b"*2\r\n$5\r\nmaybe\r\n$0\r\n\r\n", "unknown answer 'maybe'"),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                parse_reply(&resp(bytes)),
                Err(WitnessError::Malformed(want.to_string())),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn error_replies_become_sentences_with_the_fix() {
        // (RESP error as Redis 7.0 / Valkey send it, user, words the sentence must hold)
        let cases: &[(&[u8], Option<&str>, &[&str])] = &[
            (
                b"-NOPERM User repl has no permissions to run the 'vip.witness' command\r\n",
                Some("repl"),
                &["192.0.2.2:6379", "ACL SETUSER repl +vip.witness", "+@vip"],
            ),
            (
                b"-NOPERM this user has no permissions to run the 'vip.witness' command\r\n",
                None,
                &["ACL SETUSER default +vip.witness"],
            ),
            (
                b"-NOAUTH Authentication required.\r\n",
                None,
                &["requires a password", "masterauth"],
            ),
            (
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                Some("repl"),
                &["user repl", "masteruser and masterauth"],
            ),
            (
                b"-ERR unknown command 'VIP.WITNESS', with args beginning with: 'aa' '1000' \r\n",
                None,
                &["does not know VIP.WITNESS", "or later (with the failsafe)"],
            ),
            (
                b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
                None,
                &["has no password set", "masterauth"],
            ),
            (
                b"-LOADING Redis is loading the dataset in memory\r\n",
                None,
                &["is loading its data set"],
            ),
            (
                b"-ERR VIP.WITNESS: the lease must be a positive number of milliseconds, got '0'\r\n",
                None,
                &["answered: ERR VIP.WITNESS: the lease must be"],
            ),
        ];
        for (bytes, user, words) in cases {
            let said = parse_reply(&resp(bytes)).unwrap_err().words(&at(), *user);
            for w in *words {
                assert!(said.contains(w), "{said:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn transport_failures_name_the_replica() {
        let timeout = PollError::timeout();
        assert_eq!(
            transport(&at(), &timeout, false),
            "the replica 192.0.2.2:6379 did not answer within the timeout"
        );
        let closed = PollError::new(PollErrorKind::Connect, "connection reset by peer");
        assert!(transport(&at(), &closed, true).contains("set tls-replication yes"));
    }

    struct Collect(Mutex<Vec<(Endpoint, Result<Reply, String>)>>);

    impl AnswerFeed for Arc<Collect> {
        fn answer(&self, from: Endpoint, _sent: Duration, result: Result<Reply, String>) -> bool {
            self.0.lock().unwrap().push((from, result));
            true
        }
    }

    #[test]
    #[ignore = "binds a local TCP port"]
    fn an_asker_reports_a_refused_connection_and_stops_when_told() {
        // A port nobody listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let collect = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut askers = Askers::new(Box::new(collect.clone()));
        let target = Endpoint {
            ip: "127.0.0.1".into(),
            port,
        };
        askers.apply(Some(WitnessPlan {
            targets: vec![target.clone()],
            question: super::super::Question {
                replid: "a".repeat(40),
                lease_ms: 1000,
            },
            interval_ms: 10,
            auth_user: None,
            auth_pass: None,
            tls: None,
        }));
        let deadline = mono() + Duration::from_secs(5);
        while collect.0.lock().unwrap().len() < 2 && mono() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        askers.apply(None);
        assert!(askers.running.is_empty());
        let got = collect.0.lock().unwrap().clone();
        assert!(got.len() >= 2, "{got:?}");
        let (from, result) = &got[0];
        assert_eq!(from, &target);
        let why = result.clone().unwrap_err();
        assert!(
            why.starts_with(&format!("cannot connect to the replica 127.0.0.1:{port}")),
            "{why}"
        );
    }

    /// A stand-in replica on a local port: answers `+OK` to AUTH and `reply` to every
    /// VIP.WITNESS; returns its port, what it read, and how many connections it accepted.
    fn stand_in(reply: &'static [u8]) -> (u16, Arc<Mutex<Vec<u8>>>, Arc<AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heard = Arc::new(Mutex::new(Vec::<u8>::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (h, a) = (heard.clone(), accepted.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                a.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                    h.lock().unwrap().extend_from_slice(&buf[..n]);
                    let mut out = Vec::new();
                    for _ in 0..chunk.matches("$4\r\nAUTH\r\n").count() {
                        out.extend_from_slice(b"+OK\r\n");
                    }
                    for _ in 0..chunk.matches("VIP.WITNESS").count() {
                        out.extend_from_slice(reply);
                    }
                    let _ = c.write_all(&out);
                }
            }
        });
        (port, heard, accepted)
    }

    fn plan(port: u16, pass: Option<&str>) -> WitnessPlan {
        WitnessPlan {
            targets: vec![Endpoint {
                ip: "127.0.0.1".into(),
                port,
            }],
            question: super::super::Question {
                replid: "ab".repeat(20),
                lease_ms: 1500,
            },
            interval_ms: 10,
            auth_user: None,
            auth_pass: pass.map(Secret::new),
            tls: None,
        }
    }

    /// Run one asker until it reported `n` times; what it reported.
    fn ask(plan: WitnessPlan, n: usize) -> Vec<(Endpoint, Result<Reply, String>)> {
        let collect = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut askers = Askers::new(Box::new(collect.clone()));
        askers.apply(Some(plan));
        let deadline = mono() + Duration::from_secs(5);
        while collect.0.lock().unwrap().len() < n && mono() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        askers.stop_all();
        let got = collect.0.lock().unwrap().clone();
        assert!(got.len() >= n, "{got:?}");
        got
    }

    #[test]
    #[ignore = "binds a local TCP port"]
    fn an_asker_authenticates_once_and_asks_on_its_kept_connection() {
        let (port, heard, accepted) = stand_in(b"*2\r\n$7\r\nfollows\r\n:1000\r\n");
        for (_, r) in ask(plan(port, Some("s3cret")), 3) {
            assert_eq!(r, Ok(Reply::Follows { granted_ms: 1000 }));
        }
        let heard = String::from_utf8_lossy(&heard.lock().unwrap()).into_owned();
        // the password alone (no masteruser), once, on the one connection
        assert_eq!(
            heard
                .matches("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n")
                .count(),
            1
        );
        let replid = "ab".repeat(20);
        assert!(heard.contains(&format!(
            "*3\r\n$11\r\nVIP.WITNESS\r\n$40\r\n{replid}\r\n$4\r\n1500\r\n"
        )));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[ignore = "binds a local TCP port"]
    fn an_error_reply_keeps_the_connection_and_names_the_rule() {
        let (port, _, accepted) =
            stand_in(b"-NOPERM this user has no permissions to run the 'vip.witness' command\r\n");
        for (_, r) in ask(plan(port, None), 3) {
            let why = r.unwrap_err();
            assert!(why.contains("ACL SETUSER default +vip.witness"), "{why}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
