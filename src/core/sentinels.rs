//! The Sentinel-confirmed mode as the core sees it: the view of every Sentinel's answers,
//! the lease it grants, the last fence, and what was said about the Sentinels' own state.

use std::time::Duration;

use super::{Action, Core, Decision, FaultKind, Level, Now};
use crate::config::{Mode, SentinelAddr, Settings};
use crate::sentinel::{Fence, Rules, SentinelView, Verdict};

/// The Sentinels' answers and the hold they allow.
#[derive(Debug)]
pub(super) struct Sentinels {
    pub(super) view: SentinelView,
    /// Until when the Sentinels' answers allow holding (Sentinel mode, while holding).
    pub(super) hold_until: Option<Duration>,
    /// The last fence, and its sentence as `reason` said it then.
    pub(super) last_fence: Option<(Fence, String)>,
    /// A `vip.quorum` that cannot work or weakens the guarantee (logged once, shown in
    /// `reason`).
    pub(super) quorum_warning: Option<String>,
    /// What was last said about cruft in the Sentinels' state (ghosts, unusable entries).
    cruft_said: Option<(bool, String)>,
}

impl Sentinels {
    pub(super) fn new(configured: &[SentinelAddr]) -> Sentinels {
        let mut view = SentinelView::default();
        view.set_configured(configured);
        Sentinels {
            view,
            hold_until: None,
            last_fence: None,
            quorum_warning: None,
            cruft_said: None,
        }
    }

    /// Log a quorum that cannot work or weakens the guarantee, once per wording.
    fn warn_quorum(&mut self, s: &Settings, out: &mut Vec<Action>) {
        let warning = (s.mode() == Mode::Sentinel)
            .then(|| self.view.quorum_warning(rules(s)))
            .flatten();
        if warning == self.quorum_warning {
            return;
        }
        if let Some(w) = &warning {
            out.push(Action::Log {
                level: Level::Warning,
                message: w.clone(),
            });
        }
        self.quorum_warning = warning;
    }

    /// Log cruft in the Sentinels' state (ghosts, unusable entries) when it changes.
    fn report_cruft(&mut self, s: &Settings, out: &mut Vec<Action>) {
        let cruft = match (&s.master_name, s.mode()) {
            (Some(name), Mode::Sentinel) => self.view.cruft(name),
            _ => None,
        };
        if cruft == self.cruft_said {
            return;
        }
        if let Some((needs_action, text)) = &cruft {
            out.push(Action::Log {
                level: if *needs_action {
                    Level::Warning
                } else {
                    Level::Notice
                },
                message: text.clone(),
            });
        }
        self.cruft_said = cruft;
    }
}

/// The view's rule as the settings set it.
pub(super) fn rules(s: &Settings) -> Rules {
    Rules {
        quorum: s.quorum,
        lease_ms: s.lease_ms,
    }
}

impl Core {
    pub(super) fn rules(&self) -> Rules {
        rules(&self.settings)
    }

    /// An answer, a failed poll or our own identity changed what the Sentinels say.
    pub(super) fn after_sentinel_news(&mut self, now: Now, out: &mut Vec<Action>) {
        self.sentinel_fault(now, out);
        if self.settings.mode() == Mode::Sentinel {
            self.decide(now, out);
        }
    }

    /// Faults of the Sentinel-confirmed mode that only the operator can fix, and what the
    /// operator should know about the Sentinels' quorum and state.
    pub(super) fn sentinel_fault(&mut self, now: Now, out: &mut Vec<Action>) {
        let fault = self.sentinel_config_fault(now);
        self.sentinels.warn_quorum(&self.settings, out);
        self.sentinels.report_cruft(&self.settings, out);
        match fault {
            // The same fault again is no failed retry of ours: the pollers retry on their own.
            Some(msg) if self.faults.message(FaultKind::Sentinel) == Some(msg.as_str()) => {}
            Some(msg) => self.set_fault(FaultKind::Sentinel, msg, now, out),
            None => self.clear_fault(FaultKind::Sentinel, out),
        }
    }

    fn sentinel_config_fault(&self, now: Now) -> Option<String> {
        let s = &self.settings;
        if !s.configured() {
            None
        } else if !s.announce && s.address_lifetime_s == 0 {
            Some("vip.address-lifetime-s 0 (permanent) is refused with vip.announce no: a node that crashes would keep announcing the route forever; set a lifetime (the default is 1)".to_string())
        } else if s.mode() != Mode::Sentinel {
            None
        } else if s.master_name.is_none() {
            Some("vip.master-name is required when vip.sentinels is set: set it to the name the Sentinels monitor (sentinel monitor <name> ...)".to_string())
        } else {
            self.sentinels.view.fault(now.mono)
        }
    }

    /// The Sentinels' verdict on a master that may hold.
    pub(super) fn sentinel_decision(&self, now: Now) -> Decision {
        match self.sentinels.view.verdict(now.mono, self.rules()) {
            Verdict::Hold { until, why } => Decision::Hold {
                until: Some(until),
                why: why.to_string(),
                failsafe: false,
            },
            Verdict::Refuse { fence, why } => Decision::Refuse {
                why: if fence.is_some() {
                    format!("fenced: {why}")
                } else {
                    format!("waiting: {why}")
                },
                fence,
                explains_standby: true,
            },
        }
    }

    /// The config epoch under which the Sentinels name this node master, for the channel
    /// (`-`: unknown, or basic mode).
    pub(super) fn epoch_text(&self) -> String {
        match self.sentinels.view.epoch_naming_us(self.rules()) {
            Some(e) if self.settings.mode() == Mode::Sentinel => e.to_string(),
            _ => "-".to_string(),
        }
    }
}
