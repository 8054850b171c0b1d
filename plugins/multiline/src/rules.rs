//! Which lines continue the event before them: user patterns, or the `java`
//! and `python` presets.

use regex::Regex;

/// How a line relates to the event held for its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The line begins a new event.
    Start,
    /// The line is appended to the held event.
    Continuation,
    /// Appended only if a later line turns out to continue the event (the
    /// blank lines between chained Python tracebacks); otherwise it stands
    /// alone.
    Tentative,
}

/// What a held event remembers between its lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    Normal,
    /// Inside `Traceback (most recent call last):`, before its final line.
    InTraceback,
    /// Right after a traceback's final `XxxError: msg` line.
    AfterException,
    /// After `During handling of the above exception, ...`.
    AfterChain,
}

/// What the held event looks like when the next line arrives.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub lines: usize,
    pub state: State,
}

/// The user's regexes, or a preset.
#[derive(Debug)]
pub enum Rules {
    /// `start_pattern` and/or `continuation_pattern`. A line matching
    /// `start` starts an event; otherwise one matching `continuation` (or
    /// any line, when only `start` is given) continues it.
    Patterns {
        start: Option<Regex>,
        continuation: Option<Regex>,
    },
    Java(Java),
    Python(Python),
}

#[derive(Debug)]
pub struct Java {
    /// `\tat ...`, `\t... 55 more`, `Caused by:`, `Suppressed:`.
    frame: Regex,
    /// `java.lang.NullPointerException: msg`: continues only a one-line event.
    exception: Regex,
}

#[derive(Debug)]
pub struct Python {
    traceback: Regex,
    /// The final line of a traceback: `ValueError: msg`, `KeyboardInterrupt`.
    exception: Regex,
    chain: Regex,
}

/// The `java` preset's patterns, for the docs and the tests.
pub const JAVA_FRAME: &str =
    r"^\s+at\s|^\s*\.\.\.\s*\d+\s+(more|common frames omitted)|^\s*(Caused by|Suppressed):";
pub const JAVA_EXCEPTION: &str =
    r"^([a-zA-Z_$][\w$]*\.)*[a-zA-Z_$][\w$]*(Exception|Error|Throwable)[\w$]*(:\s|:?\s*$)";
pub const PYTHON_TRACEBACK: &str = r"^Traceback \(most recent call last\):\s*$";
pub const PYTHON_EXCEPTION: &str = r"^[a-zA-Z_][\w.]*(:.*)?$";
pub const PYTHON_CHAIN: &str = r"^(During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$";

impl Rules {
    pub fn java() -> Rules {
        Rules::Java(Java {
            frame: Regex::new(JAVA_FRAME).expect("valid preset"),
            exception: Regex::new(JAVA_EXCEPTION).expect("valid preset"),
        })
    }

    pub fn python() -> Rules {
        Rules::Python(Python {
            traceback: Regex::new(PYTHON_TRACEBACK).expect("valid preset"),
            exception: Regex::new(PYTHON_EXCEPTION).expect("valid preset"),
            chain: Regex::new(PYTHON_CHAIN).expect("valid preset"),
        })
    }

    /// The state a new event that begins with `line` starts in.
    pub fn initial_state(&self, line: &str) -> State {
        match self {
            Rules::Python(p) if p.traceback.is_match(line) => State::InTraceback,
            _ => State::Normal,
        }
    }

    /// Classifies `line` against the event held for its source, and gives
    /// the held event's state after it if it joins.
    pub fn classify(&self, line: &str, held: Held) -> (Class, State) {
        match self {
            Rules::Patterns {
                start,
                continuation,
            } => {
                let class = if start.as_ref().is_some_and(|s| s.is_match(line)) {
                    Class::Start
                } else {
                    match continuation {
                        Some(c) if c.is_match(line) => Class::Continuation,
                        Some(_) => Class::Start,
                        None => Class::Continuation,
                    }
                };
                (class, State::Normal)
            }
            Rules::Java(j) => {
                let continues =
                    j.frame.is_match(line) || (held.lines == 1 && j.exception.is_match(line));
                let class = if continues {
                    Class::Continuation
                } else {
                    Class::Start
                };
                (class, State::Normal)
            }
            Rules::Python(p) => p.classify(line, held.state),
        }
    }
}

impl Python {
    fn classify(&self, line: &str, state: State) -> (Class, State) {
        use Class::{Continuation, Start, Tentative};
        if self.traceback.is_match(line) {
            return (Continuation, State::InTraceback);
        }
        let indented = line.starts_with(|c: char| c.is_whitespace());
        let blank = line.trim().is_empty();
        match state {
            State::InTraceback if indented && !blank => (Continuation, state),
            State::InTraceback if self.exception.is_match(line) => {
                (Continuation, State::AfterException)
            }
            State::AfterException if blank => (Tentative, state),
            State::AfterException if self.chain.is_match(line) => (Continuation, State::AfterChain),
            State::AfterChain if blank => (Continuation, state),
            _ if indented && !blank => (Continuation, state),
            _ => (Start, State::Normal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(lines: usize, state: State) -> Held {
        Held { lines, state }
    }

    #[test]
    fn java_frames_continue_and_an_exception_only_follows_the_log_line() {
        let j = Rules::java();
        let one = held(1, State::Normal);
        let many = held(3, State::Normal);
        for line in [
            "\tat com.acme.OrderService.place(OrderService.java:275)",
            "    at java.base/java.lang.Thread.run(Thread.java:833)",
            "\t... 55 more",
            "\t... 12 common frames omitted",
            "Caused by: java.net.SocketTimeoutException: Read timed out",
            "\tSuppressed: java.io.IOException: close failed",
        ] {
            assert_eq!(j.classify(line, many).0, Class::Continuation, "{line}");
        }
        for line in [
            "java.lang.NullPointerException: Cannot invoke \"String.length()\"",
            "java.lang.IllegalStateException",
            "org.springframework.web.client.HttpClientErrorException$NotFound: 404",
            "java.lang.OutOfMemoryError: Java heap space",
        ] {
            assert_eq!(j.classify(line, one).0, Class::Continuation, "{line}");
            assert_eq!(j.classify(line, many).0, Class::Start, "{line}");
        }
        for line in [
            "2026-11-22 06:04:41.629 [main] ERROR com.acme.X - msg",
            "Exception in thread \"main\" java.lang.RuntimeException: boom",
            "at the end of the day",
            "",
        ] {
            assert_eq!(j.classify(line, one).0, Class::Start, "{line}");
        }
    }

    #[test]
    fn python_traceback_states() {
        let p = Rules::python();
        let n = held(1, State::Normal);
        assert_eq!(
            p.classify("Traceback (most recent call last):", n),
            (Class::Continuation, State::InTraceback)
        );
        let t = held(2, State::InTraceback);
        assert_eq!(
            p.classify("  File \"app.py\", line 3, in <module>", t),
            (Class::Continuation, State::InTraceback)
        );
        assert_eq!(
            p.classify("ZeroDivisionError: division by zero", t),
            (Class::Continuation, State::AfterException)
        );
        assert_eq!(
            p.classify("KeyboardInterrupt", t),
            (Class::Continuation, State::AfterException)
        );
        let a = held(5, State::AfterException);
        assert_eq!(p.classify("", a).0, Class::Tentative);
        assert_eq!(
            p.classify(
                "During handling of the above exception, another exception occurred:",
                a
            ),
            (Class::Continuation, State::AfterChain)
        );
        assert_eq!(p.classify("2024-01-01 INFO next", a).0, Class::Start);
        // An exception-looking line outside a traceback starts an event.
        assert_eq!(p.classify("ValueError: x", n).0, Class::Start);
        assert_eq!(
            p.initial_state("Traceback (most recent call last):"),
            State::InTraceback
        );
    }

    #[test]
    fn patterns_start_and_continuation() {
        let start = Rules::Patterns {
            start: Some(Regex::new(r"^\d{4}-\d{2}-\d{2}").unwrap()),
            continuation: None,
        };
        let h = held(1, State::Normal);
        assert_eq!(start.classify("2024-01-01 x", h).0, Class::Start);
        assert_eq!(start.classify("anything else", h).0, Class::Continuation);
        let cont = Rules::Patterns {
            start: None,
            continuation: Some(Regex::new(r"^\s").unwrap()),
        };
        assert_eq!(cont.classify("  more", h).0, Class::Continuation);
        assert_eq!(cont.classify("new", h).0, Class::Start);
        let both = Rules::Patterns {
            start: Some(Regex::new(r"^\d").unwrap()),
            continuation: Some(Regex::new(r"^\s").unwrap()),
        };
        assert_eq!(both.classify(" 1", h).0, Class::Continuation);
        assert_eq!(both.classify("1 x", h).0, Class::Start);
        assert_eq!(both.classify("neither", h).0, Class::Start);
    }
}
