//! A command a Sentinel refuses by its ACL (NOPERM), worded with the rule to add.
//!
//! The module needs exactly these commands on a Sentinel (docs/operations.md, "The smallest
//! ACL user on the Sentinels"):
//! `ACL SETUSER <user> on ><password> +sentinel|myid +sentinel|master +sentinel|replicas
//! +sentinel|sentinels +client|setname` (`AUTH` is always allowed; a refused
//! `CLIENT SETNAME` is tolerated).

use super::error::{noperm_command, PollError, PollErrorKind};

/// The commands the pollers send, as ACL rules.
pub const NEEDED: &[&str] = &[
    "sentinel|myid",
    "sentinel|master",
    "sentinel|replicas",
    "sentinel|sentinels",
    "client|setname",
];

/// The command a NOPERM reply names: Redis 7.0 "NOPERM this user has no permissions to run
/// the 'sentinel|replicas' command", 7.2 and later "NOPERM User u has no permissions to run
/// the 'sentinel|replicas' command".
pub fn refused_command(text: &str) -> Option<&str> {
    text.strip_prefix("NOPERM").and_then(noperm_command)
}

/// The error for a NOPERM reply: the command refused, and the rule that allows it.
pub fn denied(text: &str, user: Option<&str>) -> Option<String> {
    let command = refused_command(text)?;
    let user = user.unwrap_or("default");
    Some(format!(
        "the Sentinel's ACL refuses '{command}' to user {user}: allow it with ACL SETUSER {user} +{command} on every Sentinel (and in its config file)"
    ))
}

/// A poll error, reworded when it is a NOPERM reply.
pub fn refine(e: PollError, user: Option<&str>) -> PollError {
    match denied(&e.text, user) {
        Some(text) => PollError {
            kind: PollErrorKind::Denied,
            text,
        },
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noperm_names_the_command_and_the_rule() {
        // (reply, command, user)
        let cases = [
            (
                "NOPERM this user has no permissions to run the 'sentinel|replicas' command",
                Some("sentinel|replicas"),
                Some("vip"),
            ),
            (
                "NOPERM User vip has no permissions to run the 'sentinel|myid' command",
                Some("sentinel|myid"),
                None,
            ),
            (
                "NOPERM this user has no permissions to access one of the keys",
                None,
                None,
            ),
            ("WRONGPASS invalid username-password pair", None, None),
        ];
        for (reply, command, user) in cases {
            assert_eq!(refused_command(reply), command, "{reply}");
            let text = denied(reply, user);
            assert_eq!(text.is_some(), command.is_some(), "{reply}");
            if let (Some(t), Some(c)) = (text, command) {
                let u = user.unwrap_or("default");
                assert!(t.contains(&format!("ACL SETUSER {u} +{c}")), "{t}");
            }
        }
        assert!(NEEDED.contains(&"sentinel|replicas"));
    }
}
