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
        let t = text.trim().as_bytes();
        // Upper-cased on the stack: this runs for every event with a level.
        let mut upper = [0u8; 11];
        if t.len() > upper.len() {
            return None;
        }
        for (u, c) in upper.iter_mut().zip(t) {
            *u = c.to_ascii_uppercase();
        }
        let level = match &upper[..t.len()] {
            b"TRACE" | b"TRC" | b"T" | b"FINEST" | b"FINER" | b"VERBOSE" | b"V" => Level::Trace,
            b"DEBUG" | b"DBG" | b"D" | b"FINE" | b"CONFIG" => Level::Debug,
            b"INFO" | b"INF" | b"I" | b"INFORMATION" | b"NOTICE" => Level::Info,
            b"WARN" | b"WARNING" | b"WRN" | b"W" => Level::Warn,
            b"ERROR" | b"ERR" | b"E" | b"SEVERE" | b"FAILURE" => Level::Error,
            b"FATAL" | b"F" | b"CRIT" | b"CRITICAL" | b"ALERT" | b"EMERG" | b"EMERGENCY"
            | b"PANIC" => Level::Fatal,
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
        assert_eq!(Level::parse("Information"), Some(Level::Info));
        assert_eq!(Level::parse("informations"), None);
        assert_eq!(Level::parse("érror"), None);
        assert_eq!(Level::parse(""), None);
    }
}
