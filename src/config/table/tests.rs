//! The table against itself, and the README's table and redis.conf.example against the table.

use super::*;

fn manifest_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Words compared without case, markdown backticks or line breaks.
fn plain(text: &str) -> String {
    text.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[test]
fn one_row_per_field_and_name() {
    assert_eq!(
        CONFIGS.len(),
        Settings::FIELDS.len() - Settings::NOT_CONFIGS.len(),
        "a row per Settings field"
    );
    for (i, c) in CONFIGS.iter().enumerate() {
        assert!(
            !CONFIGS[..i].iter().any(|o| o.name == c.name),
            "{} twice",
            c.name
        );
        // unknown_argument relies on names of at most 32 characters
        assert!(
            c.name.len() <= 32 && c.name == c.name.to_lowercase(),
            "{}",
            c.name
        );
        assert!(!c.doc.is_empty() && !c.doc.contains('|'), "{}", c.name);
    }
}

#[test]
fn defaults_are_valid_and_within_bounds() {
    let mut s = Settings::zero();
    for c in CONFIGS {
        match c.kind {
            Kind::Text { default, set } => assert_eq!(set(&mut s, default), Ok(()), "{}", c.name),
            Kind::Number {
                default, min, max, ..
            } => {
                assert!(min <= default && default <= max, "{}", c.name)
            }
            Kind::Bool { .. } => {}
        }
    }
}

/// Each number and boolean reads back what was set, and moves its own field only.
#[test]
fn numbers_and_booleans_reach_their_own_field() {
    let defaults = Values::default();
    for (i, c) in CONFIGS.iter().enumerate() {
        let mut v = Values::default();
        match c.kind {
            Kind::Number {
                default, min, max, ..
            } => {
                let other = if default == max { min } else { max };
                v.set_number(i, other);
                assert_eq!(v.number(i), other, "{}", c.name);
            }
            Kind::Bool { default, .. } => {
                v.set_bool(i, !default);
                assert_eq!(v.boolean(i), !default, "{}", c.name);
            }
            Kind::Text { .. } => continue,
        }
        assert_ne!(
            v.settings(),
            defaults.settings(),
            "{} moves no field",
            c.name
        );
        for o in CONFIGS.iter().filter(|o| o.name != c.name) {
            assert_eq!(
                v.shown(o.name),
                defaults.shown(o.name),
                "{} moved {}",
                c.name,
                o.name
            );
        }
    }
}

#[test]
fn a_value_is_parsed_once_and_kept_as_written() {
    let mut v = Values::default();
    let address = CONFIGS.iter().position(|c| c.name == "address").unwrap();
    v.set_text(address, "192.0.2.100/24, 2001:db8::100")
        .unwrap();
    assert_eq!(
        v.settings().addresses_text(),
        "192.0.2.100/24,2001:db8::100/128"
    );
    assert_eq!(
        v.shown("address").as_deref(),
        Some("192.0.2.100/24, 2001:db8::100")
    );
    // refused: nothing changes
    let err = v.set_text(address, "300.1.1.1/24").unwrap_err();
    assert!(err.contains("invalid address '300.1.1.1/24'"), "{err}");
    assert_eq!(
        v.shown("address").as_deref(),
        Some("192.0.2.100/24, 2001:db8::100")
    );
    assert_eq!(v.settings().addresses.len(), 2);
    assert_eq!(v.shown("enabled").as_deref(), Some("yes"));
    assert_eq!(v.shown("poll-interval-ms").as_deref(), Some("100"));
    assert_eq!(v.shown("no-such-config"), None);
}

/// `Settings::default()` is the table's defaults, read back as `CONFIG GET` shows them.
#[test]
fn the_default_settings_are_the_table_s() {
    let v = Values::default();
    assert_eq!(v.settings(), &Settings::default());
    for c in CONFIGS {
        assert_eq!(v.shown(c.name), Some(c.default_text()), "{}", c.name);
    }
}

/// The README's row for a config: name, the doc line (with the range of a number, and
/// *Protected.*), the default (a text's empty default as "empty").
fn readme_row(c: &Config) -> String {
    let mut meaning = c.doc.to_string();
    if let Kind::Number { min, max, .. } = c.kind {
        meaning += &format!("; range {min}–{max}");
    }
    if c.protected() {
        meaning += ". *Protected.*";
    }
    let default = match c.default_text().as_str() {
        "" => "empty".to_string(),
        d => d.to_string(),
    };
    format!("| `vip.{}` | {meaning} | {default} |", c.name)
}

#[test]
fn the_readme_table_is_the_table() {
    let readme = manifest_file("README.md");
    let found: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `vip."))
        .collect();
    let want: Vec<String> = CONFIGS.iter().map(readme_row).collect();
    assert!(
        found == want,
        "README.md's config table differs from config/table.rs; its rows should read:\n{}",
        want.join("\n")
    );
}

/// redis.conf.example's block for each config: `# Default: <default>` right above the line
/// that sets it (`vip.<name> <value>`, commented out or not), and the comment lines above.
fn conf_blocks(text: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let Some(default) = lines[i - 1].strip_prefix("# Default: ") else {
            continue;
        };
        let setting = line.strip_prefix("# ").unwrap_or(line);
        let Some(name) = setting.strip_prefix("vip.") else {
            continue;
        };
        let name = name.split_whitespace().next().unwrap_or_default();
        let above = lines[..i - 1]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .collect::<Vec<_>>();
        let block = above.into_iter().rev().collect::<Vec<_>>().join(" ");
        out.push((name.to_string(), default.to_string(), block));
    }
    out
}

#[test]
fn redis_conf_example_documents_every_config() {
    let blocks = conf_blocks(&manifest_file("redis.conf.example"));
    let names: Vec<&str> = blocks.iter().map(|(n, _, _)| n.as_str()).collect();
    for c in CONFIGS {
        let Some((_, default, block)) = blocks.iter().find(|(n, _, _)| n == c.name) else {
            panic!(
                "redis.conf.example has no block for vip.{} (found {names:?})",
                c.name
            );
        };
        let want = match c.default_text().as_str() {
            "" => "\"\" (empty)".to_string(),
            d => d.to_string(),
        };
        assert_eq!(*default, want, "vip.{}: # Default:", c.name);
        assert!(
            plain(block).contains(&plain(c.doc)),
            "vip.{}: the block should say: {}\nit says: {block}",
            c.name,
            c.doc.replace('`', "")
        );
        assert_eq!(
            block.contains("PROTECTED"),
            c.protected(),
            "vip.{}: PROTECTED",
            c.name
        );
        if let Kind::Number { min, max, .. } = c.kind {
            assert!(
                block.contains(&format!("{min}..{max}")),
                "vip.{}: {min}..{max}",
                c.name
            );
        }
    }
    assert_eq!(
        blocks.len(),
        CONFIGS.len(),
        "blocks for unknown configs: {names:?}"
    );
}
