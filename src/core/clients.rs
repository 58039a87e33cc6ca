//! Can clients reach the server through the VIP? What the server listens on, and what was
//! last said about it.

use std::net::IpAddr;

use super::{Action, Level};
use crate::reach::{self, Listening};

/// The server's `bind` / protected mode, and the problem they make for the VIP.
#[derive(Debug, Default)]
pub(super) struct Clients {
    listening: Option<Listening>,
    /// Why clients could not connect through the VIP, as last said (None: they can).
    pub(super) problem: Option<String>,
}

impl Clients {
    /// The server's listening settings, at load or after a `CONFIG SET`.
    pub(super) fn heard(&mut self, listening: Listening, vips: &[IpAddr], out: &mut Vec<Action>) {
        self.listening = Some(listening);
        self.check(vips, out);
    }

    /// Compare the server's listening settings with the VIPs; say so when that changes.
    pub(super) fn check(&mut self, vips: &[IpAddr], out: &mut Vec<Action>) {
        let problem = self
            .listening
            .as_ref()
            .filter(|_| !vips.is_empty())
            .and_then(|l| reach::problem(l, vips));
        if problem == self.problem {
            return;
        }
        match &problem {
            Some(text) => out.push(Action::Log {
                level: Level::Warning,
                message: text.clone(),
            }),
            None if self.problem.is_some() => out.push(Action::Log {
                level: Level::Notice,
                message:
                    "clients can connect through the VIP again (bind and protected-mode allow it)"
                        .to_string(),
            }),
            None => {}
        }
        self.problem = problem;
    }
}
