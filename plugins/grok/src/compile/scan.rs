//! The scan of one pattern text: escapes, classes, groups and repeats are
//! rewritten for fancy-regex as they are met; `%{...}` references go back to
//! [`Translator::expand`].

use super::{here, Capture, Conversion, Failure, Translator, MAX_REGEX_BYTES};
use crate::onig::{self, Escape};
use crate::reference::{field_name, interval, reference};

/// An open group in the text being translated.
struct Frame {
    start: usize,
    assertion: bool,
    /// A plain `(?:...)`: a repeat of it may merge with one inside.
    plain: bool,
    extended: bool,
    /// The sequence the group is part of.
    outer: Seq,
}

/// The sequence of pieces inside one group (or the whole text), enough to
/// see `(?:X+)+` where X is one character: Oniguruma reduces such nested
/// repeats to one (`X+`), and so must we, or `[A-Za-z]([A-Za-z0-9+.-]+)+`
/// (Logstash's URIPROTO) backtracks exponentially on a long word.
#[derive(Default)]
struct Seq {
    pieces: usize,
    alternation: bool,
    /// The last piece matches exactly one character.
    single: bool,
    /// Position of the greedy `*`, `+` or `?` applied to the last piece.
    repeat_at: Option<usize>,
}

/// The state of the repeat after the last atom.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    None,
    /// After `*`, `+` or `?`: a `?` makes it lazy, a `+` possessive.
    Simple,
    /// After `{n,m}`: a `?` makes it lazy, a `+` repeats it again.
    Interval,
    /// After a lazy or possessive suffix.
    Closed,
}

/// The scanning state of one pattern text.
struct Scan {
    frames: Vec<Frame>,
    seq: Seq,
    extended: bool,
    /// Where the last repeatable atom starts in the output.
    atom: Option<usize>,
    repeat: Repeat,
    /// Set right after a group that may merge with a repeat on it: the
    /// position of the repeat inside.
    mergeable: Option<usize>,
}

impl Scan {
    /// A new atom starts at output position `start`.
    fn atom(&mut self, start: usize, single: bool) {
        self.atom = Some(start);
        self.repeat = Repeat::None;
        self.seq.pieces += 1;
        self.seq.single = single;
        self.seq.repeat_at = None;
    }

    /// An assertion or alternation: nothing to repeat.
    fn no_atom(&mut self) {
        self.atom = None;
        self.repeat = Repeat::None;
        self.seq.pieces += 1;
        self.seq.single = false;
        self.seq.repeat_at = None;
    }
}

/// Oniguruma's reduction of `(?:X inner) outer` to `X merged`.
fn merge(inner: u8, outer: u8) -> u8 {
    match (inner, outer) {
        (b'+', b'+') => b'+',
        (b'?', b'?') => b'?',
        _ => b'*',
    }
}

enum GroupOpen {
    Frame {
        assertion: bool,
        plain: bool,
        x: bool,
    },
    Flags {
        x: bool,
    },
    Comment,
}

impl Translator<'_> {
    /// Translates one pattern text (the top-level pattern or a definition)
    /// onto the end of the output.
    pub(super) fn text(&mut self, s: &str) -> Result<(), Failure> {
        let bytes = s.as_bytes();
        let mut sc = Scan {
            frames: Vec::new(),
            seq: Seq::default(),
            extended: false,
            atom: None,
            repeat: Repeat::None,
            mergeable: None,
        };
        let mut i = 0;
        while i < s.len() {
            let c = s[i..].chars().next().expect("in bounds");
            if sc.extended && c.is_whitespace() {
                i += c.len_utf8();
                continue;
            }
            if sc.extended && c == '#' {
                i += s[i..].find('\n').unwrap_or(s.len() - i);
                continue;
            }
            let mergeable = sc.mergeable.take();
            let start = self.out.len();
            match c {
                '\\' => {
                    let (esc, used) = onig::escape(&s[i + 1..]).map_err(Failure::Here)?;
                    i += 1 + used;
                    match esc {
                        Escape::Atom(text) => {
                            self.out.push_str(&text);
                            sc.atom(start, !text.starts_with('('));
                        }
                        Escape::Assertion(text) => {
                            if !self.relaxed || text == r"\A" || text == r"\z" {
                                self.out.push_str(&text);
                            }
                            sc.no_atom();
                        }
                        Escape::NamedBackref(name) => {
                            let group = self.backref_group(&name).map_err(Failure::Here)?;
                            self.backref(&format!("\\k<{group}>"));
                            sc.atom(start, false);
                        }
                        Escape::NumberedBackref(n) => {
                            self.numbered_backref = true;
                            self.backref(&format!("\\k<{n}>"));
                            sc.atom(start, false);
                        }
                    }
                }
                '[' => {
                    let (text, used) = onig::class(&s[i..]).map_err(Failure::Here)?;
                    self.out.push_str(&text);
                    i += used;
                    sc.atom(start, true);
                }
                '(' => {
                    let (open, used) = self.open_group(&s[i..], sc.extended)?;
                    i += used;
                    match open {
                        GroupOpen::Frame {
                            assertion,
                            plain,
                            x,
                        } => {
                            sc.frames.push(Frame {
                                start,
                                assertion,
                                plain,
                                extended: sc.extended,
                                outer: std::mem::take(&mut sc.seq),
                            });
                            sc.extended = x;
                            sc.atom = None;
                            sc.repeat = Repeat::None;
                        }
                        GroupOpen::Flags { x } => sc.extended = x,
                        GroupOpen::Comment => {}
                    }
                }
                ')' => {
                    let frame = sc
                        .frames
                        .pop()
                        .ok_or_else(|| Failure::Here("unmatched `)`".into()))?;
                    self.out.push(')');
                    i += 1;
                    sc.extended = frame.extended;
                    let inner = std::mem::replace(&mut sc.seq, frame.outer);
                    if frame.assertion {
                        if self.relaxed {
                            self.out.truncate(frame.start);
                        }
                        sc.no_atom();
                    } else {
                        sc.atom(frame.start, false);
                        if frame.plain && !inner.alternation && inner.pieces == 1 && inner.single {
                            sc.mergeable = inner.repeat_at;
                        }
                    }
                }
                '|' => {
                    self.out.push(c);
                    i += 1;
                    sc.no_atom();
                    sc.seq.alternation = true;
                }
                '^' | '$' => {
                    self.out.push(c);
                    i += 1;
                    sc.no_atom();
                }
                '*' | '+' | '?' => {
                    i += 1;
                    let Some(at) = sc.atom else {
                        return Err(Failure::Here(format!("`{c}` has nothing to repeat")));
                    };
                    let suffixed = matches!(bytes.get(i), Some(b'?' | b'+'));
                    match (sc.repeat, c, mergeable) {
                        (Repeat::None, _, Some(pos)) if !suffixed => {
                            let merged = merge(self.out.as_bytes()[pos], c as u8);
                            self.out
                                .replace_range(pos..pos + 1, &(merged as char).to_string());
                            sc.repeat = Repeat::Simple;
                        }
                        (Repeat::Simple | Repeat::Interval, '?', _) => {
                            self.out.push('?');
                            sc.repeat = Repeat::Closed;
                            sc.seq.repeat_at = None;
                        }
                        (Repeat::Simple, '+', _) => {
                            // `*+`, `++`, `?+`: possessive, as in fancy-regex.
                            if !self.relaxed {
                                self.out.push('+');
                            }
                            sc.repeat = Repeat::Closed;
                            sc.seq.repeat_at = None;
                        }
                        (Repeat::None, _, _) => {
                            sc.seq.repeat_at = Some(self.out.len());
                            self.out.push(c);
                            sc.repeat = Repeat::Simple;
                        }
                        _ => {
                            self.out.insert_str(at, "(?:");
                            self.out.push(')');
                            self.out.push(c);
                            sc.repeat = Repeat::Simple;
                            sc.seq.repeat_at = None;
                        }
                    }
                }
                '{' => match (sc.atom, interval(&s[i..])) {
                    (Some(at), Some((text, used))) => {
                        i += used;
                        if sc.repeat != Repeat::None {
                            self.out.insert_str(at, "(?:");
                            self.out.push(')');
                        }
                        self.out.push_str(&text);
                        sc.repeat = Repeat::Interval;
                        sc.seq.repeat_at = None;
                    }
                    _ => {
                        self.out.push_str(r"\{");
                        i += 1;
                        sc.atom(start, true);
                    }
                },
                '}' => {
                    self.out.push_str(r"\}");
                    i += 1;
                    sc.atom(start, true);
                }
                '%' if bytes.get(i + 1) == Some(&b'{') => match reference(&s[i..]) {
                    Some((r, used)) => {
                        i += used;
                        self.expand(r)?;
                        sc.atom(start, false);
                    }
                    None => {
                        self.out.push('%');
                        i += 1;
                        sc.atom(start, true);
                    }
                },
                c => {
                    self.out.push(c);
                    i += c.len_utf8();
                    sc.atom(start, true);
                }
            }
            if self.out.len() > MAX_REGEX_BYTES {
                return Err(Failure::Here(format!(
                    "the pattern expands to more than {} MiB of regex",
                    MAX_REGEX_BYTES >> 20
                )));
            }
        }
        if !sc.frames.is_empty() {
            return Err(Failure::Here("unclosed `(`".into()));
        }
        Ok(())
    }

    /// Emits the group opening at `s` (which starts with `(`).
    fn open_group(&mut self, s: &str, extended: bool) -> Result<(GroupOpen, usize), Failure> {
        let frame = |assertion, plain| GroupOpen::Frame {
            assertion,
            plain,
            x: extended,
        };
        let Some(rest) = s.strip_prefix("(?") else {
            if self.plain_captures {
                self.groups += 1;
                self.out.push('(');
                return Ok((frame(false, false), 1));
            }
            self.out.push_str("(?:");
            return Ok((frame(false, true), 1));
        };
        for prefix in ["=", "!", "<=", "<!"] {
            if rest.starts_with(prefix) {
                self.out.push_str("(?");
                self.out.push_str(prefix);
                return Ok((frame(true, false), 2 + prefix.len()));
            }
        }
        if rest.starts_with('>') {
            self.out.push_str(if self.relaxed { "(?:" } else { "(?>" });
            return Ok((frame(false, false), 3));
        }
        if rest.starts_with('#') {
            let end = s
                .find(')')
                .ok_or_else(|| here("unterminated comment `(?#`"))?;
            return Ok((GroupOpen::Comment, end + 1));
        }
        let named = [("<", '>'), ("'", '\''), ("P<", '>')]
            .into_iter()
            .find(|(open, _)| rest.starts_with(open));
        if let Some((open, close)) = named {
            let body = &rest[open.len()..];
            let end = body
                .find(close)
                .ok_or_else(|| here("unterminated group name"))?;
            let name = &body[..end];
            if name.is_empty() {
                return Err(here("empty group name"));
            }
            self.groups += 1;
            self.named.push((name.to_owned(), self.groups));
            self.captures.push(Capture {
                group: self.groups,
                field: field_name(name),
                conversion: Conversion::None,
            });
            self.out.push('(');
            return Ok((frame(false, false), 2 + open.len() + end + 1));
        }
        if let Some(cond) = rest.strip_prefix('(') {
            if self.relaxed {
                return Err(here("no relaxed form of conditionals"));
            }
            let end = cond.find(')').ok_or_else(|| here("unterminated `(?(`"))?;
            let c = &cond[..end];
            let group = if let Ok(n) = c.parse::<usize>() {
                self.numbered_backref = true;
                n
            } else {
                let name = c
                    .strip_prefix('<')
                    .and_then(|c| c.strip_suffix('>'))
                    .or_else(|| c.strip_prefix('\'').and_then(|c| c.strip_suffix('\'')))
                    .ok_or_else(|| here(&format!("unsupported condition `(?({c})`")))?;
                self.backref_group(name).map_err(Failure::Here)?
            };
            self.out.push_str(&format!("(?({group})"));
            return Ok((frame(false, false), 3 + end + 1));
        }
        if rest.starts_with('~') {
            return Err(here("the absence operator `(?~` is not supported"));
        }
        // Option flags: (?imx-imx) or (?imx-imx:...)
        let end = rest
            .find([')', ':'])
            .ok_or_else(|| here("unterminated group `(?`"))?;
        let (flags, x) = onig::flags(&rest[..end]).map_err(Failure::Here)?;
        let x = x.unwrap_or(extended);
        let used = 2 + end + 1;
        if rest.as_bytes()[end] == b':' {
            self.out.push_str("(?");
            self.out.push_str(&flags);
            self.out.push(':');
            let plain = flags.is_empty();
            Ok((
                GroupOpen::Frame {
                    assertion: false,
                    plain,
                    x,
                },
                used,
            ))
        } else {
            if !flags.is_empty() {
                self.out.push_str(&format!("(?{flags})"));
            }
            Ok((GroupOpen::Flags { x }, used))
        }
    }
}
