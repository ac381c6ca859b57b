//! The JMESPath subset Pigsty's service selectors use, over the cluster members'
//! variables: `[]` (everyone) and filters such as
//! ``[? pg_role == `primary` || pg_role == `offline` ]`` or
//! ``[? pg_role == `replica` && !pg_offline_query]``: field names, backtick JSON
//! literals (a bare word in backticks is a string, as in JMESPath's legacy form),
//! 'raw strings', numbers, `== != < <= > >=`, `!`, `&&`, `||`, parentheses, and
//! JMESPath truthiness (false, null, "", [], {} are false).
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Op(&'static str),
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == '`' || ch == '\'' {
            let end = c[i + 1..]
                .iter()
                .position(|x| *x == ch)
                .ok_or_else(|| format!("unclosed {ch} in `{s}`"))?
                + i
                + 1;
            let body: String = c[i + 1..end].iter().collect();
            let v = if ch == '`' {
                serde_json::from_str(&body).unwrap_or(Value::String(body))
            } else {
                Value::String(body)
            };
            out.push(Tok::Lit(v));
            i = end + 1;
        } else if ch.is_ascii_digit()
            || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            out.push(Tok::Lit(
                serde_json::from_str(&t).map_err(|_| format!("bad number `{t}`"))?,
            ));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            let op = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|o| two == *o);
            match op {
                Some(o) => {
                    out.push(Tok::Op(o));
                    i += 2;
                }
                None => match ch {
                    '<' => {
                        out.push(Tok::Op("<"));
                        i += 1;
                    }
                    '>' => {
                        out.push(Tok::Op(">"));
                        i += 1;
                    }
                    '!' => {
                        out.push(Tok::Op("!"));
                        i += 1;
                    }
                    other => return Err(format!("unexpected `{other}` in selector `{s}`")),
                },
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Field(String),
    Lit(Value),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.peek() == Some(&Tok::Op("||")) {
            self.i += 1;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        while self.peek() == Some(&Tok::Op("&&")) {
            self.i += 1;
            l = Expr::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Op("!")) {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.atom()?;
        if let Some(Tok::Op(o)) = self.peek().cloned() {
            if ["==", "!=", "<", "<=", ">", ">="].contains(&o) {
                self.i += 1;
                let r = self.atom()?;
                return Ok(Expr::Cmp(o, Box::new(l), Box::new(r)));
            }
        }
        Ok(l)
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Ident(f)) => Ok(Expr::Field(f)),
            Some(Tok::Lit(v)) => Ok(Expr::Lit(v)),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("missing `)`".into()),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

fn eval(e: &Expr, vars: &Map<String, Value>) -> Value {
    match e {
        Expr::Field(f) => {
            let mut cur = Value::Object(vars.clone());
            for part in f.split('.') {
                cur = cur.get(part).cloned().unwrap_or(Value::Null);
            }
            cur
        }
        Expr::Lit(v) => v.clone(),
        Expr::Not(x) => Value::Bool(!truthy(&eval(x, vars))),
        Expr::And(a, b) => {
            let l = eval(a, vars);
            if truthy(&l) {
                eval(b, vars)
            } else {
                l
            }
        }
        Expr::Or(a, b) => {
            let l = eval(a, vars);
            if truthy(&l) {
                l
            } else {
                eval(b, vars)
            }
        }
        Expr::Cmp(op, a, b) => {
            let (l, r) = (eval(a, vars), eval(b, vars));
            let res = match *op {
                "==" => l == r || matches!((l.as_f64(), r.as_f64()), (Some(x), Some(y)) if x == y),
                "!=" => {
                    !(l == r || matches!((l.as_f64(), r.as_f64()), (Some(x), Some(y)) if x == y))
                }
                _ => match (l.as_f64(), r.as_f64()) {
                    (Some(x), Some(y)) => match *op {
                        "<" => x < y,
                        "<=" => x <= y,
                        ">" => x > y,
                        _ => x >= y,
                    },
                    _ => return Value::Null,
                },
            };
            Value::Bool(res)
        }
    }
}

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Selector(Option<Expr>);

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, String> {
        let t = s.trim();
        if t.is_empty() || t == "[]" || t == "[*]" || t == "*" {
            return Ok(Selector(None));
        }
        let inner = t
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .and_then(|x| x.trim_start().strip_prefix('?'))
            .ok_or_else(|| format!("selector `{s}`: expected `[]` or `[? <expression> ]`"))?;
        let mut p = Parser {
            t: lex(inner).map_err(|e| format!("selector `{s}`: {e}"))?,
            i: 0,
        };
        let e = p.or().map_err(|e| format!("selector `{s}`: {e}"))?;
        if p.i != p.t.len() {
            return Err(format!("selector `{s}`: trailing input"));
        }
        Ok(Selector(Some(e)))
    }

    pub fn matches(&self, vars: &Map<String, Value>) -> bool {
        match &self.0 {
            None => true,
            Some(e) => truthy(&eval(e, vars)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn pigsty_default_selectors() {
        let primary = vars(json!({"pg_role": "primary", "pg_offline_query": false}));
        let replica = vars(json!({"pg_role": "replica", "pg_offline_query": false}));
        let offq = vars(json!({"pg_role": "replica", "pg_offline_query": true}));
        let offline = vars(json!({"pg_role": "offline"}));
        let all = Selector::parse("[]").unwrap();
        assert!(all.matches(&primary) && all.matches(&offline));
        let b = Selector::parse("[? pg_role == `primary` || pg_role == `offline` ]").unwrap();
        assert!(b.matches(&primary) && b.matches(&offline) && !b.matches(&replica));
        let o = Selector::parse("[? pg_role == `offline` || pg_offline_query ]").unwrap();
        assert!(
            o.matches(&offline) && o.matches(&offq) && !o.matches(&replica) && !o.matches(&primary)
        );
        let ob = Selector::parse("[? pg_role == `replica` && !pg_offline_query]").unwrap();
        assert!(ob.matches(&replica) && !ob.matches(&offq) && !ob.matches(&primary));
    }

    #[test]
    fn numbers_quotes_and_parentheses() {
        let m = vars(json!({"pg_seq": 2, "pg_role": "replica", "pg_weight": 100}));
        assert!(Selector::parse("[? pg_seq == `2`]").unwrap().matches(&m));
        assert!(Selector::parse(
            "[? pg_seq > 1 && (pg_role == 'replica' || pg_role == 'offline')]"
        )
        .unwrap()
        .matches(&m));
        assert!(!Selector::parse("[? !(pg_weight >= `100`)]")
            .unwrap()
            .matches(&m));
        assert!(!Selector::parse("[? missing_var ]").unwrap().matches(&m));
    }

    #[test]
    fn malformed_selectors_say_why() {
        assert!(Selector::parse("pg_role == primary")
            .unwrap_err()
            .contains("expected"));
        assert!(Selector::parse("[? pg_role == `primary` ]]").is_err());
        assert!(Selector::parse("[? (pg_role == `x` ]")
            .unwrap_err()
            .contains(")"));
    }
}
