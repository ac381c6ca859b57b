//! A service answering on a TCP address. Some settings only take effect on a restart
//! (pgBouncer's `listen_addr`/`listen_port`, an exporter's listen flag): when the unit
//! runs but nothing accepts connections on the address the inventory wants, restart
//! the unit and wait until something does.
use super::{ResError, ResResult, Resource, State};
use crate::sys::systemd;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub struct Listening {
    /// `ip:port`
    pub addr: String,
    pub unit: String,
    pub timeout: Duration,
}

impl Listening {
    pub fn new(addr: impl Into<String>, unit: &str) -> Self {
        Listening {
            addr: addr.into(),
            unit: unit.into(),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn accepts(&self) -> bool {
        let Ok(mut it) = self.addr.to_socket_addrs() else {
            return false;
        };
        it.next()
            .is_some_and(|sa| TcpStream::connect_timeout(&sa, Duration::from_secs(2)).is_ok())
    }
}

impl Resource for Listening {
    fn kind(&self) -> &'static str {
        "listen"
    }
    fn name(&self) -> String {
        format!("{} on {}", self.unit, self.addr)
    }
    fn check(&self) -> ResResult<State> {
        // A unit (re)started a moment ago by a handler may still be binding: give an
        // active unit a few seconds before calling it a drift (instant when it accepts).
        let t0 = Instant::now();
        let mut ok = self.accepts();
        while !ok && t0.elapsed() < Duration::from_secs(5) && systemd::is_active(&self.unit) {
            std::thread::sleep(Duration::from_millis(250));
            ok = self.accepts();
        }
        if ok {
            Ok(State::InSync)
        } else {
            Ok(State::drift(format!(
                "nothing accepts on {}: restart {}",
                self.addr, self.unit
            )))
        }
    }
    fn apply(&self) -> ResResult<()> {
        // A unit that was just (re)started may need a moment before it accepts.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if self.accepts() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        systemd::systemctl(&["restart", &self.unit])?;
        let t0 = Instant::now();
        while t0.elapsed() < self.timeout {
            if self.accepts() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let journal = crate::sys::systemd::journal_tail(&self.unit, 15);
        Err(ResError::msg(format!(
            "`{}` restarted but nothing accepts on {} after {}s\njournal of `{}`:\n{journal}",
            self.unit,
            self.addr,
            self.timeout.as_secs(),
            self.unit
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_is_in_sync() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Listening::new(l.local_addr().unwrap().to_string(), "x.service");
        assert!(r.check().unwrap().in_sync());
        drop(l);
        let State::Drift(d) = r.check().unwrap() else {
            panic!()
        };
        let d: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert!(d[0].contains("restart x.service"), "{d:?}");
    }
}
