//! An extension in a database.
use super::*;

pub struct PgExtension {
    pub psql: Psql,
    pub db: String,
    pub name: String,
    pub schema: Option<String>,
    /// What to tell the user when the extension is not installed on this machine.
    pub hint: String,
}

/// Every extension check of one database shares this one catalog query.
const STATE_QUERY: &str = "SELECT json_build_object('recovery', pg_is_in_recovery(), \
'available', (SELECT coalesce(json_agg(name), '[]') FROM pg_available_extensions), \
'installed', (SELECT coalesce(json_agg(extname), '[]') FROM pg_extension));";

impl PgExtension {
    /// `{recovery, available, installed}` for this extension.
    fn state(&self) -> ResResult<Value> {
        let all = self.psql.shared(&self.db, STATE_QUERY)?;
        let has = |k: &str| {
            all[k]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(self.name.as_str())))
        };
        Ok(serde_json::json!({
            "recovery": all["recovery"], "available": has("available"), "installed": has("installed"),
        }))
    }
}

impl Resource for PgExtension {
    fn kind(&self) -> &'static str {
        "pg extension"
    }
    fn name(&self) -> String {
        format!("{} in {}", self.name, self.db)
    }
    fn check(&self) -> ResResult<State> {
        let v = self.state()?;
        if v["recovery"] == true {
            return Ok(State::Skip(REPLICA.into()));
        }
        if v["installed"] == true {
            return Ok(State::InSync);
        }
        if v["available"] != true {
            return Ok(State::Skip(format!(
                "module pgsql: extension `{}` is not available on this machine; {}",
                self.name, self.hint
            )));
        }
        Ok(State::drift(format!(
            "database {}: create extension {}",
            self.db, self.name
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = format!(
            "{QUIET}CREATE EXTENSION IF NOT EXISTS {}",
            ident(&self.name)
        );
        if let Some(s) = &self.schema {
            sql.push_str(&format!(" WITH SCHEMA {}", ident(s)));
        }
        sql.push_str(" CASCADE;\n");
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}
