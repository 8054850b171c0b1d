//! The ordered level set: TRACE < DEBUG < INFO < WARN < ERROR < FATAL.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Normalizes the spellings found in real logs (`warning`, `E`, `crit`,
    /// `notice`, syslog severities, ...). Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Level> {
        let t = text.trim();
        let level = match t.to_ascii_uppercase().as_str() {
            "TRACE" | "TRC" | "T" | "FINEST" | "FINER" | "VERBOSE" | "V" => Level::Trace,
            "DEBUG" | "DBG" | "D" | "FINE" | "CONFIG" => Level::Debug,
            "INFO" | "INF" | "I" | "INFORMATION" | "NOTICE" => Level::Info,
            "WARN" | "WARNING" | "WRN" | "W" => Level::Warn,
            "ERROR" | "ERR" | "E" | "SEVERE" | "FAILURE" => Level::Error,
            "FATAL" | "F" | "CRIT" | "CRITICAL" | "ALERT" | "EMERG" | "EMERGENCY" | "PANIC" => {
                Level::Fatal
            }
            _ => return None,
        };
        Some(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_normalized() {
        assert!(Level::Debug < Level::Info && Level::Warn < Level::Error);
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse(" crit "), Some(Level::Fatal));
        assert_eq!(Level::parse("notice"), Some(Level::Info));
        assert_eq!(Level::parse("banana"), None);
    }
}
