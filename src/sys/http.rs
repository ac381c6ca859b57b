//! The one HTTP client, for the local APIs pigsty talks to (Patroni's REST API,
//! Prometheus, Garage's admin API): blocking, with connect and overall timeouts, on
//! `ureq`. A status other than 2xx is an answer, not an error; an error is a request
//! that got no answer. Credentials go in headers, never in messages.
//!
//! `https://` URLs (Patroni with `patroni_ssl_enabled`) verify the server against the
//! system trust bundle, where NODE installs the INFRA CA (`modules::pki::trust_steps`),
//! and the name in the URL against the certificate's names.
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Debian's system trust bundle (`update-ca-certificates`).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An answer: status and body (at most ureq's 10 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One request to `url` with `headers` and an optional body; `timeout` for the whole
/// exchange, at most 3 s (or `timeout`) to connect.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, String> {
    request_trusting(method, url, headers, body, timeout, SYSTEM_BUNDLE)
}

/// [`request`] with `https://` servers verified against the CA certificates in `trust`
/// (PEM); read once per process and file.
fn request_trusting(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
    trust: &str,
) -> Result<Response, String> {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(Duration::from_secs(3)))
        .timeout(timeout);
    if url.starts_with("https://") {
        b = b.tls_config(tls_config(trust)?);
    }
    let agent = b.build();
    let mut r = agent.request(method, url);
    for (k, v) in headers {
        r = r.set(k, v);
    }
    let res = match body {
        Some(b) => r.send_bytes(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(ureq::Error::Transport(t)) => return Err(transport(&t)),
    };
    let status = resp.status();
    let body = resp
        .into_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Response { status, body })
}

/// A GET of `url` (http or https), no headers.
pub fn get_url(url: &str, timeout: Duration) -> Result<Response, String> {
    request("GET", url, &[], None, timeout)
}

/// A GET of `http://addr{path}`.
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<Response, String> {
    get_url(&format!("http://{addr}{path}"), timeout)
}

/// The client TLS configuration trusting the certificates of `trust`, built once per
/// process and file.
fn tls_config(trust: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIGS: OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, Arc<rustls::ClientConfig>>>,
    > = OnceLock::new();
    let mut m = CONFIGS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| "tls configuration lock poisoned".to_string())?;
    if let Some(c) = m.get(trust) {
        return Ok(c.clone());
    }
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(trust)
        .map_err(|e| format!("reading the trusted certificates in {trust}: {e}"))?;
    for c in certs {
        let c = c.map_err(|e| format!("reading the trusted certificates in {trust}: {e}"))?;
        // a bundle may hold certificates rustls does not take; the others still count
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(format!("no trusted certificate in {trust}"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let c = Arc::new(config);
    m.insert(trust.to_string(), c.clone());
    Ok(c)
}

/// A transport error in words without the URL's credentials (ureq's messages name
/// the URL; ours carry none, but say only what failed).
fn transport(t: &ureq::Transport) -> String {
    let mut out = t.kind().to_string();
    if let Some(m) = t.message() {
        out = format!("{out}: {m}");
    }
    // the cause (a TLS error says which certificate check failed)
    let mut src = std::error::Error::source(t);
    while let Some(e) = src {
        out = format!("{out}: {e}");
        src = e.source();
    }
    out
}

/// Tests: a server that answers one request.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answer one request with `answer`; the join handle gives the request received
    /// (headers and the whole body, as its Content-Length says).
    pub fn serve_once(answer: String) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut got: Vec<u8> = vec![];
            let mut b = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
            let _ = c.write_all(answer.as_bytes());
            String::from_utf8_lossy(&got).into_owned()
        });
        (addr, h)
    }

    /// An https server with a certificate of a fresh CA for 127.0.0.1; the CA's file.
    pub fn tls_server(dir: &std::path::Path) -> (String, std::path::PathBuf) {
        use rustls_pki_types::pem::PemObject;
        use std::io::{Read, Write};
        let (ca_crt, ca_key) = crate::resources::ca::make_ca("test-ca", 30).unwrap();
        std::fs::write(dir.join("ca.crt"), &ca_crt).unwrap();
        std::fs::write(dir.join("ca.key"), &ca_key).unwrap();
        let pair = crate::resources::ca::issue_in(
            &dir.join("issued"),
            &dir.join("ca.crt"),
            &dir.join("ca.key"),
            "srv",
            &["127.0.0.1".to_string()],
            30,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .unwrap();
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pair.crt.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut sock) = c else { break };
                let cfg = cfg.clone();
                std::thread::spawn(move || {
                    let mut conn = rustls::ServerConnection::new(cfg).unwrap();
                    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
                    let mut b = [0u8; 4096];
                    let mut got = vec![];
                    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                        match tls.read(&mut b) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&b[..n]),
                        }
                    }
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        (addr, dir.join("ca.crt"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{serve_once, tls_server};
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_non_2xx_status_is_an_answer() {
        let (a, _) = serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope".into());
        let r = get(&a, "/health", Duration::from_secs(2)).unwrap();
        assert_eq!(
            r,
            Response {
                status: 503,
                body: "nope".into()
            }
        );
    }

    #[test]
    fn headers_and_body_are_sent() {
        let (a, h) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".into(),
        );
        let r = request(
            "POST",
            &format!("http://{a}/switchover"),
            &[("Authorization", "Basic eDp5")],
            Some(b"{\"a\":1}"),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        let got = h.join().unwrap();
        assert!(got.starts_with("POST /switchover HTTP/1.1\r\n"), "{got}");
        assert!(
            got.contains("Authorization: Basic eDp5") && got.ends_with("{\"a\":1}"),
            "{got}"
        );
    }

    #[test]
    fn https_trusts_the_given_ca_and_checks_the_name() {
        let d = tempfile::tempdir().unwrap();
        let (addr, ca) = tls_server(d.path());
        let ca = ca.to_str().unwrap();
        let t = Duration::from_secs(3);
        let r =
            request_trusting("GET", &format!("https://{addr}/health"), &[], None, t, ca).unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        // the certificate names 127.0.0.1, not localhost
        let port = addr.rsplit(':').next().unwrap();
        let e = request_trusting(
            "GET",
            &format!("https://localhost:{port}/"),
            &[],
            None,
            t,
            ca,
        )
        .unwrap_err();
        assert!(e.to_lowercase().contains("certificate"), "{e}");
        // another CA: refused
        let other = tempfile::tempdir().unwrap();
        let (c, _) = crate::resources::ca::make_ca("other-ca", 30).unwrap();
        std::fs::write(other.path().join("ca.crt"), c).unwrap();
        let e = request_trusting(
            "GET",
            &format!("https://{addr}/"),
            &[],
            None,
            t,
            other.path().join("ca.crt").to_str().unwrap(),
        )
        .unwrap_err();
        assert!(e.to_lowercase().contains("certificate"), "{e}");
        // plain http to a TLS port gets no answer
        assert!(get(&addr, "/health", t).is_err());
        // no trust file: an error naming it
        let e = request_trusting(
            "GET",
            &format!("https://{addr}/"),
            &[],
            None,
            t,
            "/nonexistent/ca.pem",
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn nothing_listening_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap().to_string();
        drop(l);
        assert!(get(&a, "/", Duration::from_millis(500)).is_err());
    }
}
