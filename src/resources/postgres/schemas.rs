//! Schemas in an existing database (template1, postgres: `pg_default_schemas`).
use super::*;

pub struct PgSchemas {
    pub psql: Psql,
    pub db: String,
    pub schemas: Vec<String>,
}

impl PgSchemas {
    fn missing(&self) -> ResResult<(bool, Vec<String>)> {
        let v = self.psql.json(
            &self.db,
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'schemas', (SELECT json_agg(nspname) FROM pg_namespace));",
        )?;
        let have: BTreeSet<&str> = v["schemas"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let miss = self
            .schemas
            .iter()
            .filter(|s| !have.contains(s.as_str()))
            .cloned()
            .collect();
        Ok((v["recovery"].as_bool().unwrap_or(false), miss))
    }
}

impl Resource for PgSchemas {
    fn kind(&self) -> &'static str {
        "pg schema"
    }
    fn name(&self) -> String {
        format!("{} in {}", self.schemas.join(", "), self.db)
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, miss) = self.missing()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(State::from_diffs(
            miss.into_iter()
                .map(|s| format!("database {}: create schema {s}", self.db))
                .collect(),
        ))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = String::from(QUIET);
        for s in &self.schemas {
            sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(s)));
        }
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}
