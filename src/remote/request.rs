//! The request the controller sends to `pigsty node apply` on stdin (one JSON object),
//! and the final line node mode prints after its events.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRequest {
    /// Inventory text (YAML) and the name to report errors against.
    pub inventory: String,
    pub inventory_name: String,
    pub extra_vars: Vec<String>,
    /// The inventory host this node is.
    pub host: String,
    /// Modules to converge, in order (lowercase names).
    pub modules: Vec<String>,
    /// `apply` or `check`.
    pub mode: String,
    /// Remove the modules from this host instead of converging them.
    #[serde(default)]
    pub remove: bool,
    /// Hosts leaving a module in this run (`module` -> addresses): they are treated as
    /// gone (no scrape targets, no HAProxy backends) while converging the others.
    #[serde(default)]
    pub forget: std::collections::BTreeMap<String, Vec<String>>,
    /// Only this part of the pgsql module (`pigsty pgsql user|db|hba|svc|ext`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgsql_scope: Option<crate::options::Scope>,
    /// Files the inventory names (`baseline` SQL), read on the controller, by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, String>,
    /// The CA certificate to trust and server certificates issued for this node
    /// (see `crate::pki`); keys travel only here, on stdin.
    #[serde(default)]
    pub pki: crate::options::Delivered,
    /// Run this action instead of converging modules (`modules` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::actions::Action>,
}

impl NodeRequest {
    /// A request that runs `action` on `host` and converges nothing.
    pub fn action(host: &str, action: crate::actions::Action) -> NodeRequest {
        NodeRequest {
            inventory: String::new(),
            inventory_name: String::new(),
            extra_vars: vec![],
            host: host.into(),
            modules: vec![],
            mode: "apply".into(),
            remove: false,
            forget: Default::default(),
            pgsql_scope: None,
            files: Default::default(),
            pki: Default::default(),
            action: Some(action),
        }
    }
}

/// Last line of node mode output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeDone {
    pub event: String,
    pub ok: bool,
    pub error: Option<String>,
    /// An action's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_travel_in_the_node_request_and_old_requests_still_parse() {
        let old = r#"{"inventory":"","inventory_name":"x","extra_vars":[],"host":"h","modules":["pgsql"],"mode":"check"}"#;
        let r: NodeRequest = serde_json::from_str(old).unwrap();
        assert!(r.pgsql_scope.is_none() && r.files.is_empty());
        let s = crate::options::Scope {
            part: "db".into(),
            names: vec!["appdb".into()],
            allow_drop: true,
        };
        let back: crate::options::Scope =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
