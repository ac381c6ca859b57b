//! A systemd unit: enabled or not, active or not.
use super::{Delta, ResResult, Resource, State, UnitAction};
use crate::sys::systemd;

pub struct Service {
    pub unit: String,
    pub enabled: bool,
    pub active: bool,
}

impl Service {
    /// Enabled and running.
    pub fn running(unit: &str) -> Self {
        Service {
            unit: unit.into(),
            enabled: true,
            active: true,
        }
    }
    /// Disabled and stopped (a distro unit we replace).
    pub fn stopped(unit: &str) -> Self {
        Service {
            unit: unit.into(),
            enabled: false,
            active: false,
        }
    }
}

impl Resource for Service {
    fn kind(&self) -> &'static str {
        "service"
    }
    fn name(&self) -> String {
        self.unit.clone()
    }
    fn check(&self) -> ResResult<State> {
        if !self.enabled && !self.active && !systemd::unit_exists(&self.unit) {
            return Ok(State::InSync);
        }
        let mut d = vec![];
        let en = systemd::is_enabled(&self.unit);
        if en != self.enabled {
            d.push(Delta::Unit {
                action: if self.enabled {
                    UnitAction::Enable
                } else {
                    UnitAction::Disable
                },
            });
        }
        let ac = systemd::is_active(&self.unit);
        if ac != self.active {
            d.push(Delta::Unit {
                action: if self.active {
                    UnitAction::Start
                } else {
                    UnitAction::Stop
                },
            });
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        if self.enabled != systemd::is_enabled(&self.unit) {
            systemd::systemctl(&[
                if self.enabled { "enable" } else { "disable" },
                "--quiet",
                &self.unit,
            ])?;
        }
        if self.active != systemd::is_active(&self.unit) {
            if self.active {
                if let Err(e) = systemd::systemctl(&["start", &self.unit]) {
                    let journal = crate::sys::systemd::journal_tail(&self.unit, 15);
                    return Err(super::ResError::msg(format!(
                        "{e}\njournal of `{}`:\n{journal}",
                        self.unit
                    )));
                }
            } else {
                systemd::systemctl(&["stop", &self.unit])?;
            }
        }
        Ok(())
    }
}
