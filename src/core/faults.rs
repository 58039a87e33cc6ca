//! Faults by kind: each keeps its text (with the fix), clears on its own kind of success,
//! backs off, and is logged once per distinct message.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Action, Core, Level, Now, Publication};
use crate::config::Vip;
use crate::error::OsError;

/// What failed, so that each kind clears on its own kind of success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum FaultKind {
    Capability,
    Observe,
    Link,
    Address,
    Announce,
    /// The Sentinel-confirmed mode cannot work as configured (master name missing,
    /// authentication refused, no such master, no Sentinel answering).
    Sentinel,
    /// The packet listener cannot be opened: conflict detection is off.
    Listen,
}

/// A fault in force: its text (with the fix) and when it was raised (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    pub(super) message: String,
    since_ms: u64,
}

const RETRY_FIRST_MS: u64 = 250;
const RETRY_MAX_MS: u64 = 5000;

/// How a raised fault compares with the one of its kind already in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Raised {
    /// None was in force: a new error.
    New,
    /// The same kind in other words (another errno, another Sentinel first in line).
    Reworded,
    /// The same words again: a failed retry.
    Same,
}

/// The faults in force, the last one raised, and the backoff.
#[derive(Debug, Default)]
pub(super) struct Faults {
    active: BTreeMap<FaultKind, Fault>,
    /// The fault in force, or when none the last one raised, and when it was raised (unix
    /// ms, 0 never): kept after it clears, so the operator who looks later still sees it.
    pub(super) last_error: String,
    pub(super) last_error_ms: u64,
    retry_ms: u64,
}

impl Faults {
    /// Put a fault of `kind` in force (or keep it) and move the backoff on.
    pub(super) fn raise(&mut self, kind: FaultKind, message: &str, now_ms: u64) -> Raised {
        let raised = match self.active.get(&kind) {
            None => Raised::New,
            Some(f) if f.message != message => Raised::Reworded,
            Some(_) => Raised::Same,
        };
        if raised == Raised::Same {
            // The same fault again: back off further.
            self.retry_ms = (self.retry_ms * 2).clamp(RETRY_FIRST_MS, RETRY_MAX_MS);
            return raised;
        }
        self.last_error = message.to_string();
        self.last_error_ms = now_ms;
        self.active.insert(
            kind,
            Fault {
                message: message.to_string(),
                since_ms: now_ms,
            },
        );
        if self.retry_ms == 0 {
            self.retry_ms = RETRY_FIRST_MS;
        }
        raised
    }

    pub(super) fn remove(&mut self, kind: FaultKind) -> Option<Fault> {
        let fault = self.active.remove(&kind)?;
        if self.active.is_empty() {
            self.retry_ms = 0;
        }
        // `last_error` keeps the cleared fault as history, unless another is still in
        // force: then it names that one (the latest raised), so that `error_active 1` never
        // points at a cause that is gone.
        if let Some(other) = self.active.values().max_by_key(|f| f.since_ms) {
            self.last_error = other.message.clone();
            self.last_error_ms = other.since_ms;
        }
        Some(fault)
    }

    pub(super) fn any(&self) -> bool {
        !self.active.is_empty()
    }

    pub(super) fn has(&self, kind: FaultKind) -> bool {
        self.active.contains_key(&kind)
    }

    pub(super) fn message(&self, kind: FaultKind) -> Option<&str> {
        self.active.get(&kind).map(|f| f.message.as_str())
    }

    pub(super) fn kinds(&self) -> Vec<FaultKind> {
        self.active.keys().copied().collect()
    }

    /// When to look again after the last raise.
    pub(super) fn retry_after(&self) -> Duration {
        Duration::from_millis(self.retry_ms)
    }

    /// The look interval while a fault is in force.
    pub(super) fn backoff(&self) -> Duration {
        Duration::from_millis(self.retry_ms.max(RETRY_FIRST_MS))
    }

    /// A new configuration: the next fault starts the backoff afresh.
    pub(super) fn restart_backoff(&mut self) {
        self.retry_ms = 0;
    }
}

impl Core {
    /// Raise a fault of `kind`. A kind that comes into force is an error (`errors`); the
    /// same kind again with another wording (another errno, another Sentinel's error first
    /// in line) is the same error, logged and shown but not counted again.
    pub(super) fn set_fault(
        &mut self,
        kind: FaultKind,
        msg: String,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let raised = self.faults.raise(kind, &msg, now.unix_ms);
        if raised != Raised::Same {
            if raised == Raised::New {
                self.counters.errors += 1;
            }
            out.push(Action::Log {
                level: Level::Warning,
                message: msg.clone(),
            });
            self.publish(Publication::Error, &msg, now, out);
        }
        self.kernel.next_observe = now.mono + self.faults.retry_after();
    }

    pub(super) fn clear_fault(&mut self, kind: FaultKind, out: &mut Vec<Action>) {
        if let Some(fault) = self.faults.remove(kind) {
            out.push(Action::Log {
                level: Level::Notice,
                message: format!("recovered: {}", fault.message),
            });
        }
    }

    /// End a fault that no longer matters (nothing left to announce or to watch, the
    /// module disabled): no "recovered" line, since it was not fixed.
    pub(super) fn drop_fault(&mut self, kind: FaultKind) {
        self.faults.remove(kind);
    }

    pub(super) fn observe_failed(&mut self, error: OsError, now: Now, out: &mut Vec<Action>) {
        let msg = describe(&error, None, &self.settings.interface);
        self.set_fault(FaultKind::Observe, msg, now, out);
    }

    pub(super) fn listening(
        &mut self,
        result: Result<(), OsError>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        match result {
            Ok(()) => self.clear_fault(FaultKind::Listen, out),
            Err(error) => {
                let msg = format!(
                    "conflict detection is off: {}",
                    describe(&error, None, &self.settings.interface)
                );
                self.set_fault(FaultKind::Listen, msg, now, out);
            }
        }
    }

    pub(super) fn action_failed(
        &mut self,
        action: Action,
        error: OsError,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let iface = self.settings.interface.clone();
        match &action {
            Action::Add { vip, .. } => {
                self.kernel.present.retain(|v| v != vip);
                let msg = describe(&error, Some(*vip), &iface);
                self.set_fault(FaultKind::Address, msg, now, out);
                // Look again soon: the address may need re-adding with its announcements.
                self.schedule.forget(*vip);
            }
            Action::Delete { vip, .. } => {
                self.kernel.note_present(*vip);
                let msg = describe(&error, Some(*vip), &iface);
                self.set_fault(FaultKind::Address, msg, now, out);
            }
            Action::Announce { vip, .. } => {
                let msg = describe(&error, Some(*vip), &iface);
                self.set_fault(FaultKind::Announce, msg, now, out);
            }
            // Observe answers with ObserveFailed; the others cannot fail.
            Action::Observe
            | Action::Log { .. }
            | Action::Sentinels(_)
            | Action::Witnesses(_)
            | Action::PollNow
            | Action::PollInterval(_)
            | Action::Listen(_)
            | Action::Publish(_) => {}
        }
        if self.shutting_down {
            self.finished = true;
        }
    }
}

/// Turn an errno into a sentence with the fix in it; `vip` names the address the operation
/// was about (None: the interface as a whole).
pub fn describe(error: &OsError, vip: Option<Vip>, iface: &str) -> String {
    let op = error.op.as_str();
    let what = match vip {
        None => op.to_string(),
        Some(vip) => format!("{op} {vip} on {iface}"),
    };
    match error.errno() {
        Some(libc::EPERM | libc::EACCES) => format!(
            "{what}: permission denied: redis-server needs CAP_NET_ADMIN and CAP_NET_RAW (missing {}): see README#deployment",
            error.op.capability().as_str()
        ),
        Some(libc::ENODEV | libc::ENXIO) => format!(
            "{what}: interface '{iface}' not found: create it or set vip.interface to an existing interface"
        ),
        Some(libc::EAFNOSUPPORT) => format!(
            "{what}: address family not allowed: systemd's RestrictAddressFamilies must allow AF_NETLINK and AF_PACKET (see deploy/)"
        ),
        Some(libc::ENETDOWN) => format!("{what}: interface '{iface}' is down"),
        Some(libc::ERANGE) => format!("{what}: label too long for the kernel: set vip.label to 15 characters or fewer"),
        _ => error.to_string(),
    }
}
