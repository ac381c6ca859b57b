//! Default privileges (`pg_default_privileges`, owners' defaults).
use super::*;

/// (owner, objtype letter, grantee, privilege) of one default grant.
type Grant = (String, char, String, String);

/// `ALTER DEFAULT PRIVILEGES FOR ROLE <owner> GRANT ...` for each owner, in one
/// database (template1 so new databases inherit them, and postgres).
pub struct PgDefaultPrivileges {
    pub psql: Psql,
    pub db: String,
    pub owners: Vec<String>,
    /// Pigsty's form: `GRANT SELECT ON TABLES TO dbrole_readonly`.
    pub grants: Vec<String>,
}

/// (objtype letter, privilege name, grantee) of one `GRANT <priv> ON <objects> TO <role>`.
pub fn parse_default_grant(g: &str) -> Option<(char, String, String)> {
    let w: Vec<&str> = g.split_whitespace().collect();
    let on = w.iter().position(|x| x.eq_ignore_ascii_case("ON"))?;
    let to = w.iter().position(|x| x.eq_ignore_ascii_case("TO"))?;
    if !w.first()?.eq_ignore_ascii_case("GRANT") || on != 2 || to != 4 || w.len() != 6 {
        return None;
    }
    let objtype = match w[3].to_ascii_uppercase().as_str() {
        "TABLES" => 'r',
        "SEQUENCES" => 'S',
        "FUNCTIONS" | "ROUTINES" => 'f',
        "TYPES" => 'T',
        "SCHEMAS" => 'n',
        _ => return None,
    };
    Some((objtype, w[1].to_ascii_uppercase(), w[5].trim_matches('"').to_string()))
}

impl PgDefaultPrivileges {
    fn want(&self) -> BTreeSet<Grant> {
        let mut s = BTreeSet::new();
        for o in &self.owners {
            for g in &self.grants {
                if let Some((t, p, r)) = parse_default_grant(g) {
                    s.insert((o.clone(), t, r, p));
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
        Ok((v["recovery"].as_bool().unwrap_or(false), self.want().difference(&have).cloned().collect()))
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
                if parse_default_grant(g).is_none() {
                    return Err(ResError::msg(format!("default privilege `{g}`: expected `GRANT <privilege> ON <TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS> TO <role>`")));
                }
                sql.push_str(&format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} {g};\n", ident(o)));
            }
        }
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}

