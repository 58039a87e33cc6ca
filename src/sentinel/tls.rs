//! TLS to the Sentinels: the client context, the handshake, and every failure worded with
//! its cause and its fix.
//!
//! ```text
//!  Settings (vip.sentinel-tls-*, else the server's own tls-*) ──▶ PollPlan.tls: TlsPlan
//!                                                                    │ (one per poller)
//!  poller thread: Tls::handshake(tcp) ── context built from the files ─▶ Stream::Tls
//!                 every second while connected: a file changed? ──▶ reconnect (new context)
//! ```
//!
//! The context is built by the poller's own thread from the files (never on the Redis main
//! thread), and rebuilt when one of them changes (its modification time, size or inode), as
//! Redis reloads its own certificates: a renewed certificate or a fixed CA file takes effect
//! at once, and a broken rotation shows as an error at once, not at the next network blip.
//!
//! The Sentinel's certificate is checked against the configured CA only (never the system's
//! store), and its name is not checked, as Redis checks none for replication and Sentinel
//! (docs/operations.md, "TLS to the Sentinels").

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    ErrorCode, HandshakeError, Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod,
    SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::{X509VerifyResult, X509};

use super::error::{PollError, PollErrorKind};
use crate::config::Secret;

pub use crate::config::tls::{
    parse_path, resolve, ModuleTls, ServerTls, TlsPlan, SERVER_TLS_CONFIGS,
};

impl TlsPlan {
    fn files(&self) -> [Option<&str>; 4] {
        [
            self.ca_file.as_deref(),
            self.ca_dir.as_deref(),
            self.cert_file.as_deref(),
            self.key_file.as_deref(),
        ]
    }

    /// The CA we trust, in words, for an error text.
    fn ca_words(&self) -> String {
        match (&self.ca_file, &self.ca_dir) {
            (Some(f), _) => format!("the CA in {f}"),
            (None, Some(d)) => format!("the CAs in {d}"),
            (None, None) => "no CA".into(),
        }
    }
}

/// What a file looked like when the context was built: a change of any of these rebuilds.
type Stamp = Option<(i64, i64, u64, u64)>;

fn stamp(path: Option<&str>) -> Stamp {
    let m = fs::metadata(path?).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.ino(), m.size()))
}

/// How often a connected poller looks whether a file changed (a few `stat` calls).
pub const FILE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// One poller's TLS client: the plan, the context built from it, and the files' stamps.
pub struct Tls {
    plan: TlsPlan,
    context: Option<(SslContext, [Stamp; 4])>,
    checked: Option<Duration>,
}

impl Tls {
    pub fn new(plan: TlsPlan) -> Tls {
        Tls {
            plan,
            context: None,
            checked: None,
        }
    }

    /// The files and passphrase this client was made from.
    pub fn plan(&self) -> &TlsPlan {
        &self.plan
    }

    fn stamps(&self) -> [Stamp; 4] {
        self.plan.files().map(stamp)
    }

    /// Whether a file changed since the context in use was built. Looks at most once per
    /// `FILE_CHECK_EVERY` (`now` on the poller's monotonic clock).
    pub fn files_changed(&mut self, now: Duration) -> bool {
        if self
            .checked
            .is_some_and(|t| now.saturating_sub(t) < FILE_CHECK_EVERY)
        {
            return false;
        }
        self.checked = Some(now);
        match &self.context {
            Some((_, stamps)) => *stamps != self.stamps(),
            None => false,
        }
    }

    /// The context for the next handshake, rebuilt when a file changed.
    fn context(&mut self) -> Result<SslContext, PollError> {
        pin_module();
        let now = self.stamps();
        if let Some((ctx, stamps)) = &self.context {
            if *stamps == now {
                return Ok(ctx.clone());
            }
        }
        self.context = None;
        let ctx = build(&self.plan).map_err(tls_error)?;
        self.context = Some((ctx.clone(), now));
        Ok(ctx)
    }

    /// Wrap a connected socket: the handshake, with the socket's own timeouts. `host` is
    /// sent as the server name (SNI) when it is a name, not an address.
    pub fn handshake(&mut self, tcp: TcpStream, host: &str) -> Result<Stream, PollError> {
        let ctx = self.context()?;
        let mut ssl = Ssl::new(&ctx).map_err(|e| tls_error(format!("TLS setup failed: {e}")))?;
        if host.parse::<std::net::IpAddr>().is_err() {
            ssl.set_hostname(host)
                .map_err(|e| tls_error(format!("TLS setup failed: {e}")))?;
        }
        // Keep the first certificate that failed to verify, to name it in the error (OpenSSL
        // keeps no peer certificate from a handshake that failed).
        let refused: Arc<Mutex<Option<X509>>> = Arc::default();
        let slot = refused.clone();
        ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, store| {
            if !ok {
                if let (Ok(mut s), Some(c)) = (slot.lock(), store.current_cert()) {
                    if s.is_none() {
                        *s = Some(c.to_owned());
                    }
                }
            }
            ok
        });
        match ssl.connect(tcp) {
            Ok(s) => Ok(Stream::Tls {
                stream: Box::new(s),
                failure: None,
                cert_file: self.plan.cert_file.clone(),
                answered: false,
            }),
            Err(HandshakeError::SetupFailure(e)) => Err(tls_error(format!("TLS setup failed: {e}"))),
            Err(HandshakeError::WouldBlock(_)) => Err(PollError {
                kind: PollErrorKind::Timeout,
                text: "no TLS handshake within the timeout: the port may be plaintext (a Sentinel without tls-port, or set vip.sentinel-tls no), or the Sentinel is stopped".into(),
            }),
            Err(HandshakeError::Failure(mid)) => {
                let verify = mid.ssl().verify_result();
                let peer = refused.lock().ok().and_then(|mut s| s.take());
                Err(handshake_failure(
                    &self.plan,
                    verify,
                    peer.as_ref(),
                    mid.error(),
                ))
            }
        }
    }
}

/// Keep this module's code mapped until the process exits, from the first TLS use on.
///
/// rust-openssl registers `ex_data` indices in the process's one libssl, with free callbacks
/// in this library; OpenSSL calls every registered callback whenever any `SSL` is freed, the
/// server's own included. After a MODULE UNLOAD that unmapped this code, the server's next TLS
/// client to disconnect would call into nothing. `RTLD_NODELETE` on our own mapping makes
/// that impossible (a reload of the module then reuses the mapping, as it already does in
/// practice: docs/operations.md, rolling upgrade).
fn pin_module() {
    static PINNED: std::sync::Once = std::sync::Once::new();
    PINNED.call_once(|| {
        // SAFETY: dladdr only reads the loader's tables into a plain struct; dlopen with
        // RTLD_NOLOAD never loads anything, it only adds a reference (and NODELETE) to the
        // mapping that holds this function, named by the path the loader gave.
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            if libc::dladdr(pin_module as *const libc::c_void, &mut info) != 0
                && !info.dli_fname.is_null()
            {
                let _ = libc::dlopen(
                    info.dli_fname,
                    libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
                );
            }
        }
    });
}

fn tls_error(text: String) -> PollError {
    PollError {
        kind: PollErrorKind::Tls,
        text,
    }
}

/// Read a file ourselves: the error names the path and the cause, not an OpenSSL code.
fn read_file(what: &str, path: &str) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read the {what} {path}: {e}"))
}

/// The client context: TLS 1.2 or 1.3 (as Redis' default `tls-protocols`), the peer's
/// certificate verified against the configured CA only, and our certificate and key when
/// configured.
fn build(plan: &TlsPlan) -> Result<SslContext, String> {
    let setup = |e: ErrorStack| format!("TLS setup failed: {e}");
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(setup)?;
    b.set_verify(SslVerifyMode::PEER);
    if plan.ca_file.is_none() && plan.ca_dir.is_none() {
        return Err("no CA to verify the Sentinels' certificates with: set tls-ca-cert-file on this server, or vip.sentinel-tls-ca-cert-file".into());
    }
    if let Some(path) = &plan.ca_file {
        let pem = read_file("CA file", path)?;
        let certs = X509::stack_from_pem(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("the CA file {path} holds no PEM certificate"))?;
        for c in certs {
            b.cert_store_mut()
                .add_cert(c)
                .map_err(|e| format!("cannot use the CA file {path}: {e}"))?;
        }
    }
    if let Some(dir) = &plan.ca_dir {
        if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Err(format!(
                "the CA directory {dir} does not exist or is no directory"
            ));
        }
        b.cert_store_mut()
            .add_lookup(X509Lookup::hash_dir())
            .and_then(|l| l.add_dir(dir, SslFiletype::PEM))
            .map_err(|e| format!("cannot use the CA directory {dir}: {e}"))?;
    }
    match (&plan.cert_file, &plan.key_file) {
        (None, None) => {}
        (Some(cert), None) => {
            return Err(format!(
                "a client certificate ({cert}) but no key: set tls-key-file or vip.sentinel-tls-key-file"
            ))
        }
        (None, Some(key)) => {
            return Err(format!(
                "a client key ({key}) but no certificate: set tls-cert-file or vip.sentinel-tls-cert-file"
            ))
        }
        (Some(cert), Some(key)) => {
            let pem = read_file("client certificate", cert)?;
            let mut chain = X509::stack_from_pem(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("the client certificate {cert} holds no PEM certificate"))?
                .into_iter();
            if let Some(leaf) = chain.next() {
                b.set_certificate(&leaf)
                    .map_err(|e| format!("cannot use the client certificate {cert}: {e}"))?;
            }
            for extra in chain {
                b.add_extra_chain_cert(extra)
                    .map_err(|e| format!("cannot use the client certificate {cert}: {e}"))?;
            }
            let key_pem = read_file("client key", key)?;
            let pkey = private_key(&key_pem, plan.key_pass.as_ref(), key)?;
            b.set_private_key(&pkey).map_err(|e| {
                if e.to_string().contains("mismatch") {
                    format!("the client key {key} does not belong to the certificate {cert}")
                } else {
                    format!("cannot use the client key {key}: {e}")
                }
            })?;
            b.check_private_key().map_err(|_| {
                format!("the client key {key} does not belong to the certificate {cert}")
            })?;
        }
    }
    Ok(b.build())
}

/// The private key, decrypted with the passphrase when one is set. The errors never show
/// the passphrase.
fn private_key(pem: &[u8], pass: Option<&Secret>, path: &str) -> Result<PKey<Private>, String> {
    let encrypted = pem.windows(b"ENCRYPTED".len()).any(|w| w == b"ENCRYPTED");
    match pass {
        Some(p) => PKey::private_key_from_pem_passphrase(pem, p.expose().as_bytes()).map_err(|_| {
            format!("cannot decrypt the client key {path}: wrong passphrase (vip.sentinel-tls-key-file-pass, or the server's tls-key-file-pass), or no PEM key")
        }),
        None if encrypted => Err(format!(
            "the client key {path} is encrypted: set its passphrase in vip.sentinel-tls-key-file-pass (or the server's tls-key-file-pass)"
        )),
        // An empty passphrase: OpenSSL never prompts on a terminal.
        None => PKey::private_key_from_pem_passphrase(pem, b"")
            .map_err(|_| format!("the client key {path} holds no PEM private key")),
    }
}

/// The reasons OpenSSL gives, lower case, for matching.
fn reasons(e: &openssl::ssl::Error) -> String {
    let mut out = e.to_string();
    if let Some(stack) = e.ssl_error() {
        for r in stack.errors() {
            if let Some(reason) = r.reason() {
                out.push(' ');
                out.push_str(reason);
            }
        }
    }
    out.to_ascii_lowercase()
}

/// Why a handshake failed, with the fix. The verify result says what was wrong with the
/// Sentinel's certificate; the alert in the error stack what the Sentinel disliked in ours.
fn handshake_failure(
    plan: &TlsPlan,
    verify: X509VerifyResult,
    peer: Option<&X509>,
    e: &openssl::ssl::Error,
) -> PollError {
    if verify != X509VerifyResult::OK {
        return certificate_refused(plan, verify, peer);
    }
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() {
        // The peer closed the connection without an alert.
        return tls_error(
            "the Sentinel closed the connection during the TLS handshake: is this its TLS port (tls-port), or does it speak plaintext? (or set vip.sentinel-tls no for a plaintext Sentinel)".into(),
        );
    }
    if let Some(io) = e.io_error() {
        if matches!(
            io.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return PollError {
                kind: PollErrorKind::Timeout,
                text: "no TLS handshake within the timeout: the port may be plaintext (a Sentinel without tls-port, or set vip.sentinel-tls no), or the Sentinel is stopped".into(),
            };
        }
        return PollError {
            kind: PollErrorKind::Connect,
            text: format!("TLS handshake: {io}"),
        };
    }
    alert(plan.cert_file.as_deref(), &reasons(e))
}

/// OpenSSL's reasons, as `alert` reads them (lower case): a plaintext answer to our hello.
const PLAINTEXT: &[&str] = &[
    "wrong version number",
    "packet length too long",
    "record layer failure",
    "http request",
];
/// The Sentinel wants a client certificate (TLS 1.3: "certificate required"; TLS 1.2 sends
/// a plain "handshake failure", read so only when we sent none).
const CERT_REQUIRED: &str = "certificate required";
const HANDSHAKE_FAILURE: &str = "handshake failure";
/// The Sentinel does not trust the certificate we sent ("decrypt error": signed by another
/// CA of the same name).
const UNTRUSTED: &[&str] = &["unknown ca", "bad certificate", "unsupported certificate"];
const DECRYPT_ERROR: &str = "decrypt error";
const EXPIRED: &str = "certificate expired";
const REVOKED: &str = "certificate revoked";
const NO_VERSION: &[&str] = &["protocol version", "no protocols available"];
const NO_CIPHER: &str = "no shared cipher";

/// A failure the Sentinel signalled with an alert, or a plaintext answer.
fn alert(cert_file: Option<&str>, why: &str) -> PollError {
    let has = |s: &str| why.contains(s);
    let any = |l: &[&str]| l.iter().any(|s| why.contains(s));
    let ours = cert_file.unwrap_or("(none)");
    let text = if any(PLAINTEXT) {
        "the Sentinel answered in plaintext, not TLS: give its tls-port in vip.sentinels, or set vip.sentinel-tls no for a plaintext Sentinel".to_string()
    } else if has(CERT_REQUIRED) || (cert_file.is_none() && has(HANDSHAKE_FAILURE)) {
        match cert_file {
            None => "the Sentinel requires a client certificate (tls-auth-clients yes) and none is configured: set tls-cert-file and tls-key-file on this server, or vip.sentinel-tls-cert-file and vip.sentinel-tls-key-file".into(),
            Some(c) => format!("the Sentinel requires a client certificate and did not accept {c}: sign it with a CA in the Sentinel's tls-ca-cert-file"),
        }
    } else if any(UNTRUSTED) || (cert_file.is_some() && has(DECRYPT_ERROR)) {
        format!(
            "the Sentinel does not trust our client certificate {ours}: sign it with a CA in the Sentinel's tls-ca-cert-file"
        )
    } else if has(EXPIRED) {
        format!("the Sentinel refused our client certificate {ours} as expired: renew it")
    } else if has(REVOKED) {
        format!("the Sentinel refused our client certificate {ours} as revoked: issue a new one")
    } else if any(NO_VERSION) {
        "no TLS version in common: the module speaks TLS 1.2 and 1.3; check the Sentinel's tls-protocols".into()
    } else if has(NO_CIPHER) || has(HANDSHAKE_FAILURE) {
        "TLS handshake refused (no cipher or certificate type in common): check the Sentinel's tls-ciphers / tls-ciphersuites and its certificate".into()
    } else {
        format!("TLS handshake failed: {}", why.trim())
    };
    tls_error(text)
}

/// The Sentinel's certificate did not verify against our CA.
fn certificate_refused(plan: &TlsPlan, verify: X509VerifyResult, peer: Option<&X509>) -> PollError {
    let subject = peer
        .map(|c| {
            c.subject_name()
                .entries()
                .filter_map(|e| {
                    let field = e.object().nid().short_name().unwrap_or("?");
                    e.data().to_string().ok().map(|v| format!("{field}={v}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let text = match verify.as_raw() {
        // X509_V_ERR_CERT_HAS_EXPIRED
        10 => format!(
            "the Sentinel's certificate{subject} has expired{}: renew it (the Sentinel's tls-cert-file), then CONFIG SET tls-cert-file on the Sentinel",
            peer.map(|c| format!(" (valid until {})", c.not_after()))
                .unwrap_or_default()
        ),
        // X509_V_ERR_CERT_NOT_YET_VALID
        9 => format!(
            "the Sentinel's certificate{subject} is not valid yet{}: check the clocks of this host and of the CA",
            peer.map(|c| format!(" (valid from {})", c.not_before()))
                .unwrap_or_default()
        ),
        // UNABLE_TO_GET_ISSUER_CERT, CERT_SIGNATURE_FAILURE (another CA of the same name),
        // DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN,
        // UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE
        2 | 7 | 18 | 19 | 20 | 21 => format!(
            "the Sentinel's certificate{subject} is not signed by {}: give the CA that signed it in vip.sentinel-tls-ca-cert-file (or this server's tls-ca-cert-file)",
            plan.ca_words()
        ),
        _ => format!(
            "the Sentinel's certificate{subject} was refused: {}",
            verify.error_string()
        ),
    };
    tls_error(text)
}

/// A connection to a Sentinel, plaintext or TLS, read and written as one stream.
pub enum Stream {
    Plain(TcpStream),
    Tls {
        stream: Box<SslStream<TcpStream>>,
        /// Why the last read or write failed at the TLS layer (an alert from the
        /// Sentinel: with TLS 1.3 a refused client certificate arrives after the
        /// handshake, at the first read).
        failure: Option<PollError>,
        /// Our client certificate, named in those errors.
        cert_file: Option<String>,
        /// The Sentinel sent application data since the handshake: a reset before it
        /// is most likely our client certificate refused (see `ssl_io`).
        answered: bool,
    },
}

impl Stream {
    /// The TLS failure behind the last I/O error, if that is what it was.
    pub fn take_failure(&mut self) -> Option<PollError> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls { failure, .. } => failure.take(),
        }
    }
}

/// An SSL error as an io::Error, remembering an alert's meaning in `failure`.
///
/// With TLS 1.3 the Sentinel checks our certificate after our side of the handshake is
/// done: it sends an alert and closes, and our first command, arriving after the close,
/// makes its kernel answer with a reset that can overtake the alert. A connection closed
/// before any answer since the handshake is therefore read as a refused certificate.
fn ssl_io(
    e: openssl::ssl::Error,
    failure: &mut Option<PollError>,
    cert_file: Option<&str>,
    answered: bool,
) -> io::Error {
    let closed = |failure: &mut Option<PollError>, io: io::Error| {
        if !answered {
            *failure = Some(closed_after_handshake(cert_file, &io));
        }
        io
    };
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() {
        let io = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed");
        return closed(failure, io);
    }
    match e.into_io_error() {
        Ok(io)
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            closed(failure, io)
        }
        Ok(io) => io,
        Err(e) => {
            let why = reasons(&e);
            *failure = Some(alert(cert_file, &why));
            io::Error::other(format!("TLS: {}", why.trim()))
        }
    }
}

/// The Sentinel closed the connection right after the handshake, before any answer.
fn closed_after_handshake(cert_file: Option<&str>, io: &io::Error) -> PollError {
    tls_error(match cert_file {
        None => format!(
            "the Sentinel closed the connection right after the TLS handshake ({io}): it requires a client certificate (tls-auth-clients yes) and none is configured: set tls-cert-file and tls-key-file on this server, or vip.sentinel-tls-cert-file and vip.sentinel-tls-key-file"
        ),
        Some(c) => format!(
            "the Sentinel closed the connection right after the TLS handshake ({io}): most likely it does not trust our client certificate {c}: sign it with a CA in the Sentinel's tls-ca-cert-file"
        ),
    })
}

impl Drop for Stream {
    /// Say goodbye (close_notify) so the Sentinel sees a clean close; one write, never a wait
    /// for its answer (and nothing at all on a socket already shut down).
    fn drop(&mut self) {
        if let Stream::Tls { stream, .. } = self {
            let _ = stream.shutdown();
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls {
                stream,
                failure,
                cert_file,
                answered,
            } => loop {
                match stream.ssl_read(buf) {
                    Ok(n) => {
                        *answered |= n > 0;
                        return Ok(n);
                    }
                    Err(e) if e.code() == ErrorCode::ZERO_RETURN => return Ok(0),
                    Err(e) if e.code() == ErrorCode::WANT_READ && e.io_error().is_none() => {}
                    Err(e) => return Err(ssl_io(e, failure, cert_file.as_deref(), *answered)),
                }
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls {
                stream,
                failure,
                cert_file,
                answered,
            } => loop {
                match stream.ssl_write(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.code() == ErrorCode::WANT_WRITE && e.io_error().is_none() => {}
                    Err(e) => return Err(ssl_io(e, failure, cert_file.as_deref(), *answered)),
                }
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls { stream, .. } => stream.flush(),
        }
    }
}

/// How a connection closed by the peer reads in an error text (lower case).
const CLOSED: &[&str] = &["closed", "reset", "broken pipe", "eof", "unexpected end"];

/// A plaintext poll whose first exchange failed: a TLS-only Sentinel answers a plaintext
/// command with a TLS alert record (0x15 0x03 ...) or closes the connection.
pub fn plaintext_to_tls_port(e: PollError) -> PollError {
    let t = e.text.to_ascii_lowercase();
    let closed = CLOSED.iter().any(|c| t.contains(c));
    let alert_bytes = t.contains("invalid")
        && (t.contains("0x15") || t.contains("\\u{15}") || t.contains("\u{15}"));
    if matches!(e.kind, PollErrorKind::Connect | PollErrorKind::Reply) && (closed || alert_bytes) {
        return tls_error(format!(
            "the Sentinel closed the connection at the first plaintext command ({}): is this a TLS port? set vip.sentinel-tls yes (or give the Sentinel's plaintext port)",
            e.text
        ));
    }
    e
}

#[cfg(test)]
mod tests;
