//! Holds one pending event per source and joins continuation lines into it.

use std::collections::HashMap;

use sluice_sdk::{names, Event, Value};

use crate::rules::{Class, Held, Rules, State};

/// Set to the number of joined lines when there is more than one.
pub const LINES_FIELD: &str = "multiline.lines";
/// Set to `true` on an event cut at `max_lines` or `max_bytes`.
pub const TRUNCATED_FIELD: &str = "multiline.truncated";

#[derive(Debug)]
pub struct Limits {
    pub separator: String,
    pub max_lines: usize,
    pub max_bytes: usize,
}

/// The event being built for one source.
#[derive(Debug)]
struct Group {
    /// The first line's event, its message grown by the joined lines.
    event: Event,
    lines: usize,
    state: State,
    /// Lines held back until it is known whether they join (see
    /// [`Class::Tentative`]).
    tentative: Vec<Event>,
    /// When the group began, so a flush emits groups in arrival order.
    seq: u64,
}

/// Joins lines per source. Feed it events in order with [`Joiner::push`];
/// finished events go to `emit` as soon as they are known to be complete.
#[derive(Debug)]
pub struct Joiner {
    rules: Rules,
    limits: Limits,
    groups: HashMap<Option<String>, Group>,
    next_seq: u64,
}

/// The grouping key: the `source` field, or `None` without one.
fn source_of(event: &Event) -> Option<String> {
    match event.fields.get(names::SOURCE)? {
        Value::String(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

impl Joiner {
    pub fn new(rules: Rules, limits: Limits) -> Self {
        Joiner {
            rules,
            limits,
            groups: HashMap::new(),
            next_seq: 0,
        }
    }

    /// How many sources have an event held back.
    pub fn pending(&self) -> usize {
        self.groups.len()
    }

    pub fn push(&mut self, event: Event, emit: &mut impl FnMut(Event)) {
        let key = source_of(&event);
        let Some(group) = self.groups.get_mut(&key) else {
            self.begin(key, event, None);
            return;
        };
        let held = Held {
            lines: group.lines,
            state: group.state,
        };
        let (class, state) = self.rules.classify(&event.message, held);
        match class {
            Class::Tentative => group.tentative.push(event),
            Class::Continuation => {
                let tentative = std::mem::take(&mut group.tentative);
                for line in tentative.into_iter().chain([event]) {
                    self.append(&key, line, state, emit);
                }
            }
            Class::Start => {
                let group = self.groups.remove(&key).expect("looked up above");
                finish(group, false, emit);
                self.begin(key, event, None);
            }
        }
    }

    /// Emits every held event, oldest first.
    pub fn flush(&mut self, emit: &mut impl FnMut(Event)) {
        let mut groups: Vec<Group> = self.groups.drain().map(|(_, g)| g).collect();
        groups.sort_by_key(|g| g.seq);
        for group in groups {
            finish(group, false, emit);
        }
    }

    /// Appends `line` to the source's group, or, when that would pass a
    /// limit, emits the group as truncated and starts a new one with it.
    fn append(
        &mut self,
        key: &Option<String>,
        line: Event,
        state: State,
        emit: &mut impl FnMut(Event),
    ) {
        let group = self.groups.get_mut(key).expect("a group is held");
        let bytes = group.event.message.len() + self.limits.separator.len() + line.message.len();
        if group.lines >= self.limits.max_lines || bytes > self.limits.max_bytes {
            let group = self.groups.remove(key).expect("a group is held");
            finish(group, true, emit);
            // The rest of the trace goes on in a new event, in the same state.
            self.begin(key.clone(), line, Some(state));
            return;
        }
        group.event.message.push_str(&self.limits.separator);
        group.event.message.push_str(&line.message);
        group.lines += 1;
        group.state = state;
    }

    fn begin(&mut self, key: Option<String>, event: Event, state: Option<State>) {
        let state = state.unwrap_or_else(|| self.rules.initial_state(&event.message));
        let group = Group {
            event,
            lines: 1,
            state,
            tentative: Vec::new(),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.groups.insert(key, group);
    }
}

/// Emits a group's event, then any lines it held back that never joined.
fn finish(group: Group, truncated: bool, emit: &mut impl FnMut(Event)) {
    let mut event = group.event;
    if group.lines > 1 {
        event.fields.insert(LINES_FIELD, group.lines as i64);
    }
    if truncated {
        event.fields.insert(TRUNCATED_FIELD, true);
    }
    emit(event);
    for line in group.tentative {
        emit(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(source: &str, text: &str) -> Event {
        let mut e = Event::new(text);
        e.fields.insert(names::SOURCE, source);
        e
    }

    fn joiner(max_lines: usize, max_bytes: usize) -> Joiner {
        Joiner::new(
            Rules::Patterns {
                start: Some(regex::Regex::new(r"^\d").unwrap()),
                continuation: None,
            },
            Limits {
                separator: "\n".into(),
                max_lines,
                max_bytes,
            },
        )
    }

    fn run(j: &mut Joiner, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::new();
        for e in events {
            j.push(e, &mut |e| out.push(e));
        }
        out
    }

    #[test]
    fn a_start_line_emits_the_held_event_of_its_own_source_only() {
        let mut j = joiner(500, 1 << 20);
        let out = run(
            &mut j,
            vec![
                line("a", "1 a"),
                line("b", "1 b"),
                line("a", " a cont"),
                line("b", " b cont"),
                line("b", "2 b"),
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "1 b\n b cont");
        assert_eq!(j.pending(), 2);
        let mut flushed = Vec::new();
        j.flush(&mut |e| flushed.push(e));
        let messages: Vec<_> = flushed.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["1 a\n a cont", "2 b"], "oldest group first");
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn byte_limit_counts_the_separator() {
        // "1 x" (3) + "\n" (1) + "yy" (2) = 6 fits; one more byte does not.
        let mut j = joiner(500, 6);
        let out = run(
            &mut j,
            vec![line("s", "1 x"), line("s", "yy"), line("s", "z")],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "1 x\nyy");
        assert_eq!(out[0].fields.get(TRUNCATED_FIELD), Some(&Value::Bool(true)));
        assert_eq!(out[0].fields.get(LINES_FIELD), Some(&Value::Int(2)));
    }

    #[test]
    fn events_without_a_source_group_together() {
        let mut j = joiner(500, 1 << 20);
        let out = run(
            &mut j,
            vec![Event::new("1"), Event::new("x"), Event::new("2")],
        );
        assert_eq!(out[0].message, "1\nx");
    }
}
