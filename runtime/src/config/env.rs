//! `${NAME}` in pipeline files, as in Vector: the same file runs on every
//! edge host with its own address, token or paths from the environment.
//!
//! - `${NAME}` is the variable's value; unset is an error naming the line.
//! - `${NAME:-default}` is the default when the variable is unset or empty.
//! - `$${` is a literal `${`.
//!
//! Lines that are comments (`#` first) are left alone, so a commented-out
//! example does not need its variables set. Substitution happens on the
//! text before TOML parsing and keeps lines where they were, so later
//! errors still point at the right line.

use super::{ConfigError, Location};
use std::path::Path;

/// Substitutes variables in `text`, reading them with `lookup`.
pub(super) fn interpolate(
    path: &Path,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    if !text.contains("${") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            substitute_line(line, &mut out, &lookup).map_err(|(at, message)| ConfigError {
                location: Some(Location::at(path, text, offset + at)),
                key: None,
                message,
            })?;
        }
        offset += line.len();
    }
    Ok(out)
}

fn substitute_line(
    line: &str,
    out: &mut String,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), (usize, String)> {
    let mut rest = line;
    while let Some(at) = rest.find("${") {
        let start = line.len() - rest.len() + at;
        if rest[..at].ends_with('$') {
            // `$${`: a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let inner = &rest[at + 2..];
        let close = inner
            .find('}')
            .ok_or_else(|| (start, "`${` without a closing `}`".to_owned()))?;
        let (name, default) = match inner[..close].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&inner[..close], None),
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((
                start,
                format!("`${{{name}}}` is not a variable name (letters, digits and `_`); write `$${{` for a literal `${{`"),
            ));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err((
                    start,
                    format!("environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"),
                ))
            }
        }
        rest = &inner[close + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, String> {
        let vars = |name: &str| match name {
            "CENTRAL" => Some("http://10.0.0.5:9400".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(Path::new("edge.toml"), text, vars).map_err(|e| e.to_string())
    }

    #[test]
    fn variables_defaults_and_escapes() {
        assert_eq!(
            run("address = \"${CENTRAL}\"\ndir = \"${DIR:-/var/lib/sluice}\"\n").unwrap(),
            "address = \"http://10.0.0.5:9400\"\ndir = \"/var/lib/sluice\"\n"
        );
        assert_eq!(run("a = \"${EMPTY:-x}\"").unwrap(), "a = \"x\"");
        assert_eq!(
            run("re = '$${NOT} ${CENTRAL}'").unwrap(),
            "re = '${NOT} http://10.0.0.5:9400'"
        );
        assert_eq!(
            run("# uses ${UNSET}\nx = 1").unwrap(),
            "# uses ${UNSET}\nx = 1"
        );
        assert_eq!(run("plain = '%{WORD}'").unwrap(), "plain = '%{WORD}'");
    }

    #[test]
    fn errors_name_the_line_and_the_variable() {
        let error = run("x = 1\ntoken = \"${TOKEN}\"\n").unwrap_err();
        assert!(error.starts_with("edge.toml:2:10: "), "{error}");
        assert!(error.contains("`TOKEN` is not set"), "{error}");
        let error = run("a = '${not valid}'").unwrap_err();
        assert!(error.contains("not a variable name"), "{error}");
        assert!(run("a = '${OPEN'")
            .unwrap_err()
            .contains("without a closing"));
    }
}
