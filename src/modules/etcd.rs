//! ETCD module (being built).
use super::{Ctx, ScrapeTarget};
use crate::engine::ModulePlan;
use crate::inventory::{Host, Inventory};
use anyhow::Result;

pub fn plan(_ctx: &Ctx) -> Result<ModulePlan> {
    anyhow::bail!("module etcd is not built yet")
}

pub fn targets(_inv: &Inventory, _host: &Host) -> Vec<ScrapeTarget> {
    vec![]
}
