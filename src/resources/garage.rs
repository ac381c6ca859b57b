//! Garage (the MINIO module's default engine) through its admin API v2, with the one
//! HTTP client (`sys::http`): the bearer token is read from a root-only header file
//! (`Authorization: Bearer ...`), request bodies (which may carry secret keys) travel
//! in the request, never in arguments or messages.
//!
//! - [`GarageLayout`]: every member of the cluster connected and holding a role in the
//!   applied layout (the first member manages it).
//! - [`GarageBucket`]: a bucket with a global alias.
//! - [`GarageKey`]: an access key imported with the inventory's id and secret.
//! - [`GarageGrants`]: a key's permissions are exactly the wanted ones (anything else
//!   is revoked), so a key works only for its own buckets.
use super::{ResError, ResResult, Resource, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The admin API of one Garage node.
#[derive(Debug, Clone)]
pub struct GarageApi {
    /// `http://ip:port`
    pub base: String,
    /// File holding `Authorization: Bearer <token>` (0600).
    pub header_file: String,
}

impl GarageApi {
    pub fn new(base: impl Into<String>, header_file: impl Into<String>) -> Self {
        GarageApi {
            base: base.into(),
            header_file: header_file.into(),
        }
    }

    /// (HTTP status, body); status 0 when the API does not answer (or the token file
    /// cannot be read). The token is read from the root-only header file each call.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> ResResult<(u16, Value)> {
        let Ok(header) = std::fs::read_to_string(&self.header_file) else {
            return Ok((0, Value::Null));
        };
        let auth = header
            .trim()
            .strip_prefix("Authorization:")
            .map(str::trim)
            .unwrap_or("")
            .to_string();
        let payload = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let mut headers = vec![("Authorization", auth.as_str())];
        if payload.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let Ok(r) = crate::sys::http::request(
            method,
            &format!("{}{}", self.base, path),
            &headers,
            payload.as_deref(),
            Duration::from_secs(20),
        ) else {
            return Ok((0, Value::Null));
        };
        let v = serde_json::from_str(&r.body)
            .unwrap_or(Value::String(r.body.chars().take(300).collect()));
        Ok((r.status, v))
    }

    /// Like [`call`](Self::call), but anything but 200 is an error naming the endpoint.
    /// Error bodies never echo request bodies (Garage's messages do not).
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> ResResult<Value> {
        let (code, v) = self.call(method, path, body)?;
        if code == 200 {
            Ok(v)
        } else if code == 0 {
            Err(ResError::msg(format!(
                "garage admin api `{}` does not answer ({path})",
                self.base
            )))
        } else {
            let msg = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            Err(ResError::msg(format!(
                "garage admin api `{}{path}`: HTTP {code}: {msg}",
                self.base
            )))
        }
    }
}

/// One member of a Garage cluster.
#[derive(Debug, Clone)]
pub struct GarageMember {
    pub name: String,
    pub ip: String,
    pub rpc_port: u16,
    /// Its admin API (to learn its node id).
    pub api: GarageApi,
    pub capacity: u64,
}

/// Node id of a member: from its own admin API, the node whose address is its own.
fn node_id(m: &GarageMember) -> ResResult<String> {
    let v = m.api.ok("GET", "/v2/GetClusterStatus", None)?;
    let want = format!("{}:{}", m.ip, m.rpc_port);
    v["nodes"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|n| n["addr"].as_str() == Some(want.as_str()))
                .or_else(|| (a.len() == 1).then(|| &a[0]))
        })
        .and_then(|n| n["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ResError::msg(format!(
                "garage member `{}`: no node with address `{want}` in its cluster status",
                m.name
            ))
        })
}

/// The cluster layout: every member connected and assigned (zone = its name), applied.
pub struct GarageLayout {
    pub cluster: String,
    /// This node's admin API (the manager's).
    pub api: GarageApi,
    pub members: Vec<GarageMember>,
}

impl GarageLayout {
    fn missing(&self) -> ResResult<Vec<String>> {
        let (code, v) = self.api.call("GET", "/v2/GetClusterLayout", None)?;
        if code != 200 {
            return Ok(vec![format!(
                "garage admin api not answering yet (HTTP {code})"
            )]);
        }
        let roles: Vec<String> = v["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["zone"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(self
            .members
            .iter()
            .filter(|m| !roles.contains(&m.name))
            .map(|m| format!("{} has no role in the layout", m.name))
            .collect())
    }
}

impl Resource for GarageLayout {
    fn kind(&self) -> &'static str {
        "garage"
    }
    fn name(&self) -> String {
        format!("layout of {}", self.cluster)
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::from_diffs(self.missing()?))
    }
    fn apply(&self) -> ResResult<()> {
        let mut ids = vec![];
        for m in &self.members {
            super::poll(Duration::from_secs(120), Duration::from_secs(1), || {
                node_id(m).map(|_| ()).map_err(|e| e.to_string())
            })
            .map_err(ResError::msg)?;
            let id = node_id(m)?;
            ids.push((m, id));
        }
        let peers: Vec<String> = ids
            .iter()
            .map(|(m, id)| format!("{id}@{}:{}", m.ip, m.rpc_port))
            .collect();
        if peers.len() > 1 {
            self.api
                .ok("POST", "/v2/ConnectClusterNodes", Some(&json!(peers)))?;
        }
        let roles: Vec<Value> = ids
            .iter()
            .map(|(m, id)| json!({"id": id, "zone": m.name, "capacity": m.capacity, "tags": [m.name]}))
            .collect();
        self.api.ok(
            "POST",
            "/v2/UpdateClusterLayout",
            Some(&json!({ "roles": roles })),
        )?;
        let v = self.api.ok("GET", "/v2/GetClusterLayout", None)?;
        let version = v["version"].as_u64().unwrap_or(0) + 1;
        self.api.ok(
            "POST",
            "/v2/ApplyClusterLayout",
            Some(&json!({ "version": version })),
        )?;
        Ok(())
    }
}

/// A bucket with global alias `name`.
pub struct GarageBucket {
    pub api: GarageApi,
    pub name: String,
}

impl Resource for GarageBucket {
    fn kind(&self) -> &'static str {
        "garage"
    }
    fn name(&self) -> String {
        format!("bucket {}", self.name)
    }
    fn check(&self) -> ResResult<State> {
        let (code, _) = self.api.call(
            "GET",
            &format!("/v2/GetBucketInfo?globalAlias={}", self.name),
            None,
        )?;
        Ok(match code {
            200 => State::InSync,
            404 => State::drift("absent: create"),
            other => State::drift(format!("garage admin api: HTTP {other}")),
        })
    }
    fn apply(&self) -> ResResult<()> {
        self.api.ok(
            "POST",
            "/v2/CreateBucket",
            Some(&json!({ "globalAlias": self.name })),
        )?;
        Ok(())
    }
}

/// An access key with the inventory's id and secret (imported). A different secret on an
/// existing key is reported: Garage cannot change it.
pub struct GarageKey {
    pub api: GarageApi,
    pub id: String,
    pub secret: String,
}

impl GarageKey {
    fn info(&self) -> ResResult<(u16, Value)> {
        self.api.call(
            "GET",
            &format!("/v2/GetKeyInfo?id={}&showSecretKey=true", self.id),
            None,
        )
    }
}

impl Resource for GarageKey {
    fn kind(&self) -> &'static str {
        "garage"
    }
    fn name(&self) -> String {
        format!("key {}", self.id)
    }
    fn check(&self) -> ResResult<State> {
        let (code, v) = self.info()?;
        Ok(match code {
            200 if v["secretAccessKey"].as_str() == Some(self.secret.as_str()) => State::InSync,
            200 => State::drift("secret key differs"),
            404 | 400 => State::drift("absent: import"),
            other => State::drift(format!("garage admin api: HTTP {other}")),
        })
    }
    fn apply(&self) -> ResResult<()> {
        let (code, _) = self.info()?;
        if code == 200 {
            // Garage never reuses a key id, not even after deleting it: a secret cannot
            // change in place.
            return Err(ResError::msg(format!(
                "garage key `{}` exists with another secret, and garage cannot give a key a new secret (nor re-create a deleted key id)\nhint: keep the old `secret_key` in `minio_users`, or use a new `access_key` (and point `pgbackrest_repo.*.s3_key` at it)",
                self.id
            )));
        }
        self.api.ok(
            "POST",
            "/v2/ImportKey",
            Some(&json!({"accessKeyId": self.id, "secretAccessKey": self.secret, "name": self.id})),
        )?;
        Ok(())
    }
}

/// (read, write, owner)
pub type Perm = (bool, bool, bool);

/// The permissions of key `id` are exactly `want` (bucket alias -> perm).
pub struct GarageGrants {
    pub api: GarageApi,
    pub id: String,
    pub want: BTreeMap<String, Perm>,
}

impl GarageGrants {
    /// bucket alias -> (bucket id, perm) as the key has them now.
    fn have(&self) -> ResResult<BTreeMap<String, (String, Perm)>> {
        let v = self
            .api
            .ok("GET", &format!("/v2/GetKeyInfo?id={}", self.id), None)?;
        let mut out = BTreeMap::new();
        for b in v["buckets"].as_array().into_iter().flatten() {
            let alias = b["globalAliases"][0].as_str().unwrap_or("").to_string();
            let id = b["id"].as_str().unwrap_or("").to_string();
            let p = &b["permissions"];
            let perm = (
                p["read"].as_bool().unwrap_or(false),
                p["write"].as_bool().unwrap_or(false),
                p["owner"].as_bool().unwrap_or(false),
            );
            if perm != (false, false, false) {
                out.insert(
                    if alias.is_empty() { id.clone() } else { alias },
                    (id, perm),
                );
            }
        }
        Ok(out)
    }
    fn bucket_id(&self, alias: &str) -> ResResult<String> {
        let v = self.api.ok(
            "GET",
            &format!("/v2/GetBucketInfo?globalAlias={alias}"),
            None,
        )?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ResError::msg(format!("garage bucket `{alias}`: no id")))
    }
}

fn perm_json(p: Perm) -> Value {
    json!({"read": p.0, "write": p.1, "owner": p.2})
}

impl Resource for GarageGrants {
    fn kind(&self) -> &'static str {
        "garage"
    }
    fn name(&self) -> String {
        format!("permissions of key {}", self.id)
    }
    fn check(&self) -> ResResult<State> {
        let (code, _) = self
            .api
            .call("GET", &format!("/v2/GetKeyInfo?id={}", self.id), None)?;
        if code != 200 {
            return Ok(State::drift("key not there yet"));
        }
        let have = self.have()?;
        let mut d = vec![];
        for (b, p) in &self.want {
            match have.get(b) {
                Some((_, hp)) if hp == p => {}
                _ => d.push(format!("grant {b} {}", show(*p))),
            }
        }
        for (b, (_, p)) in &have {
            if !self.want.contains_key(b) {
                d.push(format!("revoke {b} {}", show(*p)));
            }
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        let have = self.have()?;
        for (b, (id, p)) in &have {
            let keep = self.want.get(b).copied().unwrap_or((false, false, false));
            let revoke = (p.0 && !keep.0, p.1 && !keep.1, p.2 && !keep.2);
            if revoke != (false, false, false) {
                self.api.ok(
                    "POST",
                    "/v2/DenyBucketKey",
                    Some(&json!({"bucketId": id, "accessKeyId": self.id, "permissions": perm_json(revoke)})),
                )?;
            }
        }
        for (b, p) in &self.want {
            let id = self.bucket_id(b)?;
            self.api.ok(
                "POST",
                "/v2/AllowBucketKey",
                Some(
                    &json!({"bucketId": id, "accessKeyId": self.id, "permissions": perm_json(*p)}),
                ),
            )?;
        }
        Ok(())
    }
}

fn show(p: Perm) -> String {
    let mut s = String::new();
    if p.0 {
        s.push('r');
    }
    if p.1 {
        s.push('w');
    }
    if p.2 {
        s.push('o');
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_words_are_short() {
        assert_eq!(show((true, true, false)), "rw");
        assert_eq!(show((false, false, false)), "-");
    }

    #[test]
    fn an_unreachable_api_is_status_zero_not_an_error() {
        let a = GarageApi::new("http://127.0.0.1:9", "/nonexistent-header");
        let (code, _) = a.call("GET", "/v2/GetClusterStatus", None).unwrap();
        assert_eq!(code, 0);
    }
}
