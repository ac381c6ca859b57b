//! The character sets of names the inventory gives (cluster, user, database, schema,
//! OS user, `ca_cn`) and the parsed form of a `pg_default_privileges` entry. These
//! names end up in SQL, file paths, systemd unit names, etcd keys and certificate
//! subjects; `validate` refuses anything outside these sets with the file and line,
//! so nothing downstream has to guess how to quote them. A leaf: used by the
//! inventory checks and by the resources that build SQL.

/// What a name is; each kind has its own character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `pg_cluster`, `redis_cluster`, `minio_cluster`, `etcd_cluster`, `node_cluster`:
    /// part of paths, unit names, etcd keys and DNS-like service names.
    Cluster,
    /// A Postgres role, database or schema name (quoted where it reaches SQL).
    Postgres,
    /// An operating-system user (`pg_dbsu`, `redis` ...).
    OsUser,
    /// The CA's common name (`ca_cn`), a certificate subject.
    CommonName,
}

impl Kind {
    fn allowed(self) -> &'static str {
        match self {
            Kind::Cluster => "letters, digits, `_`, `-` and `.`, starting with a letter or digit, at most 63",
            Kind::Postgres => "letters, digits, `_`, `-`, `.` and `$`, starting with a letter, digit or `_`, at most 63",
            Kind::OsUser => "lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32",
            Kind::CommonName => "letters, digits, spaces, `_`, `-` and `.`, starting with a letter or digit, at most 64",
        }
    }
    fn max(self) -> usize {
        match self {
            Kind::Cluster | Kind::Postgres => 63,
            Kind::OsUser => 32,
            Kind::CommonName => 64,
        }
    }
    fn first_ok(self, c: char) -> bool {
        match self {
            Kind::Cluster | Kind::CommonName => c.is_ascii_alphanumeric(),
            Kind::Postgres => c.is_ascii_alphanumeric() || c == '_',
            Kind::OsUser => c.is_ascii_lowercase() || c == '_',
        }
    }
    fn rest_ok(self, c: char) -> bool {
        match self {
            Kind::Cluster => c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'),
            Kind::Postgres => c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'),
            Kind::OsUser => c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'),
            Kind::CommonName => c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'),
        }
    }
}

/// `Ok` when `name` is in the character set of `kind`; else why not, in words.
pub fn check(kind: Kind, name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("is empty".into());
    };
    if name.len() > kind.max() {
        return Err(format!(
            "is {} bytes long; allowed: {}",
            name.len(),
            kind.allowed()
        ));
    }
    let bad = std::iter::once((0, first))
        .filter(|&(_, c)| !kind.first_ok(c))
        .chain(
            name.chars()
                .enumerate()
                .skip(1)
                .filter(|&(_, c)| !kind.rest_ok(c)),
        )
        .map(|(_, c)| c)
        .next();
    match bad {
        None => Ok(()),
        Some(c) => Err(format!(
            "has {} where only {} are allowed",
            describe(c),
            kind.allowed()
        )),
    }
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\'' => "a quote (')".into(),
        '"' => "a double quote (\")".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// The objects a default privilege applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objects {
    Tables,
    Sequences,
    Functions,
    Types,
    Schemas,
}

impl Objects {
    /// `pg_default_acl.defaclobjtype`.
    pub fn objtype(self) -> char {
        match self {
            Objects::Tables => 'r',
            Objects::Sequences => 'S',
            Objects::Functions => 'f',
            Objects::Types => 'T',
            Objects::Schemas => 'n',
        }
    }
    fn sql(self) -> &'static str {
        match self {
            Objects::Tables => "TABLES",
            Objects::Sequences => "SEQUENCES",
            Objects::Functions => "FUNCTIONS",
            Objects::Types => "TYPES",
            Objects::Schemas => "SCHEMAS",
        }
    }
    /// The privileges Postgres accepts on these objects (`ALL` aside).
    fn privileges(self) -> &'static [&'static str] {
        match self {
            Objects::Tables => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
                "MAINTAIN",
            ],
            Objects::Sequences => &["USAGE", "SELECT", "UPDATE"],
            Objects::Functions => &["EXECUTE"],
            Objects::Types => &["USAGE"],
            Objects::Schemas => &["USAGE", "CREATE"],
        }
    }
}

/// One `GRANT <privilege> ON <objects> TO <role>` of `pg_default_privileges`, parsed;
/// the SQL is rebuilt from these parts (the role quoted), never spliced from the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultGrant {
    /// Upper case, one of the privileges of `objects`.
    pub privilege: String,
    pub objects: Objects,
    /// A role name, or `public`.
    pub role: String,
}

impl DefaultGrant {
    pub const FORM: &'static str =
        "GRANT <privilege> ON <TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS> TO <role>";

    pub fn parse(text: &str) -> Result<DefaultGrant, String> {
        let w: Vec<&str> = text.split_whitespace().collect();
        let form = || format!("expected `{}`, got `{text}`", Self::FORM);
        if w.len() != 6
            || !w[0].eq_ignore_ascii_case("GRANT")
            || !w[2].eq_ignore_ascii_case("ON")
            || !w[4].eq_ignore_ascii_case("TO")
        {
            return Err(form());
        }
        let objects = match w[3].to_ascii_uppercase().as_str() {
            "TABLES" => Objects::Tables,
            "SEQUENCES" => Objects::Sequences,
            "FUNCTIONS" | "ROUTINES" => Objects::Functions,
            "TYPES" => Objects::Types,
            "SCHEMAS" => Objects::Schemas,
            _ => return Err(form()),
        };
        let privilege = w[1].to_ascii_uppercase();
        if privilege != "ALL" && !objects.privileges().contains(&privilege.as_str()) {
            return Err(format!(
                "`{}` is not a privilege on {}; one of {}, ALL",
                w[1],
                objects.sql(),
                objects.privileges().join(", ")
            ));
        }
        let quoted = w[5].len() >= 2 && w[5].starts_with('"') && w[5].ends_with('"');
        let role = if quoted {
            &w[5][1..w[5].len() - 1]
        } else {
            w[5]
        };
        if !role.eq_ignore_ascii_case("public") {
            check(Kind::Postgres, role).map_err(|e| format!("role `{role}` {e}"))?;
        }
        Ok(DefaultGrant {
            privilege,
            objects,
            role: role.to_string(),
        })
    }

    /// `GRANT <privilege> ON <objects> TO <role>`, the role quoted (`PUBLIC` as is).
    pub fn sql(&self) -> String {
        let to = if self.role.eq_ignore_ascii_case("public") {
            "PUBLIC".to_string()
        } else {
            format!("\"{}\"", self.role)
        };
        format!("GRANT {} ON {} TO {to}", self.privilege, self.objects.sql())
    }

    /// The grantee as `pg_default_acl` names it (`public` for PUBLIC).
    pub fn grantee(&self) -> String {
        if self.role.eq_ignore_ascii_case("public") {
            "public".into()
        } else {
            self.role.clone()
        }
    }

    /// The privilege names `aclexplode` reports for this grant (`ALL` expanded).
    pub fn exploded(&self) -> Vec<String> {
        if self.privilege == "ALL" {
            // MAINTAIN exists only from Postgres 17; `ALL` on older servers leaves it out
            self.objects
                .privileges()
                .iter()
                .filter(|p| **p != "MAINTAIN")
                .map(|p| p.to_string())
                .collect()
        } else {
            vec![self.privilege.clone()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_set_pass_and_the_rest_say_why() {
        for ok in ["pg-meta", "pg_test.1", "redis-ms", "9x"] {
            assert_eq!(check(Kind::Cluster, ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check(Kind::Cluster, "pg test").unwrap_err(),
            "has a space where only letters, digits, `_`, `-` and `.`, starting with a letter or digit, at most 63 are allowed"
        );
        assert!(check(Kind::Cluster, "-x").is_err());
        assert!(check(Kind::Cluster, "").unwrap_err().contains("empty"));
        assert!(check(Kind::Cluster, &"a".repeat(64))
            .unwrap_err()
            .contains("64 bytes"));
        for ok in [
            "dbuser_meta",
            "dbrole_readonly",
            "_x",
            "app$1",
            "grafana-db",
        ] {
            assert_eq!(check(Kind::Postgres, ok), Ok(()), "{ok}");
        }
        assert!(check(Kind::Postgres, "bob'; DROP")
            .unwrap_err()
            .contains("a quote (')"));
        assert!(check(Kind::Postgres, "a\"b")
            .unwrap_err()
            .contains("double quote"));
        assert!(check(Kind::Postgres, "tab\tx")
            .unwrap_err()
            .contains("U+0009"));
        assert!(check(Kind::Postgres, "é").is_err());
        assert_eq!(check(Kind::OsUser, "postgres"), Ok(()));
        assert!(check(Kind::OsUser, "Postgres").is_err());
        assert!(check(Kind::OsUser, "pg/x").is_err());
        assert_eq!(check(Kind::CommonName, "pigsty-ca"), Ok(()));
        assert_eq!(check(Kind::CommonName, "Acme Root CA"), Ok(()));
        assert!(check(Kind::CommonName, "x'; rm -rf /").is_err());
    }

    #[test]
    fn default_grants_parse_into_parts_and_rebuild_quoted() {
        let g = DefaultGrant::parse("GRANT SELECT ON TABLES TO dbrole_readonly").unwrap();
        assert_eq!(
            (g.privilege.as_str(), g.objects.objtype(), g.role.as_str()),
            ("SELECT", 'r', "dbrole_readonly")
        );
        assert_eq!(g.sql(), "GRANT SELECT ON TABLES TO \"dbrole_readonly\"");
        let g = DefaultGrant::parse("grant  execute on functions to public").unwrap();
        assert_eq!(g.sql(), "GRANT EXECUTE ON FUNCTIONS TO PUBLIC");
        assert_eq!(g.grantee(), "public");
        assert_eq!(
            DefaultGrant::parse("GRANT USAGE ON SCHEMAS TO \"dbrole_offline\"")
                .unwrap()
                .role,
            "dbrole_offline"
        );
        assert_eq!(
            DefaultGrant::parse("GRANT ALL ON SEQUENCES TO x")
                .unwrap()
                .exploded(),
            ["USAGE", "SELECT", "UPDATE"]
        );
    }

    #[test]
    fn default_grants_that_would_splice_sql_are_refused() {
        for bad in [
            "GRANT SELECT ON TABLES TO x;DROP",
            "GRANT SELECT ON TABLES TO x; DROP TABLE t",
            "GRANT SELECT,DELETE ON TABLES TO x",
            "GRANT SELECT ON TABLES TO x'",
            "GRANT SELECT ON EVERYTHING TO x",
            "GRANT EXECUTE ON TABLES TO x",
            "REVOKE SELECT ON TABLES FROM x",
            "",
        ] {
            assert!(DefaultGrant::parse(bad).is_err(), "{bad}");
        }
        assert!(DefaultGrant::parse("GRANT SELECT ON TABLES TO x;DROP")
            .unwrap_err()
            .contains("`;`"));
    }
}
