//! `etcd_users`: on an etcd member, the etcd users of Patroni clusters (each readwrite
//! on its key prefix only), made with etcd's root. The controller sends it once per
//! run, before the PGSQL phases, so database nodes never hold the etcd root password: they
//! get their cluster's own password (`pg_etcd_password`) and nothing else.
use crate::resources::etcd_auth::EtcdClusterUser;
use crate::resources::{Resource, State};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A secret in an action: serialized as the plain string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// One cluster's user: name (`patroni-<cluster>`), password, key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    pub user: String,
    pub password: Secret,
    pub prefix: String,
}

/// Every user as it should be: `{"changed": bool, "users": {user: [diffs]}, "diffs":
/// [all of them]}`; the
/// first that cannot be made stops it, named. With `check`, only what is missing
/// (`changed`: something would be made); an etcd that cannot be asked yet (not
/// installed, not running) is said as what the run would do first.
pub fn ensure_all(
    endpoints: &str,
    root_password: &str,
    users: &[UserSpec],
    check: bool,
) -> Result<Value> {
    // users are independent: each is asked (and made) on its own thread, the answers
    // taken in order, so the first that cannot be made is the one named
    let results: Vec<Result<Value>> = std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter()
            .map(|u| {
                s.spawn(move || {
                    let user = EtcdClusterUser {
                        endpoints: endpoints.to_string(),
                        root_password: root_password.to_string(),
                        user: u.user.clone(),
                        password: u.password.0.clone(),
                        prefix: u.prefix.clone(),
                    };
                    if check {
                        Ok(missing(&user))
                    } else {
                        ensure(&user)
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("etcd user check panicked")))
            })
            .collect()
    });
    let mut changed = false;
    let mut done = serde_json::Map::new();
    let mut all = vec![];
    for (u, r) in users.iter().zip(results) {
        let r = r?;
        changed |= r["changed"] == true;
        all.extend(r["diffs"].as_array().cloned().unwrap_or_default());
        done.insert(u.user.clone(), r["diffs"].clone());
    }
    Ok(json!({"changed": changed, "users": done, "diffs": all}))
}

/// What `ensure` would do: `{"changed": bool, "diffs": [...]}`.
fn missing(user: &EtcdClusterUser) -> Value {
    match user.check() {
        Ok(State::InSync) => json!({"changed": false, "diffs": []}),
        Ok(d @ State::Drift(_)) => json!({"changed": true, "diffs": d.words()}),
        Ok(State::Skip(why)) => {
            json!({"changed": true, "diffs": [format!("cannot tell yet: {why}")]})
        }
        Err(e) => {
            json!({"changed": true, "diffs": [format!("{}: cannot tell before etcd answers ({e})", user.user)]})
        }
    }
}

/// Make the user as it should be: `{"changed": bool, "diffs": [...]}`.
fn ensure(user: &EtcdClusterUser) -> Result<Value> {
    let diffs = match user.check().map_err(|e| anyhow!("{e}"))? {
        State::InSync => return Ok(json!({"changed": false, "diffs": []})),
        d @ State::Drift(_) => d.words(),
        State::Skip(why) => bail!("etcd user {}: {why}", user.user),
    };
    user.apply().map_err(|e| anyhow!("{e}"))?;
    match user.check().map_err(|e| anyhow!("{e}"))? {
        State::InSync => Ok(json!({"changed": true, "diffs": diffs})),
        other => bail!(
            "etcd user {}: still out of sync after apply: {}",
            user.user,
            other.words().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_makes_nothing_and_says_what_it_cannot_tell_yet() {
        let users = [UserSpec {
            user: "patroni-pg-test".into(),
            password: Secret("pw".into()),
            prefix: "/pg/pg-test/".into(),
        }];
        // no etcd answers there: a check is not an error, it says what the run would do
        let v = ensure_all("https://127.0.0.1:1", "root-pw", &users, true).unwrap();
        assert_eq!(v["changed"], true, "{v}");
        let d = v["users"]["patroni-pg-test"][0]
            .as_str()
            .unwrap_or_default();
        assert!(
            d.contains("patroni-pg-test: cannot tell before etcd answers"),
            "{d}"
        );
        // making them there fails, named
        let e = ensure_all("https://127.0.0.1:1", "root-pw", &users, false).unwrap_err();
        assert!(!format!("{e:#}").contains("root-pw"), "{e:#}");
    }

    #[test]
    fn requests_of_older_controllers_are_not_checks() {
        let a: crate::actions::Action = serde_json::from_str(
            r#"{"action": "etcd_users", "endpoints": "https://10.0.0.1:2379", "root_password": "x", "users": []}"#,
        )
        .unwrap();
        assert!(matches!(
            a,
            crate::actions::Action::EtcdUsers { check: false, .. }
        ));
    }
}
