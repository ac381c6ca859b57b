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

/// Every user as it should be: `{"changed": bool, "users": {user: [diffs]}}`; the
/// first that cannot be made stops it, named.
pub fn ensure_all(endpoints: &str, root_password: &str, users: &[UserSpec]) -> Result<Value> {
    let mut changed = false;
    let mut done = serde_json::Map::new();
    for u in users {
        let r = ensure(&EtcdClusterUser {
            endpoints: endpoints.to_string(),
            root_password: root_password.to_string(),
            user: u.user.clone(),
            password: u.password.0.clone(),
            prefix: u.prefix.clone(),
        })?;
        changed |= r["changed"] == true;
        done.insert(u.user.clone(), r["diffs"].clone());
    }
    Ok(json!({"changed": changed, "users": done}))
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
