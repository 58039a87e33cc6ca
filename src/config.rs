//! The module's settings: parsing and validation of every `vip.*` value.
//!
//! Pure functions only. Every config is one row of the table in `config/table.rs`; its
//! parser here runs when the server sets the value, so the text of an `Err` is exactly what
//! `CONFIG SET` (or a failed `MODULE LOAD`) shows the operator: it names the value and the
//! expected form. `config/args.rs` checks the loadmodule arguments.

use std::fmt;
use std::net::IpAddr;

mod args;
mod table;
pub mod tls;

pub use args::{as_default, check_module_args, parse_bool};
pub use table::{find, yes_no, Config, Flags, Kind, Settings, Values, CONFIGS};

/// The kernel's IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_IFNAME: usize = 15;
/// The kernel refuses longer IPv4 labels with ERANGE.
pub const MAX_LABEL: usize = 15;
/// More VIPs than this on one node is a configuration mistake, not a use case.
pub const MAX_ADDRESSES: usize = 16;

/// One virtual address with its prefix length, as it goes on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Vip {
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A password kept out of `Debug` output and log lines.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a Sentinel listens: a host name or an address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SentinelAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for SentinelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_host_port(f, &self.host, self.port)
    }
}

/// `host:port`, an IPv6 address in brackets: `[2001:db8::1]:26379`.
pub fn write_host_port(f: &mut fmt::Formatter<'_>, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]:{port}")
    } else {
        write!(f, "{host}:{port}")
    }
}

/// How the module decides who may hold the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Follow the local replication role only.
    Basic,
    /// Hold only while the Sentinels, asked directly, confirm this node as the master.
    Sentinel,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Basic => "basic",
            Mode::Sentinel => "sentinel",
        }
    }
}

impl Settings {
    /// Both an address and an interface are set: the module has something to do.
    pub fn configured(&self) -> bool {
        !self.addresses.is_empty() && !self.interface.is_empty()
    }

    pub fn mode(&self) -> Mode {
        if self.sentinels.is_empty() {
            Mode::Basic
        } else {
            Mode::Sentinel
        }
    }

    /// The comma-separated form used in VIP.STATUS and the log.
    pub fn addresses_text(&self) -> String {
        join(&self.addresses)
    }
}

pub fn join(vips: &[Vip]) -> String {
    vips.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse `vip.address`: comma-separated CIDRs, IPv4 and/or IPv6, a bare address meaning
/// a host prefix. Empty means "no address" (the module stays idle).
pub fn parse_addresses(text: &str) -> Result<Vec<Vip>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut vips: Vec<Vip> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "empty entry in address list '{text}': expected comma-separated CIDRs such as 192.0.2.100/24,2001:db8::100/64"
            ));
        }
        let vip = parse_cidr(item)?;
        if vips.iter().any(|v| v.addr == vip.addr) {
            return Err(format!("address {} is listed twice", vip.addr));
        }
        vips.push(vip);
    }
    if vips.len() > MAX_ADDRESSES {
        return Err(format!(
            "{} addresses given, at most {MAX_ADDRESSES} are supported",
            vips.len()
        ));
    }
    Ok(vips)
}

/// Parse one `ADDR[/PREFIX]` and refuse what can never be a virtual IP on a LAN.
pub fn parse_cidr(item: &str) -> Result<Vip, String> {
    let form = "expected an address in CIDR form such as 192.0.2.100/24 or 2001:db8::100/64";
    let (addr_text, prefix_text) = match item.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (item, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("invalid address '{item}': {form}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => {
            let n: u32 = p
                .parse()
                .map_err(|_| format!("invalid prefix length in '{item}': {form}"))?;
            if n == 0 || n > u32::from(max) {
                return Err(format!(
                    "prefix length {n} in '{item}' is out of range: expected 1 to {max}"
                ));
            }
            n as u8
        }
    };
    if let Some(why) = unusable(&addr) {
        return Err(format!(
            "address {addr} cannot be a virtual IP: it is {why}"
        ));
    }
    Ok(Vip { addr, prefix })
}

/// Addresses that a host must never claim and announce on a LAN.
fn unusable(addr: &IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) => {
            if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_multicast() {
                Some("a multicast address")
            } else if a.is_broadcast() {
                Some("the broadcast address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_multicast() {
                Some("a multicast address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if a.to_ipv4_mapped().is_some() {
                Some("IPv4-mapped: give the IPv4 address instead")
            } else {
                None
            }
        }
    }
}

/// `vip.interface`: empty (idle) or a name the kernel would accept (dev_valid_name()).
pub fn parse_interface(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Ok(String::new());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "interface name '{name}' is {} characters long: Linux allows at most {MAX_IFNAME}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not a valid interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "interface name '{name}' contains '{}': interface names cannot contain '/', ':' or spaces",
            c.escape_default()
        ));
    }
    Ok(name.to_string())
}

/// `vip.label`: optional IPv4 address label such as `eth0:vip`.
pub fn parse_label(text: &str) -> Result<Option<String>, String> {
    let label = text.trim();
    if label.is_empty() {
        return Ok(None);
    }
    if label.len() > MAX_LABEL {
        return Err(format!(
            "label '{label}' is {} characters long: the kernel allows at most {MAX_LABEL} (e.g. eth0:vip)",
            label.len()
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| *c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "label '{label}' contains '{}': expected a label such as eth0:vip",
            c.escape_default()
        ));
    }
    Ok(Some(label.to_string()))
}

/// `vip.master-name` and `vip.sentinel-auth-user`: empty means unset; otherwise one token.
pub fn parse_token(what: &str, text: &str) -> Result<Option<String>, String> {
    let token = text.trim();
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > 128 {
        return Err(format!("{what} '{token}' is longer than 128 characters"));
    }
    if let Some(c) = token
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == ',')
    {
        return Err(format!(
            "{what} '{token}' contains '{}': expected a single name without spaces or commas",
            c.escape_default()
        ));
    }
    Ok(Some(token.to_string()))
}

/// `vip.sentinel-auth-pass`: empty means none. The error never repeats the value.
pub fn parse_secret(text: &str) -> Result<Option<Secret>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > 512 {
        return Err("the password is longer than 512 characters".into());
    }
    if text.chars().any(|c| c.is_control()) {
        return Err("the password contains a control character (a line break?)".into());
    }
    Ok(Some(Secret::new(text)))
}

/// At most this many Sentinels are asked (configured and learned together).
pub const MAX_SENTINELS: usize = 16;

/// `vip.sentinels`: comma-separated `host:port`, IPv6 as `[addr]:port`. Empty = basic mode.
pub fn parse_sentinels(text: &str) -> Result<Vec<SentinelAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<SentinelAddr> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let addr = parse_sentinel(item)?;
        if out.contains(&addr) {
            return Err(format!("Sentinel {addr} is listed twice"));
        }
        out.push(addr);
    }
    if out.len() > MAX_SENTINELS {
        return Err(format!(
            "{} Sentinels given, at most {MAX_SENTINELS} are supported",
            out.len()
        ));
    }
    Ok(out)
}

fn parse_sentinel(item: &str) -> Result<SentinelAddr, String> {
    let form = "expected host:port such as 192.0.2.21:26379, sentinel1.example:26379 or [2001:db8::21]:26379";
    if item.is_empty() {
        return Err(format!("empty entry in the Sentinel list: {form}"));
    }
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("invalid Sentinel address '{item}': {form}"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "invalid Sentinel address '{item}': '{host}' is not an IPv6 address"
            ));
        }
        (host, port)
    } else {
        let (host, port) = item
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid Sentinel address '{item}': no port: {form}"))?;
        if host.contains(':') {
            return Err(format!(
                "invalid Sentinel address '{item}': write an IPv6 address in brackets, [{host}]:{port}"
            ));
        }
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !name_ok {
            return Err(format!(
                "invalid Sentinel address '{item}': '{host}' is neither an address nor a host name"
            ));
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port in Sentinel address '{item}': expected 1 to 65535"))?;
    Ok(SentinelAddr {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<String> {
        parse_addresses(text)
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn addresses_accepted() {
        // (input, parsed)
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            ("192.0.2.100/24", &["192.0.2.100/24"]),
            ("192.0.2.100", &["192.0.2.100/32"]),
            ("2001:db8::100/64", &["2001:db8::100/64"]),
            ("2001:db8::100", &["2001:db8::100/128"]),
            (
                "192.0.2.100/24, 2001:db8::100/64",
                &["192.0.2.100/24", "2001:db8::100/64"],
            ),
            ("198.51.100.7/32", &["198.51.100.7/32"]),
            ("192.0.2.100/1", &["192.0.2.100/1"]),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn addresses_refused_with_a_message_naming_the_value() {
        // (input, text the error must contain)
        let cases = [
            ("300.1.1.1/24", "invalid address '300.1.1.1/24'"),
            (
                "192.0.2.100/33",
                "prefix length 33 in '192.0.2.100/33' is out of range",
            ),
            ("192.0.2.100/0", "prefix length 0"),
            ("2001:db8::1/129", "expected 1 to 128"),
            (
                "192.0.2.100/abc",
                "invalid prefix length in '192.0.2.100/abc'",
            ),
            ("192.0.2.100/", "invalid prefix length"),
            ("192.0.2.100/-1", "invalid prefix length"),
            ("eth0", "invalid address 'eth0'"),
            ("192.0.2.100,,192.0.2.101", "empty entry"),
            ("192.0.2.100/24,192.0.2.100/32", "listed twice"),
            ("0.0.0.0/24", "unspecified"),
            ("127.0.0.5/8", "loopback"),
            ("224.0.0.1/4", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::/64", "unspecified"),
            ("::1", "loopback"),
            ("ff02::1/64", "multicast"),
            ("fe80::1/64", "link-local"),
            ("::ffff:192.0.2.1/128", "IPv4-mapped"),
            ("192.0.2.1/24 192.0.2.2/24", "invalid prefix length"),
        ];
        for (input, want) in cases {
            let err = parse_addresses(input).expect_err(input);
            assert!(
                err.contains(want),
                "input {input:?}: error {err:?} lacks {want:?}"
            );
        }
        let many: Vec<String> = (1..=17).map(|i| format!("192.0.2.{i}")).collect();
        assert!(parse_addresses(&many.join(","))
            .unwrap_err()
            .contains("at most 16"));
    }

    #[test]
    fn interface_names() {
        assert_eq!(parse_interface("eth0").unwrap(), "eth0");
        assert_eq!(parse_interface("").unwrap(), "");
        assert_eq!(parse_interface("enp0s31f6.100").unwrap(), "enp0s31f6.100");
        // (input, text the error must contain)
        let bad = [
            ("averyveryverylong0", "at most 15"),
            ("eth0:1", "contains ':'"),
            ("eth/0", "contains '/'"),
            ("eth 0", "contains ' '"),
            ("..", "not a valid interface name"),
        ];
        for (input, want) in bad {
            let err = parse_interface(input).expect_err(input);
            assert!(err.contains(want), "{input:?}: {err:?}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("").unwrap(), None);
        assert_eq!(
            parse_label("eth0:vip").unwrap().as_deref(),
            Some("eth0:vip")
        );
        assert!(parse_label("eth0:0123456789ab")
            .unwrap_err()
            .contains("at most 15"));
        assert!(parse_label("eth0: vip")
            .unwrap_err()
            .contains("contains ' '"));
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_token("master name", "").unwrap(), None);
        assert_eq!(
            parse_token("master name", "mymaster").unwrap().as_deref(),
            Some("mymaster")
        );
        assert!(parse_token("master name", "my master")
            .unwrap_err()
            .contains("master name 'my master'"));
        assert!(parse_token("user", "a,b").is_err());
    }

    #[test]
    fn sentinel_lists() {
        // (input, parsed as shown)
        let ok: &[(&str, &[&str])] = &[
            ("", &[]),
            ("192.0.2.21:26379", &["192.0.2.21:26379"]),
            (
                "192.0.2.21:26379, sentinel-2.example:26380,[2001:db8::23]:26379",
                &[
                    "192.0.2.21:26379",
                    "sentinel-2.example:26380",
                    "[2001:db8::23]:26379",
                ],
            ),
        ];
        for (input, want) in ok {
            let got: Vec<String> = parse_sentinels(input)
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect();
            assert_eq!(got, *want, "{input:?}");
        }
        // (input, text the error must contain)
        let bad = [
            ("192.0.2.21", "no port"),
            ("192.0.2.21:0", "expected 1 to 65535"),
            ("192.0.2.21:70000", "expected 1 to 65535"),
            ("2001:db8::23:26379", "in brackets"),
            ("[2001:db8::zz]:26379", "not an IPv6 address"),
            ("a b:26379", "neither an address nor a host name"),
            ("192.0.2.21:26379,,192.0.2.22:26379", "empty entry"),
            ("192.0.2.21:26379,192.0.2.21:26379", "listed twice"),
        ];
        for (input, want) in bad {
            let err = parse_sentinels(input).expect_err(input);
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let many: Vec<String> = (1..=17).map(|i| format!("192.0.2.{i}:26379")).collect();
        assert!(parse_sentinels(&many.join(","))
            .unwrap_err()
            .contains("at most 16"));
    }

    #[test]
    fn passwords_never_show() {
        let p = parse_secret("s3cr%t").unwrap().unwrap();
        assert_eq!(p.expose(), "s3cr%t");
        assert_eq!(format!("{p:?}"), "Secret(***)");
        let err = parse_secret("line\nbreak-secret").unwrap_err();
        assert!(!err.contains("break-secret"), "{err}");
        assert_eq!(parse_secret("").unwrap(), None);
    }

    #[test]
    fn the_mode_follows_the_sentinel_list() {
        let mut s = Settings::default();
        assert_eq!(s.mode(), Mode::Basic);
        s.sentinels = parse_sentinels("192.0.2.21:26379").unwrap();
        assert_eq!(s.mode(), Mode::Sentinel);
    }

    #[test]
    fn configured_needs_address_and_interface() {
        let mut s = Settings::default();
        assert!(!s.configured());
        s.addresses = parse_addresses("192.0.2.100/24").unwrap();
        assert!(!s.configured());
        s.interface = "eth0".into();
        assert!(s.configured());
        assert_eq!(s.addresses_text(), "192.0.2.100/24");
    }
}
