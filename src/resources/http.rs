//! `HttpCheck`: an HTTP endpoint that must answer 2xx (and optionally contain a
//! string), polled until a timeout after services start. Plain HTTP over std's
//! TcpStream: no curl needed on the node.
use super::{ResError, ResResult, Resource, State};
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
        HttpCheck {
            label: label.into(),
            addr: addr.into(),
            path: path.into(),
            expect: None,
            timeout,
        }
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

/// One GET of `http://addr{path}`: the status code and the body.
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    crate::sys::http::get(addr, path, timeout).map(|r| (r.status, r.body))
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
            ResError::msg(format!(
                "{} did not answer at `{}` within {}s: {e}",
                self.label,
                self.url(),
                self.timeout.as_secs()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
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
        assert!(
            e.contains("prometheus did not answer") && e.contains("/-/ready"),
            "{e}"
        );
    }
}
