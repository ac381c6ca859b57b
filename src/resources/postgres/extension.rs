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

impl PgExtension {
    fn state(&self) -> ResResult<Value> {
        self.psql.json(
            &self.db,
            &format!(
                "SELECT json_build_object('recovery', pg_is_in_recovery(), \
'available', EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = {n}), \
'installed', EXISTS (SELECT 1 FROM pg_extension WHERE extname = {n}));",
                n = lit(&self.name)
            ),
        )
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
