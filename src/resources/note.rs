//! A step that is always skipped with a reason: something the module chose not to do
//! on this host (a package it replaces, a capability the host lacks), shown in every
//! run instead of being left out silently.
use super::{ResResult, Resource, State};

pub struct Note {
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

impl Note {
    pub fn skip(kind: &'static str, name: &str, reason: &str) -> Self {
        Note {
            kind,
            name: name.into(),
            reason: reason.into(),
        }
    }
}

impl Resource for Note {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::Skip(self.reason.clone()))
    }
    fn apply(&self) -> ResResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_is_always_skipped_with_its_reason() {
        let n = Note::skip("package", "tuned", "node_tune is applied by pigsty");
        assert_eq!(
            n.check().unwrap(),
            State::Skip("node_tune is applied by pigsty".into())
        );
    }
}
