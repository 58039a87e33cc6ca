//! Can clients connect to this server through the VIP? The VIP on the interface is no use when
//! the server does not listen on it (`bind` without the VIP: Debian's default is
//! `bind 127.0.0.1 -::1`) or refuses remote clients (`protected-mode yes` while the default
//! user has no password). Pure: the server's settings come in as data, read by the Redis glue
//! at load and after every `CONFIG SET`.

use std::net::IpAddr;

/// What the server listens on and whom it lets in, as its configuration says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listening {
    /// `bind`, as `CONFIG GET bind` gives it (space-separated; `-` marks an optional address;
    /// `*` every IPv4 address, `::*` every IPv6 address).
    pub bind: String,
    /// `protected-mode yes`.
    pub protected_mode: bool,
    /// The default user needs a password (`requirepass`, or an ACL password).
    pub default_user_has_password: bool,
}

/// Why a client could not connect through the VIP, with the fix.
pub fn problem(listening: &Listening, vips: &[IpAddr]) -> Option<String> {
    let unbound: Vec<String> = vips
        .iter()
        .filter(|v| !bound(&listening.bind, **v))
        .map(IpAddr::to_string)
        .collect();
    if !unbound.is_empty() {
        return Some(format!(
            "clients cannot connect through the VIP: the server does not listen on {} (bind {}); add it to bind, or bind every address (bind * -::*), e.g. CONFIG SET bind '{} {}' and CONFIG REWRITE",
            unbound.join(", "),
            if listening.bind.trim().is_empty() {
                "''"
            } else {
                listening.bind.trim()
            },
            listening.bind.trim(),
            unbound.join(" ")
        ));
    }
    if listening.protected_mode && !listening.default_user_has_password {
        return Some(
            "clients cannot connect through the VIP: protected-mode refuses clients from other hosts while the default user has no password; set requirepass (or an ACL user with a password), or protected-mode no"
                .to_string(),
        );
    }
    None
}

/// Does `bind` include `vip`? An empty `bind` listens nowhere but the defaults Redis applies
/// are `* -::*`; `CONFIG GET` shows them, so empty means what it says: nothing.
fn bound(bind: &str, vip: IpAddr) -> bool {
    bind.split_whitespace()
        .map(|a| a.strip_prefix('-').unwrap_or(a))
        .any(|a| match (a, vip) {
            ("*" | "0.0.0.0", IpAddr::V4(_)) => true,
            ("::*" | "::", IpAddr::V6(_)) => true,
            (addr, _) => addr.parse::<IpAddr>().is_ok_and(|ip| ip == vip),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(bind: &str, protected_mode: bool, password: bool) -> Listening {
        Listening {
            bind: bind.into(),
            protected_mode,
            default_user_has_password: password,
        }
    }

    #[test]
    fn the_vip_must_be_bound_and_let_in() {
        let v4: IpAddr = "192.0.2.100".parse().unwrap();
        let v6: IpAddr = "2001:db8::100".parse().unwrap();
        // (bind, protected-mode, password, VIPs, problem starts with / None)
        type Case<'a> = (&'a str, bool, bool, Vec<IpAddr>, Option<&'a str>);
        let cases: [Case; 11] = [
            ("* -::*", false, false, vec![v4, v6], None),
            ("0.0.0.0", false, false, vec![v4], None),
            ("192.0.2.11 192.0.2.100", false, false, vec![v4], None),
            ("-::*", false, false, vec![v6], None),
            ("2001:db8:0::100", false, false, vec![v6], None), // another spelling
            (
                "127.0.0.1 -::1",
                false,
                false,
                vec![v4],
                Some("clients cannot connect through the VIP: the server does not listen on 192.0.2.100 (bind 127.0.0.1 -::1); add it to bind, or bind every address (bind * -::*), e.g. CONFIG SET bind '127.0.0.1 -::1 192.0.2.100' and CONFIG REWRITE"),
            ),
            ("*", false, false, vec![v4, v6], Some("clients cannot connect through the VIP: the server does not listen on 2001:db8::100 (bind *)")),
            ("::", false, false, vec![v4], Some("clients cannot connect through the VIP: the server does not listen on 192.0.2.100")),
            ("", false, false, vec![v4], Some("clients cannot connect through the VIP: the server does not listen on 192.0.2.100 (bind '')")),
            ("* -::*", true, false, vec![v4], Some("clients cannot connect through the VIP: protected-mode refuses")),
            ("* -::*", true, true, vec![v4], None),
        ];
        for (bind, pm, pw, vips, want) in cases {
            let got = problem(&l(bind, pm, pw), &vips);
            match want {
                None => assert_eq!(got, None, "{bind:?}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.starts_with(w)),
                    "{bind:?}: {got:?}"
                ),
            }
        }
    }
}
