//! What the pollers and the listener were last told, so that only changes go out.

use std::time::Duration;

use super::{Action, Core, LinkState, ListenSpec};
use crate::config::Mode;
use crate::sentinel::PollPlan;
use crate::witness::WitnessPlan;

/// While a failover runs, every node polls this often: the old master must see the
/// leader's choice, and the new one its promotion, within milliseconds.
const FAILOVER_POLL: Duration = Duration::from_millis(10);

/// The last instruction sent to each adapter (None: none yet).
#[derive(Debug, Default)]
pub(super) struct Told {
    plan: Option<Option<PollPlan>>,
    interval: Option<Duration>,
    listen: Option<Option<ListenSpec>>,
    witnesses: Option<Option<WitnessPlan>>,
}

impl Told {
    fn plan(&mut self, plan: Option<PollPlan>, out: &mut Vec<Action>) {
        if self.plan.as_ref() != Some(&plan) {
            out.push(Action::Sentinels(plan.clone()));
            self.plan = Some(plan);
        }
    }

    fn interval(&mut self, interval: Duration, out: &mut Vec<Action>) {
        if self.interval != Some(interval) {
            out.push(Action::PollInterval(interval));
            self.interval = Some(interval);
        }
    }

    fn listen(&mut self, spec: Option<ListenSpec>, out: &mut Vec<Action>) {
        if self.listen.as_ref() != Some(&spec) {
            out.push(Action::Listen(spec.clone()));
            self.listen = Some(spec);
        }
    }

    fn witnesses(&mut self, plan: Option<WitnessPlan>, out: &mut Vec<Action>) {
        if self.witnesses.as_ref() != Some(&plan) {
            out.push(Action::Witnesses(plan.clone()));
            self.witnesses = Some(plan);
        }
    }

    /// Send the listener's instruction again at the next sync (it failed to open).
    pub(super) fn forget_listen(&mut self) {
        self.listen = None;
    }
}

impl Core {
    /// Tell the pollers and the listener what they should be doing, when that changed.
    pub(super) fn sync_adapters(&mut self, out: &mut Vec<Action>) {
        let plan = self.poll_plan();
        self.told.plan(plan, out);
        let interval = self.poll_interval();
        self.told.interval(interval, out);
        let listen = self.listen_spec();
        self.told.listen(listen, out);
        let witnesses = self.witness_plan();
        self.told.witnesses(witnesses, out);
    }

    /// Which Sentinels to poll, and how to log in (None: poll none).
    fn poll_plan(&self) -> Option<PollPlan> {
        let s = &self.settings;
        match (&s.master_name, s.mode()) {
            (Some(name), Mode::Sentinel) if s.enabled && !self.finished => Some(PollPlan {
                targets: self.sentinels.view.targets(),
                master_name: name.clone(),
                auth_user: s.auth_user.clone(),
                auth_pass: s.auth_pass.clone(),
                tls: s.sentinel_tls_plan(),
            }),
            _ => None,
        }
    }

    /// `vip.poll-interval-ms`, or faster while a failover is under way.
    fn poll_interval(&self) -> Duration {
        let normal = Duration::from_millis(self.settings.poll_interval_ms.max(1));
        if self.sentinels.view.failover_underway(self.now) {
            normal.min(FAILOVER_POLL)
        } else {
            normal
        }
    }

    /// What the listener watches: our VIPs on our interface while we hold and announce.
    fn listen_spec(&self) -> Option<ListenSpec> {
        match &self.kernel.link {
            Some(LinkState {
                index,
                mac: Some(mac),
                ..
            }) if self.holding && !self.finished && self.settings.announce => Some(ListenSpec {
                ifindex: *index,
                mac: *mac,
                addrs: self.vip_addrs(),
            }),
            _ => None,
        }
    }
}
