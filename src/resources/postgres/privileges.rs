//! Default privileges (`pg_default_privileges`, owners' defaults).
use super::*;
use crate::names::DefaultGrant;

/// (owner, objtype letter, grantee, privilege) of one default grant.
type Grant = (String, char, String, String);

/// `ALTER DEFAULT PRIVILEGES FOR ROLE <owner> GRANT ...` for each owner, in one
/// database (template1 so new databases inherit them, and postgres).
pub struct PgDefaultPrivileges {
    pub psql: Psql,
    pub db: String,
    pub owners: Vec<String>,
    /// Pigsty's form (`GRANT SELECT ON TABLES TO dbrole_readonly`), parsed.
    pub grants: Vec<DefaultGrant>,
}

impl PgDefaultPrivileges {
    fn want(&self) -> BTreeSet<Grant> {
        let mut s = BTreeSet::new();
        for o in &self.owners {
            for g in &self.grants {
                for p in g.exploded() {
                    s.insert((o.clone(), g.objects.objtype(), g.grantee(), p));
                }
            }
        }
        s
    }
    fn missing(&self) -> ResResult<(bool, Vec<Grant>)> {
        let v = self.psql.json(
            &self.db,
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'acl', (SELECT coalesce(json_agg(json_build_array(\
pg_get_userbyid(d.defaclrole), d.defaclobjtype, CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type)), '[]') \
FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE d.defaclnamespace = 0));",
        )?;
        let have: BTreeSet<Grant> = v["acl"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        Some((
                            r[0].as_str()?.to_string(),
                            r[1].as_str()?.chars().next()?,
                            r[2].as_str()?.to_string(),
                            r[3].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((
            v["recovery"].as_bool().unwrap_or(false),
            self.want().difference(&have).cloned().collect(),
        ))
    }
}

impl Resource for PgDefaultPrivileges {
    fn kind(&self) -> &'static str {
        "pg privileges"
    }
    fn name(&self) -> String {
        format!("default privileges in {}", self.db)
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, miss) = self.missing()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        if miss.is_empty() {
            return Ok(State::InSync);
        }
        let owners: BTreeSet<&str> = miss.iter().map(|m| m.0.as_str()).collect();
        Ok(State::drift(format!(
            "database {}: {} default grants missing (for {})",
            self.db,
            miss.len(),
            owners.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = String::from(QUIET);
        for o in &self.owners {
            for g in &self.grants {
                sql.push_str(&format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} {};\n",
                    ident(o),
                    g.sql()
                ));
            }
        }
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}
