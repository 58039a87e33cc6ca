//! The TLS client against an in-process TLS server on the loopback: certificates are made
//! here (P-256 keys, a test CA), so every failure can be staged exactly.

use super::*;

use std::io::BufRead;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{SslAcceptor, SslVerifyMode};
use openssl::symm::Cipher;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Builder, X509NameBuilder};

const DAY: i64 = 86_400;

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A certificate for `cn`, valid from `from` to `until` (seconds from now), signed by
/// `issuer` (None: self-signed, a CA).
fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    from: i64,
    until: i64,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now() + from).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now() + until).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// A private directory of PEM files for one test.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "vip-tls-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn write(&self, name: &str, pem: &[u8]) -> String {
        let p = self.0.join(name);
        fs::write(&p, pem).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One PKI: a CA, a server certificate and a client certificate it signed.
struct Pki {
    ca: X509,
    ca_key: PKey<Private>,
    server: (X509, PKey<Private>),
    client: (X509, PKey<Private>),
}

fn pki(server_valid: (i64, i64)) -> Pki {
    let ca_key = key();
    let ca = cert("Test CA", &ca_key, None, -DAY, 30 * DAY);
    let sk = key();
    let s = cert(
        "sentinel",
        &sk,
        Some((&ca, &ca_key)),
        server_valid.0,
        server_valid.1,
    );
    let ck = key();
    let c = cert("redis-vip", &ck, Some((&ca, &ca_key)), -DAY, 30 * DAY);
    Pki {
        ca,
        ca_key,
        server: (s, sk),
        client: (c, ck),
    }
}

/// A TLS "Sentinel" for one connection: answers each line with +PONG. `client_ca`: require a
/// client certificate signed by it (tls-auth-clients yes).
fn tls_server(pki: &Pki, client_ca: Option<&X509>) -> (u16, thread::JoinHandle<()>) {
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acc.set_certificate(&pki.server.0).unwrap();
    acc.set_private_key(&pki.server.1).unwrap();
    if let Some(ca) = client_ca {
        acc.cert_store_mut().add_cert(ca.clone()).unwrap();
        acc.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    let acc = acc.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let Ok(s) = acc.accept(tcp) else { return };
        let mut r = io::BufReader::new(s);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            if r.get_mut().write_all(b"+PONG\r\n").is_err() {
                return;
            }
            line.clear();
        }
    });
    (port, t)
}

/// A plaintext "Sentinel": reads, answers a Redis-style protocol error, and closes.
fn plaintext_server() -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = thread::spawn(move || {
        if let Ok((mut tcp, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"-ERR Protocol error: unbalanced quotes in request\r\n");
        }
    });
    (port, t)
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn pem(c: &X509) -> Vec<u8> {
    c.to_pem().unwrap()
}

fn key_pem(k: &PKey<Private>) -> Vec<u8> {
    k.private_key_to_pem_pkcs8().unwrap()
}

/// A plan trusting `ca`, with our client certificate when `client` is set.
fn plan(dir: &Dir, ca: &X509, client: Option<&(X509, PKey<Private>)>) -> TlsPlan {
    TlsPlan {
        ca_file: Some(dir.write("ca.crt", &pem(ca))),
        cert_file: client.map(|c| dir.write("client.crt", &pem(&c.0))),
        key_file: client.map(|c| dir.write("client.key", &key_pem(&c.1))),
        ..TlsPlan::default()
    }
}

/// Handshake, one PING, one reply: Ok, or the error the poller would report.
fn ping(tls: &mut Tls, port: u16) -> Result<String, PollError> {
    let mut s = tls.handshake(tcp(port), "127.0.0.1")?;
    let io = |s: &mut Stream, e: io::Error| {
        s.take_failure().unwrap_or(PollError {
            kind: PollErrorKind::Connect,
            text: e.to_string(),
        })
    };
    if let Err(e) = s.write_all(b"PING\r\n") {
        return Err(io(&mut s, e));
    }
    let mut buf = [0u8; 7];
    match s.read_exact(&mut buf) {
        Ok(()) => Ok(String::from_utf8_lossy(&buf).into_owned()),
        Err(e) => Err(io(&mut s, e)),
    }
}

#[test]
fn a_sentinel_signed_by_our_ca_answers() {
    let p = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let (port, t) = tls_server(&p, None);
    let mut tls = Tls::new(plan(&dir, &p.ca, None));
    assert_eq!(ping(&mut tls, port).unwrap(), "+PONG\r\n");
    drop(tls);
    t.join().unwrap();
}

#[test]
fn each_tls_failure_names_its_cause_and_fix() {
    let good = pki((-DAY, 30 * DAY));
    let expired = pki((-30 * DAY, -DAY));
    let future = pki((DAY, 30 * DAY));
    let other = pki((-DAY, 30 * DAY));
    // (case, the server's PKI, the CA we trust, a client certificate required by the
    //  server, the client certificate we send, words the error must contain)
    type Case<'a> = (
        &'a str,
        &'a Pki,
        &'a X509,
        Option<&'a X509>,
        Option<&'a (X509, PKey<Private>)>,
        &'a [&'a str],
    );
    let cases: [Case; 5] = [
        (
            "unknown CA",
            &good,
            &other.ca,
            None,
            None,
            &[
                "is not signed by the CA in",
                "vip.sentinel-tls-ca-cert-file",
            ],
        ),
        (
            "expired",
            &expired,
            &expired.ca,
            None,
            None,
            &["(CN=sentinel)", "has expired", "renew it"],
        ),
        (
            "not yet valid",
            &future,
            &future.ca,
            None,
            None,
            &["not valid yet", "clocks"],
        ),
        (
            "client certificate required, none sent",
            &good,
            &good.ca,
            Some(&good.ca),
            None,
            &[
                "requires a client certificate",
                "tls-auth-clients",
                "tls-cert-file",
            ],
        ),
        (
            "client certificate from another CA",
            &good,
            &good.ca,
            Some(&good.ca),
            Some(&other.client),
            &["client certificate", "Sentinel's tls-ca-cert-file"],
        ),
    ];
    for (case, server, trust, client_ca, client, words) in cases {
        let dir = Dir::new();
        let (port, t) = tls_server(server, client_ca);
        let mut tls = Tls::new(plan(&dir, trust, client));
        let e = ping(&mut tls, port).unwrap_err();
        assert_eq!(e.kind, PollErrorKind::Tls, "{case}: {e}");
        for w in words {
            assert!(e.text.contains(w), "{case}: '{w}' not in: {e}");
        }
        drop(tls);
        t.join().unwrap();
    }
}

#[test]
fn a_client_certificate_passes_tls_auth_clients() {
    let p = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let (port, t) = tls_server(&p, Some(&p.ca));
    let mut tls = Tls::new(plan(&dir, &p.ca, Some(&p.client)));
    assert_eq!(ping(&mut tls, port).unwrap(), "+PONG\r\n");
    drop(tls);
    t.join().unwrap();
}

#[test]
fn a_plaintext_sentinel_is_named_as_such() {
    let p = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let (port, t) = plaintext_server();
    let mut tls = Tls::new(plan(&dir, &p.ca, None));
    let e = ping(&mut tls, port).unwrap_err();
    assert_eq!(e.kind, PollErrorKind::Tls, "{e}");
    assert!(e.text.contains("plaintext"), "{e}");
    t.join().unwrap();
}

#[test]
fn a_fixed_ca_file_takes_effect_at_the_next_connection() {
    let p = pki((-DAY, 30 * DAY));
    let other = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let mut tls = Tls::new(plan(&dir, &other.ca, None));
    let (port, t) = tls_server(&p, None);
    assert_eq!(ping(&mut tls, port).unwrap_err().kind, PollErrorKind::Tls);
    t.join().unwrap();
    // The operator puts the right CA in place: same path, new content.
    dir.write("ca.crt", &pem(&p.ca));
    let t0 = Duration::from_secs(100);
    assert!(tls.files_changed(t0));
    // looked at most once a second
    assert!(!tls.files_changed(t0 + Duration::from_millis(500)));
    let (port, t) = tls_server(&p, None);
    assert_eq!(ping(&mut tls, port).unwrap(), "+PONG\r\n");
    drop(tls);
    t.join().unwrap();
}

#[test]
fn unusable_files_are_named_without_the_passphrase() {
    let p = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let ca = dir.write("ca.crt", &pem(&p.ca));
    let cert = dir.write("client.crt", &pem(&p.client.0));
    let secret = "pass-w0rd-s3cret";
    let encrypted = p
        .client
        .1
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), secret.as_bytes())
        .unwrap();
    let enc_key = dir.write("client-enc.key", &encrypted);
    let other_key = dir.write("other.key", &key_pem(&p.ca_key));
    let missing = dir.0.join("missing.crt").to_string_lossy().into_owned();
    let with = |f: &dyn Fn(&mut TlsPlan)| {
        let mut plan = TlsPlan {
            ca_file: Some(ca.clone()),
            ..TlsPlan::default()
        };
        f(&mut plan);
        plan
    };
    // (case, plan, words the error must contain)
    let cases: Vec<(&str, TlsPlan, Vec<&str>)> = vec![
        (
            "no CA",
            TlsPlan::default(),
            vec!["no CA", "tls-ca-cert-file"],
        ),
        (
            "missing CA file",
            with(&|p| p.ca_file = Some(missing.clone())),
            vec!["cannot read the CA file", "missing.crt", "No such file"],
        ),
        (
            "not a PEM CA",
            with(&|p| p.ca_file = Some(other_key.clone())),
            vec!["holds no PEM certificate"],
        ),
        (
            "certificate without key",
            with(&|p| p.cert_file = Some(cert.clone())),
            vec!["but no key", "vip.sentinel-tls-key-file"],
        ),
        (
            "encrypted key, no passphrase",
            with(&|p| {
                p.cert_file = Some(cert.clone());
                p.key_file = Some(enc_key.clone());
            }),
            vec!["is encrypted", "vip.sentinel-tls-key-file-pass"],
        ),
        (
            "wrong passphrase",
            with(&|p| {
                p.cert_file = Some(cert.clone());
                p.key_file = Some(enc_key.clone());
                p.key_pass = Some(Secret::new(format!("{secret}-not")));
            }),
            vec!["wrong passphrase"],
        ),
        (
            "key of another certificate",
            with(&|p| {
                p.cert_file = Some(cert.clone());
                p.key_file = Some(other_key.clone());
            }),
            vec!["does not belong to the certificate"],
        ),
    ];
    for (case, plan, words) in cases {
        let debug = format!("{plan:?}");
        assert!(!debug.contains(secret), "{case}: {debug}");
        let e = build(&plan).map(|_| ()).unwrap_err();
        for w in words {
            assert!(e.contains(w), "{case}: '{w}' not in: {e}");
        }
        assert!(!e.contains(secret), "{case}: {e}");
    }
    // The right passphrase decrypts the key.
    let plan = with(&|p| {
        p.cert_file = Some(cert.clone());
        p.key_file = Some(enc_key.clone());
        p.key_pass = Some(Secret::new(secret));
    });
    assert!(build(&plan).is_ok());
}

#[test]
fn the_module_configs_override_the_servers_own_in_pairs() {
    let server = ServerTls::from_configs(|name| {
        match name {
            "tls-ca-cert-file" => "/srv/ca.crt",
            "tls-cert-file" => "/srv/redis.crt",
            "tls-key-file" => "/srv/redis.key",
            "tls-key-file-pass" => "srv-pass",
            _ => "",
        }
        .to_string()
    });
    let some = |s: &str| Some(s.to_string());
    let on = ModuleTls {
        enabled: true,
        ..ModuleTls::default()
    };
    // (case, module configs, CA file, CA dir, certificate, key, passphrase)
    type Row = (
        &'static str,
        ModuleTls,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<&'static str>,
    );
    let cases: Vec<Row> = vec![
        (
            "all from the server",
            on.clone(),
            some("/srv/ca.crt"),
            None,
            some("/srv/redis.crt"),
            some("/srv/redis.key"),
            Some("srv-pass"),
        ),
        (
            "a CA dir of our own replaces the server's CA file",
            ModuleTls {
                ca_dir: some("/vip/cas"),
                ..on.clone()
            },
            None,
            some("/vip/cas"),
            some("/srv/redis.crt"),
            some("/srv/redis.key"),
            Some("srv-pass"),
        ),
        (
            "our own certificate comes with our own key and passphrase",
            ModuleTls {
                cert_file: some("/vip/c.crt"),
                key_file: some("/vip/c.key"),
                ..on.clone()
            },
            some("/srv/ca.crt"),
            None,
            some("/vip/c.crt"),
            some("/vip/c.key"),
            None,
        ),
    ];
    for (case, module, ca_file, ca_dir, cert, key, pass) in cases {
        let p = resolve(&module, &server).unwrap();
        assert_eq!(
            (p.ca_file, p.ca_dir, p.cert_file, p.key_file),
            (ca_file, ca_dir, cert, key),
            "{case}"
        );
        assert_eq!(p.key_pass.as_ref().map(|s| s.expose()), pass, "{case}");
    }
    assert!(resolve(&ModuleTls::default(), &server).is_none());
    // Redis sends tls-client-cert-file on its own outgoing connections when it is set.
    let client = ServerTls::from_configs(|name| {
        match name {
            "tls-cert-file" => "/srv/redis.crt",
            "tls-client-cert-file" => "/srv/client.crt",
            "tls-client-key-file" => "/srv/client.key",
            _ => "",
        }
        .to_string()
    });
    assert_eq!(client.cert_file.as_deref(), Some("/srv/client.crt"));
    assert_eq!(client.key_file.as_deref(), Some("/srv/client.key"));
}

#[test]
fn a_tls_only_sentinel_seen_from_a_plaintext_poller() {
    // (the poller's error, whether it is read as a TLS port)
    let cases = [
        (PollErrorKind::Connect, "connection closed", true),
        (
            PollErrorKind::Connect,
            "Connection reset by peer (os error 104)",
            true,
        ),
        (
            PollErrorKind::Timeout,
            "no answer within the timeout",
            false,
        ),
        (
            PollErrorKind::Connect,
            "Connection refused (os error 111)",
            false,
        ),
    ];
    for (kind, text, tls_port) in cases {
        let e = plaintext_to_tls_port(PollError {
            kind,
            text: text.into(),
        });
        assert_eq!(e.kind == PollErrorKind::Tls, tls_port, "{text}: {e}");
        if tls_port {
            assert!(e.text.contains("vip.sentinel-tls yes"), "{e}");
        }
    }
}

#[test]
fn a_client_for_the_replicas_names_the_replica_and_this_servers_files() {
    // The same context and handshake; only the words and the fix differ.
    let p = pki((-DAY, 30 * DAY));
    let other = pki((-DAY, 30 * DAY));
    let dir = Dir::new();
    let mut tls = Tls::to(Peer::Replica, plan(&dir, &other.ca, None));
    let (port, t) = tls_server(&p, None);
    let e = ping(&mut tls, port).unwrap_err();
    assert_eq!(e.kind, PollErrorKind::Tls, "{e}");
    assert!(
        e.text.starts_with("the replica's certificate") && e.text.contains("is not signed by"),
        "{e}"
    );
    assert!(
        e.text.ends_with(
            "give the CA that signed it in this server's tls-ca-cert-file (or tls-ca-cert-dir)"
        ),
        "{e}"
    );
    assert!(
        !e.text.contains("Sentinel") && !e.text.contains("vip.sentinel"),
        "{e}"
    );
    t.join().unwrap();

    let (port, t) = plaintext_server();
    let e = ping(&mut tls, port).unwrap_err();
    assert!(e.text.starts_with("the replica "), "{e}");
    assert!(!e.text.contains("Sentinel"), "{e}");
    t.join().unwrap();
}
