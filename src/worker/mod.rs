//! The worker thread: runs the core, carries out its actions, publishes the status.
//!
//! ```text
//!  Redis main thread                      worker thread ("vip-worker")
//!  ─────────────────                      ───────────────────────────────────────────
//!  role event ─┐  Control: latest-value     loop {
//!  CONFIG SET ─┤   slots (Mutex, fixed  ──▶  control first: shutdown, settings, identity,
//!  VIP.WITNESS ┤   size) + doorbell (1)       clients, replication, witnessed, role
//!  cron, load ─┘                              (a shutdown jumps every queue)
//!                                           then the feed, else Tick at the deadline
//!  pollers ────┐                            core.handle(event, now) -> actions
//!  askers ─────┤                            run each action (system.rs): netlink,
//!  watcher ────┴─▶ feed (bounded 1024) ──▶  AF_PACKET, pollers, askers, listener, log
//!                  full: dropped + counted
//!  VIP.STATUS ◀── Mutex<Status> ◀──────────  publish the status snapshot
//!  INFO vip                               }
//! ```
//!
//! The main thread only writes a slot and rings; it never waits for the worker and never
//! fills a queue. A failing action stops its batch and comes back to the core as
//! `Event::Failed`, which decides about retries.

pub mod system;
pub mod watch;

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::{Settings, Vip};
use crate::core::{Action, Core, Event, ListenSpec, Now, Observation, Role, Status};
use crate::error::OsError;
use crate::sentinel::poller::{Feed, Finding};
use crate::sentinel::PollPlan;
use crate::threads;
pub use crate::threads::mono;
use crate::witness::{Replication, WitnessPlan};
use watch::WatchControl;

pub use crate::core::Level;

/// Where log lines go (the Redis log in production, a Vec in tests).
pub trait Log: Send {
    fn log(&self, level: Level, message: &str);
}

/// Every side effect the core can ask for. `system::Live` does them for real; the tests
/// use a fake kernel and run this very `process`.
pub trait System {
    /// Look at the interface; `announce`: the packet socket will be needed (open it ahead).
    fn observe(
        &mut self,
        interface: &str,
        vips: &[Vip],
        announce: bool,
    ) -> Result<Observation, OsError>;
    fn add(
        &mut self,
        ifindex: u32,
        vip: Vip,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError>;
    fn delete(&mut self, ifindex: u32, vip: Vip) -> Result<(), OsError>;
    fn announce(&mut self, ifindex: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError>;
    fn sentinels(&mut self, plan: Option<PollPlan>);
    fn poll_now(&mut self);
    fn poll_interval(&mut self, interval: Duration);
    fn listen(&mut self, spec: Option<ListenSpec>);
    /// Ask these witnesses from now on (None: ask none): the failsafe's askers.
    fn witnesses(&mut self, plan: Option<WitnessPlan>);
    fn publish(&mut self, line: String);
    fn log(&self, level: Level, message: &str);
}

/// The time, as the core wants it.
pub trait Clock {
    fn now(&self) -> Now;
}

/// The process's own clock.
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Now {
        now()
    }
}

/// Monotonic time since the first call, and wall-clock milliseconds.
pub fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Now {
        mono: mono(),
        unix_ms,
    }
}

/// Carry out one action; `Ok(Some(event))` feeds a result back to the core.
fn perform(
    sys: &mut dyn System,
    core: &Core,
    action: &Action,
    clock: &dyn Clock,
) -> Result<Option<Event>, OsError> {
    match action {
        Action::Observe => {
            let s = core.settings();
            match sys.observe(&s.interface, &s.addresses, s.announce) {
                Ok(obs) => Ok(Some(Event::Observed(obs))),
                Err(e) => Ok(Some(Event::ObserveFailed(e))),
            }
        }
        Action::Add {
            vip,
            ifindex,
            lifetime_s,
            label,
        } => sys
            .add(*ifindex, *vip, *lifetime_s, label.as_deref())
            .map(|_| Some(Event::Added(*vip))),
        Action::Delete { vip, ifindex } => sys.delete(*ifindex, *vip).map(|_| None),
        Action::Announce { vip, ifindex, mac } => sys.announce(*ifindex, *mac, *vip).map(|_| {
            Some(Event::Announced {
                at: clock.now().mono,
            })
        }),
        Action::Log { level, message } => {
            sys.log(*level, message);
            Ok(None)
        }
        Action::Sentinels(plan) => {
            sys.sentinels(plan.clone());
            Ok(None)
        }
        Action::PollNow => {
            sys.poll_now();
            Ok(None)
        }
        Action::PollInterval(d) => {
            sys.poll_interval(*d);
            Ok(None)
        }
        Action::Listen(spec) => {
            sys.listen(spec.clone());
            Ok(None)
        }
        Action::Witnesses(plan) => {
            sys.witnesses(plan.clone());
            Ok(None)
        }
        Action::Publish(line) => {
            sys.publish(line.clone());
            Ok(None)
        }
    }
}

/// Feed one event through the core and run everything that follows from it.
pub fn process(core: &mut Core, event: Event, sys: &mut dyn System, clock: &dyn Clock) {
    let mut queue = VecDeque::from([event]);
    // Every feedback event is an answer to an action; the bound only guards against a
    // logic error turning into an endless loop on the worker.
    let mut budget = 10_000u32;
    while let Some(event) = queue.pop_front() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            sys.log(
                Level::Warning,
                "internal: event loop did not settle; continuing at the next tick",
            );
            return;
        }
        let actions = core.handle(event, clock.now());
        let mut failed = false;
        for action in actions {
            // After a failure only the log lines of the batch still run.
            if failed && !matches!(action, Action::Log { .. }) {
                continue;
            }
            match perform(sys, core, &action, clock) {
                Ok(Some(feedback)) => queue.push_back(feedback),
                Ok(None) => {}
                Err(error) => {
                    queue.push_back(Event::Failed { action, error });
                    failed = true;
                }
            }
        }
    }
}

/// What the main thread tells the worker. Each kind is kept as its latest value (a shutdown
/// jumps them all); the worker turns them into core events in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Shutdown,
    Settings(Box<Settings>),
    Identity(crate::sentinel::Me),
    Clients(crate::reach::Listening),
    /// This server's `INFO replication`, sent when it changed.
    Replication(Box<Replication>),
    /// This replica confirmed to its master (`VIP.WITNESS`): no claim before `until`.
    Witnessed {
        until: Duration,
    },
    Role {
        role: Role,
        at: Duration,
        loaded: bool,
    },
}

/// What the main thread has to say, kept as the latest value of each kind: a fixed amount
/// of memory however often the role flips or configs change while the worker is busy.
#[derive(Default)]
struct Slots {
    shutdown: bool,
    settings: Option<Box<Settings>>,
    identity: Option<crate::sentinel::Me>,
    clients: Option<crate::reach::Listening>,
    replication: Option<Box<Replication>>,
    witnessed: Option<Duration>,
    role: Option<(Role, Duration, bool)>,
}

/// The ways into the worker: control slots for the main thread, a bounded feed for the
/// pollers and the watcher. Cloned into every thread that reports.
#[derive(Clone)]
pub struct Inbox {
    slots: Arc<Mutex<Slots>>,
    doorbell: Sender<()>,
    feed: Sender<Event>,
    dropped: Arc<AtomicU64>,
}

/// The worker's side of the inbox.
struct Mailbox {
    slots: Arc<Mutex<Slots>>,
    doorbell: Receiver<()>,
    feed: Receiver<Event>,
    dropped: Arc<AtomicU64>,
}

/// Pollers answer 10-100 times a second each; the worker takes microseconds per answer.
/// A worker stuck this far behind drops the surplus: the next answer carries the same news.
const FEED_CAPACITY: usize = 1024;

fn inbox() -> (Inbox, Mailbox) {
    let slots = Arc::new(Mutex::new(Slots::default()));
    let (bell_tx, bell_rx) = crossbeam_channel::bounded(1);
    let (feed_tx, feed_rx) = crossbeam_channel::bounded(FEED_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        Inbox {
            slots: slots.clone(),
            doorbell: bell_tx,
            feed: feed_tx,
            dropped: dropped.clone(),
        },
        Mailbox {
            slots,
            doorbell: bell_rx,
            feed: feed_rx,
            dropped,
        },
    )
}

impl Inbox {
    /// An inbox whose worker is gone (for tests of the threads that report).
    #[cfg(test)]
    pub fn detached() -> Inbox {
        inbox().0
    }

    /// From the main thread: never blocks (the slot lock is held by the worker only to
    /// swap the values out), never grows.
    pub fn control(&self, control: Control) {
        if let Ok(mut s) = self.slots.lock() {
            match control {
                Control::Shutdown => s.shutdown = true,
                Control::Settings(new) => s.settings = Some(new),
                Control::Identity(me) => s.identity = Some(me),
                Control::Clients(l) => s.clients = Some(l),
                Control::Replication(r) => s.replication = Some(r),
                // Two promises not yet handed over: the one that ends later holds (a
                // promise once given is never shortened).
                Control::Witnessed { until } => {
                    s.witnessed = Some(s.witnessed.map_or(until, |old| old.max(until)));
                }
                Control::Role { role, at, loaded } => {
                    let loaded = loaded || s.role.is_some_and(|(_, _, l)| l);
                    s.role = Some((role, at, loaded));
                }
            }
        }
        let _ = self.doorbell.try_send(());
    }

    /// From a poller or the watcher. False once the worker is gone (stop reporting).
    pub fn send_feed(&self, event: Event) -> bool {
        match self.feed.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The pollers report into the feed like every other thread.
impl Feed for Inbox {
    fn report(&self, finding: Finding) -> bool {
        self.send_feed(match finding {
            Finding::Answer { from, heard } => Event::SentinelAnswer { from, heard },
            Finding::Failed { from, at, error } => Event::SentinelFailed { from, at, error },
        })
    }
}

/// The witness askers report into the same feed.
impl crate::witness::asker::AnswerFeed for Inbox {
    fn answer(
        &self,
        from: crate::witness::Endpoint,
        sent: Duration,
        result: Result<crate::witness::Reply, String>,
    ) -> bool {
        self.send_feed(Event::WitnessAnswer { from, sent, result })
    }
}

impl Mailbox {
    /// The control events waiting, in the order they must apply; a shutdown alone.
    fn take_control(&self) -> Vec<Event> {
        let Ok(mut s) = self.slots.lock() else {
            return vec![Event::Shutdown];
        };
        if s.shutdown {
            return vec![Event::Shutdown];
        }
        let mut out = Vec::new();
        if let Some(settings) = s.settings.take() {
            out.push(Event::Settings(settings));
        }
        if let Some(me) = s.identity.take() {
            out.push(Event::Identity(me));
        }
        if let Some(l) = s.clients.take() {
            out.push(Event::Clients(l));
        }
        if let Some(r) = s.replication.take() {
            out.push(Event::Replication(r));
        }
        // A promise given before a role change must reach the core before that change:
        // a replica that confirmed `VIP.WITNESS` and is then promoted (both written by the
        // main thread while the worker was busy) must already know, when it hears it was
        // promoted, that it may not claim yet. Slots lose their arrival order, so the
        // fixed order here is what guarantees it: witnessed before role, always.
        if let Some(until) = s.witnessed.take() {
            out.push(Event::Witnessed { until });
        }
        if let Some((role, at, loaded)) = s.role.take() {
            out.push(Event::Role { role, at, loaded });
        }
        out
    }

    /// The next events: control first, then the feed, else a tick at the deadline.
    fn next(&self, deadline: Option<Duration>) -> Vec<Event> {
        if self.doorbell.try_recv().is_ok() {
            let control = self.take_control();
            if !control.is_empty() {
                return control;
            }
        }
        if let Ok(e) = self.feed.try_recv() {
            return vec![e];
        }
        let wait = deadline.map(|d| d.saturating_sub(mono()));
        let timeout = match wait {
            Some(w) => crossbeam_channel::after(w),
            None => crossbeam_channel::never(),
        };
        crossbeam_channel::select! {
            recv(self.doorbell) -> _ => self.take_control(),
            recv(self.feed) -> e => e.map(|e| vec![e]).unwrap_or_default(),
            recv(timeout) -> _ => vec![Event::Tick],
        }
    }
}

/// The running worker, owned by the Redis glue.
pub struct Handle {
    inbox: Inbox,
    thread: Option<JoinHandle<()>>,
    watcher: Option<(JoinHandle<()>, Arc<WatchControl>)>,
}

impl Handle {
    /// Never blocks.
    pub fn send(&self, control: Control) {
        self.inbox.control(control);
    }

    /// Ask the worker to shut down (releasing per vip.release-on-shutdown) and wait for it.
    /// The shutdown jumps every queue; bounded by the netlink reply timeout and the
    /// pollers' connect timeout.
    pub fn stop(mut self) {
        self.inbox.control(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some((t, control)) = self.watcher.take() {
            control.stop();
            let _ = t.join();
        }
    }
}

/// Start the worker (and the watcher) with the events known at load.
pub fn spawn(
    settings: Settings,
    first: Vec<Control>,
    log: Box<dyn Log>,
    sink: system::Sink,
    status: Arc<Mutex<Status>>,
) -> io::Result<Handle> {
    let (inbox, mailbox) = inbox();
    for e in first {
        inbox.control(e);
    }
    let control = Arc::new(WatchControl::new());
    let watcher = {
        let inbox = inbox.clone();
        let theirs = control.clone();
        threads::spawn("vip-watch", move || watch::watch(inbox, theirs))
            .ok()
            .map(|t| (t, control))
    };
    let live = system::Live::new(
        inbox.clone(),
        watcher.as_ref().map(|(_, c)| c.clone()),
        log,
        sink,
    );
    let thread = match threads::spawn("vip-worker", move || {
        run(Core::new(settings), mailbox, live, status)
    }) {
        Ok(t) => t,
        Err(e) => {
            if let Some((t, c)) = watcher {
                c.stop();
                let _ = t.join();
            }
            return Err(e);
        }
    };
    Ok(Handle {
        inbox,
        thread: Some(thread),
        watcher,
    })
}

fn run(mut core: Core, mailbox: Mailbox, mut live: system::Live, status: Arc<Mutex<Status>>) {
    let mut spins = 0u32;
    loop {
        let mut deadline = core.next_deadline();
        if deadline.is_some_and(|d| d <= mono()) {
            spins += 1;
            if spins > 100 {
                // Guard against a deadline the core fails to advance.
                deadline = Some(mono() + Duration::from_millis(10));
            }
        } else {
            spins = 0;
        }
        for event in mailbox.next(deadline) {
            // A bug must not kill the thread silently (or, worse, unwind into Redis): log
            // it and carry on with the next event.
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process(&mut core, event, &mut live, &RealClock)
            }));
            if let Err(panic) = step {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                live.log(
                    Level::Warning,
                    &format!("internal error in the worker: {what}"),
                );
            }
        }
        if let Ok(mut s) = status.lock() {
            *s = core.status(now());
            s.inbox_dropped = mailbox.dropped.load(Ordering::Relaxed);
        }
        if core.finished() {
            live.pollers.stop_all();
            live.askers.stop_all();
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(role: Role, ms: u64, loaded: bool) -> Control {
        Control::Role {
            role,
            at: Duration::from_millis(ms),
            loaded,
        }
    }

    #[test]
    fn control_events_coalesce_and_a_shutdown_jumps_the_queue() {
        let (inbox, mailbox) = inbox();
        inbox.control(role(Role::Master, 1, true));
        inbox.control(role(Role::Replica, 2, false));
        inbox.control(Control::Identity(crate::sentinel::Me {
            runid: "a".into(),
            ..Default::default()
        }));
        for i in 0..5000 {
            // A flood of feed events: most are dropped and counted, none blocks.
            assert!(inbox.send_feed(Event::NetChanged), "{i}");
        }
        assert_eq!(
            mailbox.dropped.load(Ordering::Relaxed),
            (5000 - FEED_CAPACITY) as u64
        );
        let got = mailbox.next(None);
        assert_eq!(
            got,
            vec![
                Event::Identity(crate::sentinel::Me {
                    runid: "a".into(),
                    ..Default::default()
                }),
                Event::Role {
                    role: Role::Replica,
                    at: Duration::from_millis(2),
                    loaded: true
                },
            ]
        );
        inbox.control(Control::Settings(Box::default()));
        inbox.control(Control::Shutdown);
        assert_eq!(mailbox.next(None), vec![Event::Shutdown]);
    }

    #[test]
    fn a_promise_reaches_the_core_before_a_role_change_sent_after_it() {
        // VIP.WITNESS confirmed, then the node was promoted, both while the worker was
        // busy: the core must hear the promise first, or it could claim at the promotion.
        let (inbox, mailbox) = inbox();
        inbox.control(Control::Witnessed {
            until: Duration::from_millis(900),
        });
        inbox.control(role(Role::Master, 5, false));
        inbox.control(Control::Witnessed {
            until: Duration::from_millis(700),
        });
        inbox.control(Control::Replication(Box::default()));
        assert_eq!(
            mailbox.next(None),
            vec![
                Event::Replication(Box::default()),
                // two promises coalesced: the one that ends later holds
                Event::Witnessed {
                    until: Duration::from_millis(900)
                },
                Event::Role {
                    role: Role::Master,
                    at: Duration::from_millis(5),
                    loaded: false
                },
            ]
        );
    }

    #[test]
    fn a_feed_without_a_worker_tells_the_sender_to_stop() {
        let (inbox, mailbox) = inbox();
        drop(mailbox);
        assert!(!inbox.send_feed(Event::NetChanged));
    }
}
