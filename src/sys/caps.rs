//! Linux capabilities of this process, from `/proc/self/status`.

/// Linux capability numbers used by the NODE module.
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_TIME: u32 = 25;

/// Whether this process holds `cap` in the given set of `/proc/self/status`
/// (`CapEff` for what it may do now, `CapBnd` for what services it starts may get).
pub fn has_cap(set: &str, cap: u32) -> bool {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    s.lines()
        .find_map(|l| l.strip_prefix(set).and_then(|r| r.strip_prefix(':')))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|bits| bits & (1u64 << cap) != 0)
}
