//! `HttpCheck`: an HTTP endpoint that must answer 2xx (and optionally contain a
//! string), polled until a timeout after services start. Plain HTTP over std's
//! TcpStream: no curl needed on the node.
use super::{ResError, ResResult, Resource, State};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub struct HttpCheck {
    pub label: String,
    /// `host:port`
    pub addr: String,
    pub path: String,
    /// The body must contain this (e.g. `prometheus_config_last_reload_successful 1`).
    pub expect: Option<String>,
    pub timeout: Duration,
}

impl HttpCheck {
    pub fn new(label: &str, addr: &str, path: &str, timeout: Duration) -> Self {
        HttpCheck { label: label.into(), addr: addr.into(), path: path.into(), expect: None, timeout }
    }
    pub fn expect(mut self, s: &str) -> Self {
        self.expect = Some(s.into());
        self
    }
    fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }
    /// Ok(()) when it answers as wanted, Err(what it said) otherwise.
    pub fn probe(&self) -> Result<(), String> {
        let (code, body) = get(&self.addr, &self.path, Duration::from_secs(3))?;
        if !(200..300).contains(&code) {
            return Err(format!("HTTP {code}"));
        }
        if let Some(e) = &self.expect {
            if !body.contains(e.as_str()) {
                return Err(format!("answer lacks `{e}`"));
            }
        }
        Ok(())
    }
}

/// One GET; returns the status code and the body (at most 8 MiB).
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let sa = addr
        .to_socket_addrs()
        .map_err(|e| format!("bad address `{addr}`: {e}"))?
        .next()
        .ok_or_else(|| format!("bad address `{addr}`"))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: pigsty\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    s.take(8 << 20).read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(buf);
    let status = text.lines().next().unwrap_or("");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: `{}`", status.chars().take(60).collect::<String>()))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}

impl Resource for HttpCheck {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn name(&self) -> String {
        format!("{} {}", self.label, self.url())
    }
    fn check(&self) -> ResResult<State> {
        match self.probe() {
            Ok(()) => Ok(State::InSync),
            Err(e) => Ok(State::drift(format!("not ready ({e})"))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        super::poll(self.timeout, Duration::from_millis(500), || self.probe()).map_err(|e| {
            ResError::msg(format!("{} did not answer at `{}` within {}s: {e}", self.label, self.url(), self.timeout.as_secs()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = l.accept() {
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b);
                let _ = c.write_all(answer.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn http_check_passes_on_200_with_expected_body() {
        let a = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nready 1");
        let h = HttpCheck::new("x", &a, "/-/ready", Duration::from_secs(1)).expect("ready 1");
        assert!(h.check().unwrap().in_sync());
    }

    #[test]
    fn http_check_reports_status_code_when_not_2xx() {
        let a = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\nnope");
        let h = HttpCheck::new("x", &a, "/", Duration::from_secs(1));
        assert_eq!(h.check().unwrap(), State::drift("not ready (HTTP 503)"));
    }

    #[test]
    fn http_check_times_out_naming_the_url() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap().to_string();
        drop(l);
        let h = HttpCheck::new("prometheus", &a, "/-/ready", Duration::from_millis(10));
        let e = h.apply().unwrap_err().to_string();
        assert!(e.contains("prometheus did not answer") && e.contains("/-/ready"), "{e}");
    }
}
