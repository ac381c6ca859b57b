//! The one HTTP client, for the local APIs pigsty talks to (Patroni's REST API,
//! Prometheus, Garage's admin API): blocking, with connect and overall timeouts, on
//! `ureq`. A status other than 2xx is an answer, not an error; an error is a request
//! that got no answer. Credentials go in headers, never in messages.
use std::time::Duration;

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
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .build();
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

/// A GET of `http://addr{path}`.
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<Response, String> {
    request("GET", &format!("http://{addr}{path}"), &[], None, timeout)
}

/// A transport error in words without the URL's credentials (ureq's messages name
/// the URL; ours carry none, but say only what failed).
fn transport(t: &ureq::Transport) -> String {
    let kind = t.kind().to_string();
    match t.message() {
        Some(m) => format!("{kind}: {m}"),
        None => kind,
    }
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
}

#[cfg(test)]
mod tests {
    use super::testing::serve_once;
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
    fn nothing_listening_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap().to_string();
        drop(l);
        assert!(get(&a, "/", Duration::from_millis(500)).is_err());
    }
}
