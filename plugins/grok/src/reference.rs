//! The grok syntax inside a pattern: `%{NAME:semantic:type}` references,
//! Logstash field references (`[a][b]`) and Ruby repeat intervals.

use crate::compile::Conversion;

/// `[a][b][c]` (a Logstash field reference) as `a.b.c`; other names as they are.
pub fn field_name(name: &str) -> String {
    if !name.starts_with('[') {
        return name.to_owned();
    }
    name.split(['[', ']'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// A `%{NAME}`, `%{NAME:semantic}` or `%{NAME:semantic=definition}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'s> {
    pub name: &'s str,
    /// `field` or `field:type` (more `:` parts are ignored, as in Logstash).
    pub subname: Option<&'s str>,
    pub definition: Option<&'s str>,
}

impl Reference<'_> {
    pub fn semantic(&self) -> Result<(Option<String>, Conversion), String> {
        let Some(sub) = self.subname else {
            return Ok((None, Conversion::None));
        };
        let mut parts = sub.split(':');
        let field = parts.next().unwrap_or("");
        let conversion = match parts.next() {
            None | Some("") => Conversion::None,
            Some("int") => Conversion::Int,
            Some("float") => Conversion::Float,
            Some(other) => {
                return Err(format!(
                    "unknown conversion `{other}` in %{{{}:{sub}}} (expected int or float)",
                    self.name
                ))
            }
        };
        if field.is_empty() {
            return Ok((None, Conversion::None));
        }
        Ok((Some(field_name(field)), conversion))
    }
}

/// Parses a reference at `s` (starting at `%{`) the way jls-grok's
/// `PATTERN_RE` does: name `[A-z0-9]+`, optional `:subname` of
/// `[@\[\]A-z0-9_:.-]`, optional `=definition` with balanced braces, then
/// anything up to `}` is ignored. `None` if `s` is not a reference.
pub fn reference(s: &str) -> Option<(Reference<'_>, usize)> {
    let b = s.as_bytes();
    // `A-z` also covers `[ \ ] ^ _` and the backtick.
    let name_char = |c: u8| c.is_ascii_digit() || (b'A'..=b'z').contains(&c);
    let sub_char = |c: u8| name_char(c) || matches!(c, b'@' | b':' | b'.' | b'-');
    let mut i = 2;
    while i < b.len() && name_char(b[i]) {
        i += 1;
    }
    if i == 2 {
        return None;
    }
    let name = &s[2..i];
    let mut subname = None;
    if b.get(i) == Some(&b':') && b.get(i + 1).is_some_and(|&c| sub_char(c)) {
        let from = i + 1;
        i = from;
        while i < b.len() && sub_char(b[i]) {
            i += 1;
        }
        subname = Some(&s[from..i]);
    }
    let mut definition = None;
    if b.get(i) == Some(&b'=') {
        let from = i + 1;
        let mut depth = 0usize;
        let mut j = from;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 1,
                b'{' => depth += 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if j > from && j < b.len() {
            definition = Some(&s[from..j]);
            i = j;
        }
    }
    let close = s[i..].find('}')?;
    Some((
        Reference {
            name,
            subname,
            definition,
        },
        i + close + 1,
    ))
}

/// A Ruby interval at `s` (starting at `{`): `{n}`, `{n,}`, `{,m}` or
/// `{n,m}`, as fancy-regex text and the bytes used.
pub fn interval(s: &str) -> Option<(String, usize)> {
    let end = s.find('}')?;
    let body = &s[1..end];
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let text = match body.split_once(',') {
        None if !body.is_empty() && digits(body) => format!("{{{body}}}"),
        Some((lo, hi)) if digits(lo) && digits(hi) && !(lo.is_empty() && hi.is_empty()) => {
            let lo = if lo.is_empty() { "0" } else { lo };
            format!("{{{lo},{hi}}}")
        }
        _ => return None,
    };
    Some((text, end + 1))
}
