//! Line numbers of YAML keys in source text, so every diagnostic can name `file:line`.
//!
//! serde_yaml gives values without positions, so this is a small indentation-aware
//! scanner over the text: block mappings and sequences by indentation, flow
//! collections (`{ a: 1, b: [x, y] }`, even across lines) by a tiny tokenizer.
//! It understands what inventories contain (plain and quoted keys, comments,
//! `- ` items, `|`/`>` scalars by skipping them), not every corner of YAML.

/// 1-based line of the node at `path` in `text`, e.g.
/// `["all", "children", "pg-test", "hosts", "10.10.10.11", "pg_seq"]`.
/// A component written `[n]` selects the n-th (0-based) item of a sequence.
///
/// Best effort: when the full path cannot be followed (a scalar where a mapping was
/// expected, a key that is absent), the line of the deepest component found is
/// returned; `None` only when not even the first component is found.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let src = Src::new(text);
    let segs: Vec<Seg> = path.iter().map(|s| Seg::parse(s)).collect();
    let first = src.first_content_line(0)?;
    let col = src.indent(first);
    match src.block_node(first, col, &segs) {
        Res::Found(l) | Res::Partial(l) => Some(l + 1),
        Res::NotFound => None,
    }
}

/// 1-based line of the second occurrence of `key` among the keys of one block
/// mapping: where serde_yaml's "duplicate entry with key" error really is.
pub fn duplicate_key_line(text: &str, key: &str) -> Option<usize> {
    let src = Src::new(text);
    // Stack of (indent, keys seen at that indent in the current mapping).
    let mut stack: Vec<(usize, Vec<String>)> = Vec::new();
    for i in 0..src.lines.len() {
        if !src.is_content(i) {
            continue;
        }
        let ind = src.indent(i);
        while stack.last().is_some_and(|(d, _)| *d > ind) {
            stack.pop();
        }
        let line = src.line(i);
        let mut col = ind;
        // `- key: v` starts a mapping inside a sequence item: a fresh scope.
        if line[col..].starts_with("- ") {
            col += 2 + line[col + 2..].len() - line[col + 2..].trim_start().len();
            while stack.last().is_some_and(|(d, _)| *d >= col) {
                stack.pop();
            }
            stack.push((col, Vec::new()));
        }
        let Some((k, _)) = parse_block_key(line, col) else {
            continue;
        };
        if stack.last().map(|(d, _)| *d) != Some(col) {
            stack.push((col, Vec::new()));
        }
        if let Some((_, seen)) = stack.last_mut() {
            if k == key && seen.iter().any(|s| s == key) {
                return Some(i + 1);
            }
            seen.push(k);
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    fn parse(s: &str) -> Seg {
        if let Some(n) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if let Ok(i) = n.parse() {
                return Seg::Index(i);
            }
        }
        Seg::Key(s.to_string())
    }
}

/// Outcome of following a path: the whole path (`Found`), part of it (`Partial`,
/// the deepest line reached), or not even the first component.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Res {
    Found(usize),
    Partial(usize),
    NotFound,
}

impl Res {
    fn or_partial(self, line: usize) -> Res {
        match self {
            Res::NotFound => Res::Partial(line),
            Res::Found(_) | Res::Partial(_) => self,
        }
    }
}

struct Src<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    lines: Vec<&'a str>,
}

impl<'a> Src<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        let lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        Src {
            text,
            starts,
            lines,
        }
    }

    fn line(&self, i: usize) -> &'a str {
        self.lines.get(i).copied().unwrap_or("")
    }

    fn indent(&self, i: usize) -> usize {
        let l = self.line(i);
        l.len() - l.trim_start_matches(' ').len()
    }

    /// A line that carries YAML content: not blank, not a comment, not `---`/`...`.
    fn is_content(&self, i: usize) -> bool {
        let t = self.line(i).trim();
        !(t.is_empty()
            || t.starts_with('#')
            || t == "---"
            || t == "..."
            || t.starts_with("--- ")
            || t.starts_with("%"))
    }

    fn first_content_line(&self, from: usize) -> Option<usize> {
        (from..self.lines.len()).find(|&i| self.is_content(i))
    }

    fn line_of_offset(&self, off: usize) -> usize {
        self.starts.partition_point(|&s| s <= off).saturating_sub(1)
    }

    /// The node whose content starts at line `l`, column `c`.
    fn block_node(&self, l: usize, c: usize, path: &[Seg]) -> Res {
        if path.is_empty() {
            return Res::Found(l);
        }
        let rest = &self.line(l)[c.min(self.line(l).len())..];
        if rest.starts_with('{') || rest.starts_with('[') {
            let mut f = Flow {
                src: self,
                pos: self.starts[l] + c,
            };
            return f.node(path);
        }
        if rest == "-" || rest.starts_with("- ") {
            return self.block_seq(l, c, path);
        }
        self.block_map(l, c, path)
    }

    /// The lines of the block node at line `l`, column `c`: line `l` and each later
    /// content line at exactly column `c`, with what follows the column, up to the first
    /// line indented less.
    fn block_lines(&self, l: usize, c: usize) -> impl Iterator<Item = (usize, &str)> + '_ {
        (l..self.lines.len())
            .filter(move |&i| i == l || self.is_content(i))
            .take_while(move |&i| i == l || self.indent(i) >= c)
            .filter(move |&i| i == l || self.indent(i) == c)
            .map(move |i| (i, self.line(i).get(c..).unwrap_or("")))
    }

    fn block_map(&self, l: usize, c: usize, path: &[Seg]) -> Res {
        let Seg::Key(want) = &path[0] else {
            return Res::NotFound;
        };
        for (i, _) in self.block_lines(l, c) {
            if let Some((key, vcol)) = parse_block_key(self.line(i), c) {
                if &key == want {
                    return self.value_at(i, c, vcol, &path[1..]).or_partial(i);
                }
            }
        }
        Res::NotFound
    }

    /// The value of the key on line `i` (key at column `c`, value text from `vcol`).
    fn value_at(&self, i: usize, c: usize, vcol: usize, rest: &[Seg]) -> Res {
        if rest.is_empty() {
            return Res::Found(i);
        }
        let line = self.line(i);
        let mut v = vcol;
        // Skip an anchor or a tag before the value.
        while v < line.len() && (line[v..].starts_with('&') || line[v..].starts_with('!')) {
            let end = line[v..].find(' ').map(|e| v + e).unwrap_or(line.len());
            v = end + (line[end..].len() - line[end..].trim_start().len());
        }
        let val = &line[v.min(line.len())..];
        if !val.is_empty() && !val.starts_with('#') {
            if val.starts_with('{') || val.starts_with('[') {
                let mut f = Flow {
                    src: self,
                    pos: self.starts[i] + v,
                };
                return f.node(rest);
            }
            return Res::NotFound; // a scalar: nothing deeper
        }
        let Some(j) = self.first_content_line(i + 1) else {
            return Res::NotFound;
        };
        let ind = self.indent(j);
        let at = &self.line(j)[ind..];
        if ind > c || (ind == c && (at == "-" || at.starts_with("- "))) {
            return self.block_node(j, ind, rest);
        }
        Res::NotFound
    }

    fn block_seq(&self, l: usize, c: usize, path: &[Seg]) -> Res {
        let Seg::Index(want) = path[0] else {
            return Res::NotFound;
        };
        let Some((i, at)) = self
            .block_lines(l, c)
            .take_while(|(_, at)| *at == "-" || at.starts_with("- "))
            .nth(want)
        else {
            return Res::NotFound;
        };
        let rest = &path[1..];
        if rest.is_empty() {
            return Res::Found(i);
        }
        let after = &at[1..];
        let content = after.trim_start();
        if !content.is_empty() && !content.starts_with('#') {
            let col = c + 1 + (after.len() - content.len());
            return self.block_node(i, col, rest).or_partial(i);
        }
        if let Some(j) = self.first_content_line(i + 1) {
            let ind = self.indent(j);
            if ind > c {
                return self.block_node(j, ind, rest).or_partial(i);
            }
        }
        Res::Partial(i)
    }
}

/// `key: value` at column `c` of `line`: the unquoted key and the column where the
/// value text starts (after `:` and spaces). `None` when there is no key there.
fn parse_block_key(line: &str, c: usize) -> Option<(String, usize)> {
    let s = line.get(c..)?;
    let b = s.as_bytes();
    let (key, after) = match b.first()? {
        q @ (b'"' | b'\'') => {
            let end = quoted_end(b, 0, *q)?;
            (unquote(&s[..end]), end)
        }
        b'-' if b.get(1).is_none_or(|x| *x == b' ') => return None,
        b'#' => return None,
        _ => {
            let mut k = None;
            for (i, ch) in b.iter().enumerate() {
                if *ch == b':' && b.get(i + 1).is_none_or(|x| *x == b' ' || *x == b'\t') {
                    k = Some(i);
                    break;
                }
                if *ch == b'#' && i > 0 && b[i - 1] == b' ' {
                    return None;
                }
            }
            let k = k?;
            (s[..k].trim_end().to_string(), k)
        }
    };
    let rest = &s[after..];
    let rest_trim = rest.trim_start();
    let colon = rest_trim.strip_prefix(':')?;
    let value = colon.trim_start();
    let vcol = c + (s.len() - value.len());
    Some((key, vcol))
}

/// Index just past the closing quote of the quoted scalar starting at `start`.
fn quoted_end(b: &[u8], start: usize, q: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if q == b'"' && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn unquote(s: &str) -> String {
    if s.len() >= 2 {
        if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            return inner.replace("\\\"", "\"").replace("\\\\", "\\");
        }
        if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            return inner.replace("''", "'");
        }
    }
    s.to_string()
}

/// Cursor over a flow collection (`{...}` / `[...]`), possibly spanning lines.
struct Flow<'s, 'a> {
    src: &'s Src<'a>,
    pos: usize,
}

impl Flow<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.src.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        let b = self.src.text.as_bytes();
        while let Some(&ch) = b.get(self.pos) {
            match ch {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.pos < b.len() && b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// A scalar (quoted or plain) in flow context; returns its unquoted text.
    fn scalar(&mut self) -> String {
        let b = self.src.text.as_bytes();
        let start = self.pos;
        if let Some(q @ (b'"' | b'\'')) = self.peek() {
            let end = quoted_end(b, start, q).unwrap_or(b.len());
            self.pos = end;
            return unquote(&self.src.text[start..end]);
        }
        while let Some(&ch) = b.get(self.pos) {
            let next = b.get(self.pos + 1).copied();
            let stop = match ch {
                b',' | b'[' | b']' | b'{' | b'}' | b'\n' | b'\r' => true,
                b':' => next
                    .is_none_or(|n| matches!(n, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')),
                b'#' => self.pos > start && b[self.pos - 1] == b' ',
                _ => false,
            };
            if stop {
                break;
            }
            self.pos += 1;
        }
        self.src.text[start..self.pos].trim().to_string()
    }

    /// Skip one value: a nested collection (balanced) or a scalar.
    fn skip_value(&mut self) {
        match self.peek() {
            Some(b'{') | Some(b'[') => {
                let b = self.src.text.as_bytes();
                let mut depth = 0usize;
                while let Some(&ch) = b.get(self.pos) {
                    match ch {
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return;
                            }
                        }
                        b'"' | b'\'' => {
                            self.pos = quoted_end(b, self.pos, ch).unwrap_or(b.len());
                            continue;
                        }
                        b'#' if self.pos > 0 && matches!(b[self.pos - 1], b' ' | b'\n') => {
                            while self.pos < b.len() && b[self.pos] != b'\n' {
                                self.pos += 1;
                            }
                            continue;
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                self.scalar();
            }
        }
    }

    fn line(&self, off: usize) -> usize {
        self.src.line_of_offset(off)
    }

    fn node(&mut self, path: &[Seg]) -> Res {
        match self.peek() {
            Some(b'{') => self.map(path),
            Some(b'[') => self.seq(path),
            _ => Res::NotFound,
        }
    }

    fn map(&mut self, path: &[Seg]) -> Res {
        let Seg::Key(want) = &path[0] else {
            return Res::NotFound;
        };
        self.pos += 1; // `{`
        while self.next_entry() {
            let key_at = self.pos;
            let key = self.scalar();
            self.skip_ws();
            let has_value = self.peek() == Some(b':');
            if has_value {
                self.pos += 1;
                self.skip_ws();
            }
            if &key == want {
                let line = self.line(key_at);
                if path.len() == 1 {
                    return Res::Found(line);
                }
                if has_value && matches!(self.peek(), Some(b'{') | Some(b'[')) {
                    return self.node(&path[1..]).or_partial(line);
                }
                return Res::Partial(line);
            }
            if has_value && !matches!(self.peek(), Some(b',') | Some(b'}')) {
                self.skip_value();
            }
            if self.pos == key_at {
                return Res::NotFound; // no progress: not something we understand
            }
        }
        Res::NotFound
    }

    /// Past blanks and commas to the next entry of a flow map or sequence; false at
    /// its end (or the text's).
    fn next_entry(&mut self) -> bool {
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b'}') | Some(b']') => return false,
                Some(b',') => self.pos += 1,
                _ => return true,
            }
        }
    }

    fn seq(&mut self, path: &[Seg]) -> Res {
        let Seg::Index(want) = path[0] else {
            return Res::NotFound;
        };
        self.pos += 1; // `[`
        let mut idx = 0usize;
        while self.next_entry() {
            let at = self.pos;
            if idx == want {
                let line = self.line(at);
                if path.len() == 1 {
                    return Res::Found(line);
                }
                return self.node(&path[1..]).or_partial(line);
            }
            self.skip_value();
            if self.pos == at {
                return Res::NotFound;
            }
            idx += 1;
        }
        Res::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "---
# comment
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        '10.10.10.12': { pg_seq: 2,
                         pg_role: replica }
      vars:
        pg_cluster: pg-test   # name
        pg_users:
          - name: dbuser_meta
            password: x
          - { name: dbuser_view, password: y }
        pg_opts: >-
          a: b
          c
        pg_port: 5432
  vars:
    admin_ip: 10.10.10.10
    list:
    - one
    - two
    after: 1
";

    #[test]
    fn block_keys_are_found_by_indentation() {
        assert_eq!(line_of(DOC, &["all"]), Some(3));
        assert_eq!(
            line_of(DOC, &["all", "children", "pg-test", "vars", "pg_cluster"]),
            Some(13)
        );
        assert_eq!(line_of(DOC, &["all", "vars", "admin_ip"]), Some(23));
        assert_eq!(line_of(DOC, &["all", "vars", "after"]), Some(27));
    }

    #[test]
    fn flow_mappings_on_one_line_are_followed() {
        assert_eq!(
            line_of(
                DOC,
                &[
                    "all",
                    "children",
                    "infra",
                    "hosts",
                    "10.10.10.10",
                    "infra_seq"
                ]
            ),
            Some(5)
        );
        assert_eq!(
            line_of(DOC, &["all", "children", "etcd", "vars", "etcd_cluster"]),
            Some(6)
        );
        assert_eq!(
            line_of(
                DOC,
                &[
                    "all",
                    "children",
                    "pg-test",
                    "hosts",
                    "10.10.10.11",
                    "pg_role"
                ]
            ),
            Some(9)
        );
    }

    #[test]
    fn flow_mappings_across_lines_and_quoted_keys_are_followed() {
        assert_eq!(
            line_of(
                DOC,
                &[
                    "all",
                    "children",
                    "pg-test",
                    "hosts",
                    "10.10.10.12",
                    "pg_seq"
                ]
            ),
            Some(10)
        );
        assert_eq!(
            line_of(
                DOC,
                &[
                    "all",
                    "children",
                    "pg-test",
                    "hosts",
                    "10.10.10.12",
                    "pg_role"
                ]
            ),
            Some(11)
        );
    }

    #[test]
    fn sequence_items_are_found_by_index() {
        let users = ["all", "children", "pg-test", "vars", "pg_users"];
        assert_eq!(
            line_of(DOC, &[&users[..], &["[0]", "password"]].concat()),
            Some(16)
        );
        assert_eq!(
            line_of(DOC, &[&users[..], &["[1]", "password"]].concat()),
            Some(17)
        );
        assert_eq!(line_of(DOC, &["all", "vars", "list", "[1]"]), Some(26));
    }

    #[test]
    fn folded_scalars_do_not_hide_later_keys() {
        assert_eq!(
            line_of(DOC, &["all", "children", "pg-test", "vars", "pg_port"]),
            Some(21)
        );
    }

    #[test]
    fn missing_keys_fall_back_to_the_deepest_line_found() {
        assert_eq!(
            line_of(DOC, &["all", "children", "pg-test", "vars", "nope"]),
            Some(12)
        );
        assert_eq!(line_of(DOC, &["nope"]), None);
    }

    #[test]
    fn duplicate_keys_are_found_at_their_second_occurrence() {
        let doc = "all:\n  children:\n    a:\n      hosts:\n        1.1.1.1: {}\n        1.1.1.2: {}\n        1.1.1.1: {}\n";
        assert_eq!(duplicate_key_line(doc, "1.1.1.1"), Some(7));
        let doc = "a:\n  - x: 1\n    y: 2\n  - x: 1\n";
        assert_eq!(duplicate_key_line(doc, "x"), None);
    }
}
