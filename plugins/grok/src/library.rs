//! Named grok patterns: the built-in set, Logstash pattern files and inline
//! definitions, layered so that later sources override earlier ones.
//!
//! The file format is Logstash's (jls-grok's): one `NAME regex` per line,
//! the name and the regex separated by the first run of whitespace, lines
//! whose first non-blank character is `#` are comments, and lines without a
//! regex are skipped. Trailing whitespace of the regex is kept (it is part of
//! the regex), only the line ending is dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The built-in library, as (file name, contents). Loaded in this order.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("grok-patterns", include_str!("patterns/grok-patterns")),
    ("syslog", include_str!("patterns/syslog")),
    ("httpd", include_str!("patterns/httpd")),
    ("java", include_str!("patterns/java")),
];

/// Where a definition came from; used to name the config key of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One of [`BUILTIN_FILES`].
    Builtin(&'static str),
    /// A file under `patterns_dir`.
    File(PathBuf),
    /// The `pattern_definitions` table.
    Inline,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub regex: String,
    pub source: Source,
}

/// Parses a pattern file into (name, regex) pairs in file order.
pub fn parse_pattern_file(text: &str) -> Vec<(String, String)> {
    let mut defs = Vec::new();
    for line in text.lines() {
        // `lines` drops "\n" and "\r\n", as Ruby's `chomp` does.
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(split) = line.find(char::is_whitespace) else {
            continue; // a name without a regex
        };
        let name = &line[..split];
        let regex = line[split..].trim_start();
        if regex.is_empty() {
            continue;
        }
        defs.push((name.to_owned(), regex.to_owned()));
    }
    defs
}

/// Reads every pattern file in `dir` (not recursing; names starting with `.`
/// and subdirectories are skipped), in name order.
/// A pattern file: its path and its (name, regex) definitions in order.
pub type PatternFile = (PathBuf, Vec<(String, String)>);

pub fn read_pattern_dir(dir: &Path) -> Result<Vec<PatternFile>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read pattern directory {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| format!("cannot read pattern directory {}: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Follows symlinks, so a link to a file counts as a file.
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read pattern file {}: {e}", path.display()))?;
        if meta.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read pattern file {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("pattern file {} is not valid UTF-8", path.display()))?;
        let defs = parse_pattern_file(&text);
        out.push((path, defs));
    }
    Ok(out)
}

/// The set of named patterns a grok instance resolves `%{NAME}` against.
#[derive(Debug, Clone, Default)]
pub struct Library {
    defs: HashMap<String, Definition>,
}

impl Library {
    /// An empty library (no built-ins).
    pub fn empty() -> Self {
        Library::default()
    }

    /// The built-in patterns.
    pub fn builtin() -> Self {
        let mut lib = Library::empty();
        for (file, text) in BUILTIN_FILES {
            for (name, regex) in parse_pattern_file(text) {
                lib.insert(name, regex, Source::Builtin(file));
            }
        }
        lib
    }

    /// Adds or replaces a definition.
    pub fn insert(&mut self, name: String, regex: String, source: Source) {
        self.defs.insert(name, Definition { regex, source });
    }

    /// Adds the definitions of every file in `dir`, later files overriding
    /// earlier ones.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), String> {
        for (path, defs) in read_pattern_dir(dir)? {
            for (name, regex) in defs {
                self.insert(name, regex, Source::File(path.clone()));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.defs.get(name)
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// All names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.defs.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_file_format() {
        let text = "# comment\n  # indented comment\n\nA  x y \nB\t%{A}\r\nLONELY\n  C z\n";
        let defs = parse_pattern_file(text);
        assert_eq!(
            defs,
            vec![
                ("A".to_owned(), "x y ".to_owned()),
                ("B".to_owned(), "%{A}".to_owned()),
                ("C".to_owned(), "z".to_owned()),
            ]
        );
    }

    #[test]
    fn builtin_has_the_common_names() {
        let lib = Library::builtin();
        for name in [
            "USERNAME",
            "USER",
            "INT",
            "BASE10NUM",
            "NUMBER",
            "WORD",
            "NOTSPACE",
            "SPACE",
            "DATA",
            "GREEDYDATA",
            "QUOTEDSTRING",
            "UUID",
            "IP",
            "IPV4",
            "IPV6",
            "HOSTNAME",
            "IPORHOST",
            "HOSTPORT",
            "PATH",
            "UNIXPATH",
            "URIPROTO",
            "URIHOST",
            "URIPATH",
            "URIPARAM",
            "URIPATHPARAM",
            "URI",
            "MONTH",
            "MONTHNUM",
            "MONTHDAY",
            "DAY",
            "YEAR",
            "HOUR",
            "MINUTE",
            "SECOND",
            "TIME",
            "DATE_US",
            "DATE_EU",
            "ISO8601_TIMEZONE",
            "TIMESTAMP_ISO8601",
            "DATESTAMP",
            "HTTPDATE",
            "SYSLOGTIMESTAMP",
            "LOGLEVEL",
            "EMAILADDRESS",
            "MAC",
            "SYSLOGBASE",
            "SYSLOGLINE",
            "SYSLOGPROG",
            "SYSLOGHOST",
            "SYSLOGFACILITY",
            "COMMONAPACHELOG",
            "COMBINEDAPACHELOG",
            "HTTPD_COMMONLOG",
            "HTTPD_COMBINEDLOG",
            "HTTPD_ERRORLOG",
            "JAVACLASS",
            "JAVAFILE",
            "JAVAMETHOD",
            "JAVASTACKTRACEPART",
            "JAVATHREAD",
            "JAVALOGMESSAGE",
        ] {
            assert!(lib.get(name).is_some(), "built-in library lacks {name}");
        }
    }
}
