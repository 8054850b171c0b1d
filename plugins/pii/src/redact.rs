//! Applying a [`Scrubber`] to events: the message and the fields in scope,
//! the `pii.redactions` count and the per-detector totals for counters.

use sluice_sdk::{Event, Fields, Row, Value, ValueRef};

use crate::scrub::{Match, Scratch, Scrubber};

/// The field that counts an event's redactions.
pub const REDACTIONS_FIELD: &str = "pii.redactions";

/// Which fields are scrubbed besides the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Exact names.
    pub exact: Vec<String>,
    /// `user.*` entries, kept as `user.`.
    pub prefixes: Vec<String>,
    /// `*`: every string field.
    pub all: bool,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        !self.all && self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// `None` if `name` is out of scope; `Some(true)` if it is named
    /// exactly (so a value that is not a string is an error), `Some(false)`
    /// if a wildcard covers it (values that are not strings are skipped).
    pub fn selects(&self, name: &str) -> Option<bool> {
        if self.exact.iter().any(|n| n == name) {
            Some(true)
        } else if self.all || self.prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            Some(false)
        } else {
            None
        }
    }
}

/// The scrubbing stage's state: what to do, plus buffers and the counts
/// of the current batch.
pub struct Redactor {
    scrubber: Scrubber,
    scope: Scope,
    /// Matches per detector since the last [`Redactor::take_counts`].
    counts: Vec<u64>,
    counter_names: Vec<String>,
    scratch: Scratch,
    matches: Vec<Match>,
}

impl Redactor {
    pub fn new(scrubber: Scrubber, scope: Scope) -> Redactor {
        let counter_names = scrubber
            .detectors()
            .iter()
            .map(|d| format!("pii.{}", d.name))
            .collect();
        Redactor {
            counts: vec![0; scrubber.detectors().len()],
            scrubber,
            scope,
            counter_names,
            scratch: Scratch::default(),
            matches: Vec::new(),
        }
    }

    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether a row can pass through unchanged: nothing found in its
    /// message or fields in scope, and no field in scope that should be a
    /// string and is not. Stops at the first finding.
    pub fn row_is_clean(&mut self, row: &Row<'_>) -> bool {
        if self.scrubber.any(row.message(), &mut self.scratch) {
            return false;
        }
        if self.scope.is_empty() {
            return true;
        }
        for (name, value) in row.fields() {
            let Some(exact) = self.scope.selects(name) else {
                continue;
            };
            let needs_work = match value {
                ValueRef::Str(text) => self.scrubber.any(text, &mut self.scratch),
                ValueRef::Null => false,
                // A named field that is not a string fails the event.
                _ => exact,
            };
            if needs_work {
                return false;
            }
        }
        true
    }

    /// Scrubs `event` in place. `Err` names a field in scope that is not a
    /// string: it is left as it is, while everything else is scrubbed.
    pub fn redact(&mut self, event: &mut Event) -> Result<(), String> {
        let mut total = 0u64;
        self.scrubber
            .find(&event.message, &mut self.scratch, &mut self.matches);
        if !self.matches.is_empty() {
            event.message = self.scrubber.redact(&event.message, &self.matches);
            total += self.count_matches();
        }
        let mut problem = None;
        if !self.scope.is_empty()
            && event
                .fields
                .iter()
                .any(|(n, _)| self.scope.selects(n).is_some())
        {
            let fields = std::mem::take(&mut event.fields).into_inner();
            let mut kept = Fields::with_capacity(fields.len() + 1);
            for (name, value) in fields {
                let Some(exact) = self.scope.selects(&name) else {
                    kept.push_unique(name, value);
                    continue;
                };
                match value {
                    Value::String(text) => {
                        self.scrubber
                            .find(&text, &mut self.scratch, &mut self.matches);
                        if self.matches.is_empty() {
                            kept.push_unique(name, Value::String(text));
                            continue;
                        }
                        total += self.count_matches();
                        if !self.scrubber.drops(&self.matches) {
                            let redacted = self.scrubber.redact(&text, &self.matches);
                            kept.push_unique(name, Value::String(redacted));
                        }
                    }
                    Value::Null => kept.push_unique(name, value),
                    other => {
                        if exact && problem.is_none() {
                            problem = Some(format!(
                                "field `{name}` is {}, not a string: it was not scrubbed",
                                kind_of(&other)
                            ));
                        }
                        kept.push_unique(name, other);
                    }
                }
            }
            event.fields = kept;
        }
        if total > 0 {
            let before = match event.fields.get(REDACTIONS_FIELD) {
                Some(Value::Int(n)) => *n,
                _ => 0,
            };
            let count = before.saturating_add(i64::try_from(total).unwrap_or(i64::MAX));
            event.fields.insert(REDACTIONS_FIELD, count);
        }
        match problem {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    fn count_matches(&mut self) -> u64 {
        for m in &self.matches {
            self.counts[m.detector] += 1;
        }
        self.matches.len() as u64
    }

    /// The counter names (`pii.<detector>`) and the matches since the last
    /// call, for those that found something; resets the counts.
    pub fn take_counts(&mut self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.counts
            .iter_mut()
            .zip(&self.counter_names)
            .filter(|(n, _)| **n > 0)
            .map(|(n, name)| (name.as_str(), std::mem::take(n)))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::String(_) => "a string",
        Value::Timestamp(_) => "a timestamp",
    }
}
