//! A marked block of lines inside a file that others also edit (`/etc/hosts`).
use super::{ResResult, Resource, State};
use crate::sys::fs;
use std::path::PathBuf;

pub struct BlockInFile {
    pub path: PathBuf,
    pub marker: String,
    pub lines: Vec<String>,
}

impl BlockInFile {
    pub fn new(path: impl Into<PathBuf>, marker: &str, lines: Vec<String>) -> Self {
        BlockInFile {
            path: path.into(),
            marker: marker.into(),
            lines,
        }
    }
    fn begin(&self) -> String {
        format!("# BEGIN {} (managed by pigsty)", self.marker)
    }
    fn end(&self) -> String {
        format!("# END {}", self.marker)
    }
    /// The file's text with our block replaced (or appended).
    pub fn render(&self, current: &str) -> String {
        let (b, e) = (self.begin(), self.end());
        let mut out = Vec::new();
        let mut inside = false;
        let mut placed = false;
        for l in current.lines() {
            if l == b {
                inside = true;
                continue;
            }
            if inside {
                if l == e {
                    inside = false;
                    if !self.lines.is_empty() {
                        out.push(b.clone());
                        out.extend(self.lines.iter().cloned());
                        out.push(e.clone());
                    }
                    placed = true;
                }
                continue;
            }
            out.push(l.to_string());
        }
        if !placed && !self.lines.is_empty() {
            out.push(b);
            out.extend(self.lines.iter().cloned());
            out.push(e);
        }
        let mut s = out.join("\n");
        s.push('\n');
        s
    }
}

impl Resource for BlockInFile {
    fn kind(&self) -> &'static str {
        "block"
    }
    fn name(&self) -> String {
        format!("{} [{}]", self.path.display(), self.marker)
    }
    fn check(&self) -> ResResult<State> {
        let cur = std::fs::read_to_string(&self.path).unwrap_or_default();
        let new = self.render(&cur);
        if new == cur {
            Ok(State::InSync)
        } else {
            let (a, r) = super::file::line_delta(&cur, &new);
            Ok(State::drift(format!("block: +{a} -{r} lines")))
        }
    }
    fn apply(&self) -> ResResult<()> {
        let cur = std::fs::read_to_string(&self.path).unwrap_or_default();
        let (mode, u, g) = fs::stat(&self.path).unwrap_or((0o644, "root".into(), "root".into()));
        fs::write_atomic(
            &self.path,
            self.render(&cur).as_bytes(),
            mode,
            Some(&u),
            Some(&g),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_replaced_in_place_and_other_lines_kept() {
        let b = BlockInFile::new("/x", "hosts", vec!["10.0.0.1 a".into()]);
        let once = b.render("127.0.0.1 localhost\n");
        assert_eq!(
            once,
            "127.0.0.1 localhost\n# BEGIN hosts (managed by pigsty)\n10.0.0.1 a\n# END hosts\n"
        );
        assert_eq!(b.render(&once), once, "idempotent");
        let b2 = BlockInFile::new("/x", "hosts", vec!["10.0.0.2 b".into()]);
        assert!(
            b2.render(&once).contains("10.0.0.2 b") && !b2.render(&once).contains("10.0.0.1 a")
        );
    }
}
