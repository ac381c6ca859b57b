//! `pigsty plan`: what would change on each host, without changing anything.
//! `--check` exits 3 when anything would change.
use crate::cli::{Global, PlanArgs};
use crate::engine::Mode;
use anyhow::Result;

pub fn run(g: &Global, a: &PlanArgs) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let (code, rep) = super::deploy::converge(g, &inv, &a.target, Mode::Check, false)?;
    if code != 0 {
        return Ok(code);
    }
    let total = rep.total();
    if !g.json {
        if total.changed == 0 {
            println!("no changes: every host is in sync");
        } else {
            for (h, r) in &rep.hosts {
                for c in &r.changes {
                    println!("{h}  ~ {c}");
                }
            }
            println!("{} change(s) pending", total.changed);
        }
    }
    Ok(if a.check && total.changed > 0 { 3 } else { 0 })
}
