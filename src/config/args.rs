//! The loadmodule arguments: name/value pairs of the configs in the table, checked before
//! anything is registered, so that a typo fails the load with a sentence that names it.

use super::table::{find, yes_no, Config, Kind, CONFIGS};

/// Redis' own booleans: yes or no, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if text.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// Check the loadmodule arguments: name/value pairs of known configs, each at most once,
/// booleans yes or no, numbers within their bounds. Returns the pairs by the config's own
/// name, or the first problem in words that name it.
pub fn check_module_args(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in args.chunks(2) {
        let name = pair[0].as_str();
        let Some(config) = find(name) else {
            return Err(unknown_argument(name));
        };
        let known = config.name;
        let Some(value) = pair.get(1) else {
            return Err(format!(
                "argument '{name}' has no value: loadmodule takes name value pairs, such as address 192.0.2.100/24"
            ));
        };
        if out.iter().any(|(n, _)| n == known) {
            return Err(format!("argument '{known}' is given twice"));
        }
        check_value(config, value)?;
        out.push((known.to_string(), value.clone()));
    }
    Ok(out)
}

/// A boolean or a number the server would refuse (text is checked by its parser, when the
/// server sets it).
fn check_value(config: &Config, value: &str) -> Result<(), String> {
    let known = config.name;
    match config.kind {
        Kind::Bool { .. } if parse_bool(value).is_none() => Err(format!(
            "argument '{known}' is '{value}': expected yes or no (as Redis' own booleans)"
        )),
        Kind::Number { min, max, .. }
            if !value.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n)) =>
        {
            Err(format!(
                "argument '{known}' is '{value}': expected a whole number from {min} to {max}"
            ))
        }
        _ => Ok(()),
    }
}

/// The argument's value as the server's default for its config: booleans as yes or no.
pub fn as_default(config: &Config, value: &str) -> String {
    match config.kind {
        Kind::Bool { .. } => match parse_bool(value) {
            Some(b) => yes_no(b).to_string(),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

fn names() -> impl Iterator<Item = &'static str> {
    CONFIGS.iter().map(|c| c.name)
}

fn unknown_argument(name: &str) -> String {
    let bare = name
        .strip_prefix("vip.")
        .or_else(|| name.strip_prefix("VIP."));
    if let Some(bare) = bare.filter(|b| find(b).is_some()) {
        return format!(
            "unknown argument '{name}': loadmodule arguments take the names without the vip. prefix: '{bare}'"
        );
    }
    // No config name is longer than 32 characters: a longer argument is no typo of one (and
    // comparing it would cost time for nothing).
    if name.len() > 64 {
        return format!(
            "unknown argument '{}...' ({} characters): not a config name",
            name.chars().take(32).collect::<String>(),
            name.len()
        );
    }
    let lower = name.to_ascii_lowercase();
    let prefix = names().find(|n| lower.len() >= 4 && n.starts_with(&lower));
    let closest = names()
        .map(|n| (edit_distance(&lower, n), n))
        .min()
        .filter(|(d, _)| *d <= 2)
        .map(|(_, n)| n);
    match closest.or(prefix) {
        Some(n) => format!("unknown argument '{name}'; did you mean '{n}'?"),
        _ => format!(
            "unknown argument '{name}': the arguments are {}",
            names().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_arguments_are_checked() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_module_args(&args(&["address", "192.0.2.100/24", "ENABLED", "Yes"])).unwrap(),
            vec![
                ("address".to_string(), "192.0.2.100/24".to_string()),
                ("enabled".to_string(), "Yes".to_string())
            ]
        );
        // (arguments, text the error must contain)
        let bad: &[(&[&str], &str)] = &[
            (
                &["adress", "x"],
                "unknown argument 'adress'; did you mean 'address'?",
            ),
            (&["interfce", "eth0"], "did you mean 'interface'?"),
            (&["release", "yes"], "did you mean 'release-on-shutdown'?"),
            (&["vip.address", "x"], "without the vip. prefix: 'address'"),
            (&["bogus", "1"], "the arguments are address, interface"),
            (
                &["address", "a", "interface"],
                "argument 'interface' has no value",
            ),
            (
                &["address", "a", "address", "b"],
                "argument 'address' is given twice",
            ),
            (
                &["release-on-shutdown", "true"],
                "is 'true': expected yes or no",
            ),
            (&["enabled", "1"], "expected yes or no"),
            (
                &["quorum", "abc"],
                "argument 'quorum' is 'abc': expected a whole number from 0 to 16",
            ),
            (&["quorum", "17"], "expected a whole number from 0 to 16"),
            (&["poll-interval-ms", "9"], "from 10 to 1000"),
            (
                &[&"x".repeat(8000), "1"],
                "(8000 characters): not a config name",
            ),
        ];
        for (input, want) in bad {
            let err = check_module_args(&args(input)).unwrap_err();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn booleans_reach_the_server_as_yes_or_no() {
        let enabled = find("enabled").unwrap();
        assert_eq!(as_default(enabled, "Yes"), "yes");
        assert_eq!(as_default(enabled, "NO"), "no");
        let address = find("address").unwrap();
        assert_eq!(as_default(address, " 192.0.2.1 "), " 192.0.2.1 ");
    }
}
