//! pgBouncer's userlist, from the catalog.
use super::*;

/// `/etc/pgbouncer/userlist.txt`: `"user" "SCRAM-SHA-256$..."` for each listed user,
/// taken from `pg_authid` so pgBouncer holds the very verifier Postgres has (SCRAM
/// pass-through to the server needs the same salt). Works on replicas too (read-only).
pub struct PgbouncerUserlist {
    pub psql: Psql,
    pub path: String,
    pub users: Vec<String>,
    pub owner: String,
}

impl PgbouncerUserlist {
    fn render(&self) -> ResResult<String> {
        if self.users.is_empty() {
            return Ok(String::new());
        }
        let list = self
            .users
            .iter()
            .map(|u| lit(u))
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!(
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'n', (SELECT count(*) FROM pg_roles WHERE rolname IN ({list})), 'users', (SELECT coalesce(json_agg(json_build_array(rolname, rolpassword) \
ORDER BY rolname), '[]') FROM pg_authid WHERE rolname IN ({list}) AND rolpassword IS NOT NULL));"
        );
        // On a replica a role the primary has just created may not be replayed yet:
        // wait a little for every listed user to show up.
        let t0 = std::time::Instant::now();
        let v = loop {
            let v = self.psql.json("postgres", &query)?;
            let found = v["n"].as_u64().unwrap_or(0) as usize;
            if v["recovery"] != true
                || found >= self.users.len()
                || t0.elapsed() > Duration::from_secs(10)
            {
                break v["users"].clone();
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let mut s = String::new();
        for r in v.as_array().into_iter().flatten() {
            let (Some(u), Some(p)) = (r[0].as_str(), r[1].as_str()) else {
                continue;
            };
            s.push_str(&format!(
                "\"{}\" \"{}\"\n",
                u.replace('"', "\"\""),
                p.replace('"', "\"\"")
            ));
        }
        Ok(s)
    }
    fn file(&self, content: String) -> crate::resources::File {
        crate::resources::File::new(&self.path, content)
            .mode(0o600)
            .owner(&self.owner, &self.owner)
            .secret()
    }
}

/// Users whose line differs between two userlists (names only).
pub(crate) fn userlist_delta(old: &str, new: &str) -> Vec<String> {
    let parse = |s: &str| -> BTreeMap<String, String> {
        s.lines()
            .filter_map(|l| {
                l.split_once("\" \"")
                    .map(|(u, p)| (u.trim_start_matches('"').to_string(), p.to_string()))
            })
            .collect()
    };
    let (o, n) = (parse(old), parse(new));
    let mut d = vec![];
    for (u, p) in &n {
        match o.get(u) {
            None => d.push(format!("userlist: add {u}")),
            Some(q) if q != p => d.push(format!("userlist: new secret for {u}")),
            _ => {}
        }
    }
    for u in o.keys().filter(|u| !n.contains_key(*u)) {
        d.push(format!("userlist: remove {u}"));
    }
    d
}

impl Resource for PgbouncerUserlist {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn name(&self) -> String {
        self.path.clone()
    }
    fn check(&self) -> ResResult<State> {
        let content = self.render()?;
        let old = std::fs::read_to_string(&self.path).unwrap_or_default();
        let f = self.file(content.clone());
        match f.check()? {
            State::InSync => Ok(State::InSync),
            State::Drift(mut d) => {
                // a secret file's content change says nothing; tell which users differ
                let changed = crate::resources::Delta::Content { summary: None };
                if d.contains(&changed) {
                    d.retain(|x| *x != changed);
                    let words = userlist_delta(&old, &content);
                    d.extend(if words.is_empty() {
                        vec![changed]
                    } else {
                        words
                            .into_iter()
                            .map(crate::resources::Delta::from)
                            .collect()
                    });
                }
                Ok(State::Drift(d))
            }
            other => Ok(other),
        }
    }
    fn apply(&self) -> ResResult<()> {
        self.file(self.render()?).apply()
    }
}
