//! What a run hands to planning besides the inventory, the host and its facts: the
//! certificates the controller delivered, the files the inventory names, and the
//! run's own switches. Planning reads these from [`crate::modules::Ctx`], never from
//! process globals, so a plan is a pure function of (inventory, host, facts, options).
//!
//! This is a leaf: the request types (`remote::request`), the modules and the
//! controller all point down to it.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A certificate and its private key (PEM).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertPair {
    pub crt: String,
    pub key: String,
}

/// What the controller hands a node along with its request (see `crate::pki`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delivered {
    /// The CA certificate (PEM), when the admin node has one.
    #[serde(default)]
    pub ca_crt: Option<String>,
    /// Server certificates issued for this node, by purpose (`minio`).
    #[serde(default)]
    pub certs: BTreeMap<String, CertPair>,
}

impl Delivered {
    pub const NONE: Delivered = Delivered {
        ca_crt: None,
        certs: BTreeMap::new(),
    };
}

/// A part of the PGSQL module, for `pigsty pgsql user|db|hba|svc|ext`: catalog work on
/// the primary, pgBouncer and HAProxy files on every member, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `user`, `db`, `hba`, `svc` or `ext`.
    pub part: String,
    /// The user, the database, or the extensions (none: all listed).
    #[serde(default)]
    pub names: Vec<String>,
    /// Dropping a database marked absent was confirmed.
    #[serde(default)]
    pub allow_drop: bool,
}

/// The run's inputs to planning, other than inventory, host and facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Certificates delivered with the request.
    pub pki: Delivered,
    /// Files the inventory names (`baseline` SQL), read by the controller, by name.
    pub files: BTreeMap<String, String>,
    /// The plan is made only to list its packages (`pigsty repo list|build`): parts
    /// that need delivered material (certificates) are left out instead of failing.
    pub packages_only: bool,
}

impl PlanOptions {
    /// Nothing delivered, nothing named: what tests and `plan` of a bare host use.
    pub const NONE: PlanOptions = PlanOptions {
        pki: Delivered::NONE,
        files: BTreeMap::new(),
        packages_only: false,
    };
}

/// [`PlanOptions::NONE`] as a value to borrow.
pub static NO_OPTIONS: PlanOptions = PlanOptions::NONE;
/// Planning only for the package list.
pub static PACKAGES_ONLY: PlanOptions = PlanOptions {
    pki: Delivered::NONE,
    files: BTreeMap::new(),
    packages_only: true,
};
