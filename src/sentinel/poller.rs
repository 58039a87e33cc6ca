//! Asking the Sentinels: one thread per Sentinel, each with its own connection.
//!
//! ```text
//!  worker ── Action::Sentinels / PollNow / PollInterval ──▶ Pollers (reconcile threads)
//!                                                            │ Ctl (PollNow, Stop)
//!                                    ┌───────────────────────┼──────────────────────┐
//!                               vip-sentinel-0          vip-sentinel-1          vip-sentinel-2
//!                               connect+AUTH (timeout), then every poll interval:
//!                               SENTINEL MASTER / REPLICAS [/ SENTINELS] name, pipelined
//!                                    │ Finding::Answer / Failed (the Feed)
//!                                    └──────────────────────▶ worker channel
//! ```
//!
//! A Sentinel that is dead, stopped or slow only ever holds up its own thread: every
//! connect and read has a timeout, and the others keep polling. The decisions are not
//! made here; findings go to the worker's feed (`Feed`), and from there to the core as events.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::Value;

use super::acl;
use super::answer::{self, Answer, ReplyError};
use super::error::{PollError, PollErrorKind};
use super::tls::{self, Stream, Tls};
use super::view::Heard;
use super::PollPlan;
use crate::config::{SentinelAddr, Settings};
use crate::threads::{self, mono};

/// How often a poller also asks `SENTINEL SENTINELS` (to learn peers).
const PEERS_EVERY: Duration = Duration::from_secs(5);

/// What a poller found out: data for the core, nothing decided here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Answer {
        from: SentinelAddr,
        heard: Box<Heard>,
    },
    Failed {
        from: SentinelAddr,
        at: Duration,
        error: PollError,
    },
}

/// Where the pollers report (the worker's bounded feed). Never blocks; false once nobody
/// listens any more (the poller then stops).
pub trait Feed: Send + Sync {
    fn report(&self, finding: Finding) -> bool;
}

enum Ctl {
    PollNow,
    Stop,
}

struct Poller {
    tx: Sender<Ctl>,
    thread: Option<JoinHandle<()>>,
    socket: Arc<Mutex<Option<TcpStream>>>,
    stopping: Arc<AtomicBool>,
}

/// The running pollers, owned by the worker thread.
pub struct Pollers {
    feed: Arc<dyn Feed>,
    plan: Option<PollPlan>,
    running: BTreeMap<SentinelAddr, Poller>,
    interval_ms: Arc<AtomicU64>,
}

impl Pollers {
    pub fn new(feed: Box<dyn Feed>) -> Pollers {
        Pollers {
            feed: Arc::from(feed),
            plan: None,
            running: BTreeMap::new(),
            interval_ms: Arc::new(AtomicU64::new(Settings::default().poll_interval_ms)),
        }
    }

    /// Run exactly the pollers the plan names; credentials or a master name that changed
    /// restart them all.
    pub fn apply(&mut self, plan: Option<PollPlan>) {
        let restart_all = match (&self.plan, &plan) {
            (Some(old), Some(new)) => {
                old.master_name != new.master_name
                    || old.auth_user != new.auth_user
                    || old.auth_pass != new.auth_pass
                    || old.tls != new.tls
            }
            _ => true,
        };
        let keep: Vec<SentinelAddr> = match (&plan, restart_all) {
            (Some(p), false) => p.targets.clone(),
            _ => Vec::new(),
        };
        let gone: Vec<SentinelAddr> = self
            .running
            .keys()
            .filter(|a| !keep.contains(a))
            .cloned()
            .collect();
        for addr in gone {
            if let Some(p) = self.running.remove(&addr) {
                stop(p);
            }
        }
        if let Some(p) = &plan {
            for (i, addr) in p.targets.iter().enumerate() {
                if !self.running.contains_key(addr) {
                    self.start(i, addr, p);
                }
            }
        }
        self.plan = plan;
    }

    /// Start the poller of one Sentinel (the `i`th of the plan); a thread that cannot
    /// start is reported as that Sentinel's failure.
    fn start(&mut self, i: usize, addr: &SentinelAddr, plan: &PollPlan) {
        // Control messages are few (poll now, stop); a full queue already holds a
        // "poll now", so dropping one more changes nothing.
        let (tx, rx) = crossbeam_channel::bounded(4);
        let socket = Arc::new(Mutex::new(None));
        let stopping = Arc::new(AtomicBool::new(false));
        let job = Job {
            stopping: stopping.clone(),
            addr: addr.clone(),
            plan: plan.clone(),
            feed: self.feed.clone(),
            interval_ms: self.interval_ms.clone(),
            ctl: rx,
            socket: socket.clone(),
        };
        match threads::spawn(&format!("vip-sentinel-{i}"), move || job.run()) {
            Ok(t) => {
                let poller = Poller {
                    tx,
                    thread: Some(t),
                    socket,
                    stopping,
                };
                self.running.insert(addr.clone(), poller);
            }
            Err(e) => {
                self.feed.report(Finding::Failed {
                    from: addr.clone(),
                    at: mono(),
                    error: PollError::new(
                        PollErrorKind::Connect,
                        format!("cannot start a poller thread: {e}"),
                    ),
                });
            }
        }
    }

    pub fn poll_now(&self) {
        for p in self.running.values() {
            let _ = p.tx.try_send(Ctl::PollNow);
        }
    }

    /// Poll this often from now on. A shorter interval starts at once: a poller asleep until
    /// its next slow poll is woken (a failover has begun: every millisecond counts).
    pub fn set_interval(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let old = self.interval_ms.swap(ms, Ordering::Relaxed);
        if ms < old {
            self.poll_now();
        }
    }

    /// Stop every poller and wait for them: bounded by the connect and read timeouts.
    pub fn stop_all(&mut self) {
        let all: Vec<Poller> = std::mem::take(&mut self.running).into_values().collect();
        for p in &all {
            signal_stop(p);
        }
        for p in all {
            join(p);
        }
        self.plan = None;
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Tell a poller to stop and unblock it: a read waiting on a stopped Sentinel returns at
/// once when its socket is shut down.
fn signal_stop(p: &Poller) {
    p.stopping.store(true, Ordering::SeqCst);
    let _ = p.tx.try_send(Ctl::Stop);
    if let Ok(slot) = p.socket.lock() {
        if let Some(s) = slot.as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn stop(p: Poller) {
    signal_stop(&p);
    join(p);
}

fn join(mut p: Poller) {
    if let Some(t) = p.thread.take() {
        let _ = t.join();
    }
}

/// One poller's thread.
struct Job {
    addr: SentinelAddr,
    plan: PollPlan,
    feed: Arc<dyn Feed>,
    interval_ms: Arc<AtomicU64>,
    ctl: Receiver<Ctl>,
    /// A clone of the connected socket, so that `stop` can shut it down under a blocked read.
    socket: Arc<Mutex<Option<TcpStream>>>,
    stopping: Arc<AtomicBool>,
}

/// Connect and read timeouts: long enough for a Sentinel across a WAN, short enough that a
/// stopped one is given up on (and reconnected to) within a second, and that SHUTDOWN never
/// waits long for a poller stuck in connect.
pub fn timeouts(interval: Duration) -> (Duration, Duration) {
    let connect = (interval * 3).clamp(Duration::from_millis(200), Duration::from_millis(500));
    let read = (interval * 5).clamp(Duration::from_millis(500), Duration::from_secs(2));
    (connect, read)
}

/// The most bytes one poll may read: a Sentinel's answer is a few KiB; anything near this
/// is not a Sentinel, and a reply that would need more memory is refused, not buffered.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// A reader that fails once more than its budget has been read.
struct Budget<R> {
    inner: R,
    left: usize,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reply larger than {MAX_REPLY_BYTES} bytes"),
            ));
        }
        let n = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got;
        Ok(got)
    }
}

/// One RESP connection, plaintext or TLS, with the RESP parser of the `redis` crate (which
/// keeps any bytes read ahead between replies). The pollers and the witness askers
/// (`witness::asker`) both talk through it.
pub struct Link {
    conn: BufReader<Stream>,
    parser: redis::Parser,
}

impl Link {
    pub fn new(stream: Stream) -> Link {
        Link {
            conn: BufReader::new(stream),
            parser: redis::Parser::new(),
        }
    }

    pub fn is_plaintext(&self) -> bool {
        matches!(self.conn.get_ref(), Stream::Plain(_))
    }

    /// Send the commands in one write and read one reply each.
    pub fn exchange(&mut self, commands: &[redis::Cmd]) -> Result<Vec<Value>, PollError> {
        let mut packed = Vec::new();
        for c in commands {
            c.write_packed_command(&mut packed);
        }
        if let Err(e) = self.conn.get_mut().write_all(&packed) {
            return Err(self
                .conn
                .get_mut()
                .take_failure()
                .unwrap_or(PollError::io(&e)));
        }
        let mut budget = Budget {
            inner: &mut self.conn,
            left: MAX_REPLY_BYTES,
        };
        let mut out = Vec::with_capacity(commands.len());
        for _ in commands {
            match self.parser.parse_value(&mut budget) {
                Ok(v) => out.push(v),
                // A TLS alert behind the I/O error says more than the error itself.
                Err(e) => {
                    return Err(budget
                        .inner
                        .get_mut()
                        .take_failure()
                        .unwrap_or(PollError::reading(&e)))
                }
            }
        }
        Ok(out)
    }
}

/// One connection to a Sentinel, and what it told us about itself.
struct Session {
    link: Link,
    sentinel_runid: String,
    last_peers: Option<Duration>,
}

impl Session {
    fn exchange(&mut self, commands: &[redis::Cmd]) -> Result<Vec<Value>, PollError> {
        self.link.exchange(commands)
    }
}

/// Resolve (on the calling thread, never the main thread) and connect to the first address
/// that answers.
pub fn open_stream(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, PollError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            PollError::new(
                PollErrorKind::Connect,
                format!("cannot resolve {host}: {e}"),
            )
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => PollError::io(&e),
        None => PollError::new(
            PollErrorKind::Connect,
            format!("{host} resolves to no address"),
        ),
    })
}

pub fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::Cmd::new();
    for a in args {
        c.arg(*a);
    }
    c
}

impl Job {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed).max(1))
    }

    fn run(self) {
        let mut session: Option<Session> = None;
        let mut tls = self.plan.tls.clone().map(Tls::new);
        let mut next = mono();
        loop {
            let wait = next.saturating_sub(mono());
            match self.ctl.recv_timeout(wait) {
                Ok(Ctl::PollNow) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Ctl::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            // A Sentinel that took longer than a poll period to answer is asked again at
            // once: its late answer was already too old to count.
            next = mono() + self.interval();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.poll_once(&mut session, &mut tls)
            }));
            let finding = match outcome {
                Ok(Ok(heard)) => Finding::Answer {
                    from: self.addr.clone(),
                    heard: Box::new(heard),
                },
                Ok(Err(error)) => {
                    self.drop_session(&mut session);
                    Finding::Failed {
                        from: self.addr.clone(),
                        at: mono(),
                        // a NOPERM names the command and the ACL rule to add
                        error: acl::refine(error, self.plan.auth_user.as_deref()),
                    }
                }
                Err(_) => {
                    self.drop_session(&mut session);
                    Finding::Failed {
                        from: self.addr.clone(),
                        at: mono(),
                        error: PollError::new(PollErrorKind::Reply, "internal error while polling"),
                    }
                }
            };
            if !self.feed.report(finding) {
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

    fn connect(&self, tls: &mut Option<Tls>) -> Result<Session, PollError> {
        let (connect_timeout, read_timeout) = timeouts(self.interval());
        let stream = open_stream(&self.addr.host, self.addr.port, connect_timeout)?;
        let setup = |s: &TcpStream| -> io::Result<TcpStream> {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(read_timeout))?;
            s.set_write_timeout(Some(read_timeout))?;
            s.try_clone()
        };
        let stop_handle = setup(&stream).map_err(|e| PollError::io(&e))?;
        if let Ok(mut slot) = self.socket.lock() {
            *slot = Some(stop_handle);
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Err(PollError::new(PollErrorKind::Connect, "stopping"));
        }
        let stream = match tls {
            Some(t) => t.handshake(stream, &self.addr.host)?,
            None => Stream::Plain(stream),
        };
        let mut session = Session {
            link: Link::new(stream),
            sentinel_runid: String::new(),
            last_peers: None,
        };
        session.sentinel_runid = self.handshake(&mut session)?;
        Ok(session)
    }

    /// AUTH (when configured), CLIENT SETNAME and SENTINEL MYID, pipelined: the Sentinel's
    /// run id.
    fn handshake(&self, session: &mut Session) -> Result<String, PollError> {
        let mut commands = Vec::new();
        if let Some(pass) = &self.plan.auth_pass {
            let mut auth = cmd(&["AUTH"]);
            if let Some(user) = &self.plan.auth_user {
                auth.arg(user.as_str());
            }
            auth.arg(pass.expose());
            commands.push(auth);
        }
        commands.push(cmd(&["CLIENT", "SETNAME", "redis-vip"]));
        commands.push(cmd(&["SENTINEL", "MYID"]));
        let plaintext = session.link.is_plaintext();
        let replies = session.exchange(&commands).map_err(|e| {
            if plaintext {
                // a TLS-only Sentinel closes a plaintext connection at the first command
                tls::plaintext_to_tls_port(e)
            } else {
                e
            }
        })?;
        for (i, reply) in replies.iter().enumerate() {
            if let Value::ServerError(e) = reply {
                let is_auth = self.plan.auth_pass.is_some() && i == 0;
                // CLIENT SETNAME is a courtesy; anything else failing is not.
                if is_auth || i + 1 == replies.len() {
                    let mut err = PollError::refused(&answer::server_error(e));
                    if is_auth {
                        err.kind = PollErrorKind::Auth;
                    }
                    return Err(err);
                }
            }
        }
        let myid = replies.last().ok_or_else(|| {
            PollError::reply(&ReplyError::Malformed("no reply to SENTINEL MYID".into()))
        })?;
        answer::parse_myid(myid).map_err(|e| PollError::reply(&e))
    }

    fn poll_once(
        &self,
        session: &mut Option<Session>,
        tls: &mut Option<Tls>,
    ) -> Result<Heard, PollError> {
        // A TLS file changed: reconnect with it now (a broken renewal shows at once).
        if session.is_some() && tls.as_mut().is_some_and(|t| t.files_changed(mono())) {
            self.drop_session(session);
        }
        let s = match session {
            Some(s) => s,
            slot => slot.insert(self.connect(tls)?),
        };
        let name = self.plan.master_name.as_str();
        let sent = mono();
        let ask_peers = s
            .last_peers
            .is_none_or(|t| sent.saturating_sub(t) >= PEERS_EVERY);
        let mut commands = vec![
            cmd(&["SENTINEL", "MASTER", name]),
            cmd(&["SENTINEL", "REPLICAS", name]),
        ];
        if ask_peers {
            commands.push(cmd(&["SENTINEL", "SENTINELS", name]));
        }
        let replies = s.exchange(&commands)?;
        let received = mono();
        let master = answer::parse_master(&replies[0]).map_err(|e| PollError::reply(&e))?;
        // Unusable entries are skipped inside the lists; only a reply that is not a list
        // fails the poll (a replica list is needed whole: it carries the promoted flag).
        let replicas = answer::parse_replicas(&replies[1]).map_err(|e| PollError::reply(&e))?;
        let peers = match replies.get(2) {
            Some(v) => {
                s.last_peers = Some(sent);
                Some(answer::parse_peers(v).map_err(|e| PollError::reply(&e))?)
            }
            None => None,
        };
        let (peers, skipped_peers) = match peers {
            Some(l) => (Some(l.items), l.skipped),
            None => (None, Default::default()),
        };
        Ok(Heard {
            sent,
            received,
            answer: Answer {
                sentinel_runid: s.sentinel_runid.clone(),
                master,
                replicas: replicas.items,
                peers,
                skipped_replicas: replicas.skipped,
                skipped_peers,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_stay_within_bounds() {
        // (poll interval ms, connect ms, read ms)
        let cases = [(10, 200, 500), (100, 300, 500), (1000, 500, 2000)];
        for (interval, connect, read) in cases {
            let (c, r) = timeouts(Duration::from_millis(interval));
            assert_eq!(
                (c.as_millis(), r.as_millis()),
                (connect, read),
                "{interval}"
            );
        }
    }
}
