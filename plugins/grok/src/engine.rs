//! A backtracking matcher for translated grok patterns, several times faster
//! than fancy-regex on them and with the same results.
//!
//! fancy-regex runs a hard pattern (look-around, atomic groups, `\b`,
//! backreferences: most of Logstash's library) on a backtracking VM that
//! calls the `regex` crate for every sub-expression it delegates, one search
//! per character class in a loop, and allocates its state per line. A
//! pattern without those features goes to the `regex` crate whole, whose
//! capture engines (bounded backtracker, PikeVM) spend tens of nanoseconds
//! per byte on the `.*?`-heavy patterns grok users write.
//!
//! A [`Program`] is compiled from the same parse tree
//! ([`fancy_regex::Expr`]), instruction for instruction the way fancy-regex
//! compiles its VM ([`build`]), so it tries the same paths in the same order
//! and yields the same captures. What fancy-regex delegates to the `regex`
//! crate (one leftmost-first match, never backtracked into, groups that did
//! not take part cleared) becomes an atomic sub-program that clears its
//! groups first; a character class becomes a table for ASCII plus Unicode
//! ranges, read from the class the way the `regex` crate reads it
//! ([`regex_syntax`]). What makes it fast:
//!
//! * every instruction knows which bytes can be at the position on a path
//!   from it that succeeds (its first set), so alternatives, repeat exits
//!   and start positions that cannot succeed are never pushed or tried;
//! * a repeat of one character (`\s+`, `.*?`, `[0-9]{1,3}`) is one
//!   instruction that scans bytes against a table, and backs off or extends
//!   from one stack entry: `(.*?)\s+` only looks at spaces;
//! * a greedy loop whose iterations are decided by their first byte and
//!   cannot be given back (`"(?:[^"\\]|\\.)*"`) runs as one instruction;
//! * the stacks live in a [`Cache`] reused from line to line.
//!
//! Anything this does not cover makes [`build`] return `None`, and the
//! pattern stays on fancy-regex. A search that exceeds its step budget or
//! its stack gives up ([`Outcome::GaveUp`]); the caller then asks
//! fancy-regex, whose own backtracking limit decides.

mod analysis;
mod build;
mod exec;
#[cfg(test)]
mod tests;

pub use build::build;

/// Unset slot.
const NONE: usize = usize::MAX;
/// Unbounded repeat.
const INF: usize = usize::MAX;
/// Most backtracking entries a search may hold (fancy-regex's limit too).
const MAX_STACK: usize = 1_000_000;

/// A 256-bit set of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const ALL: ByteSet = ByteSet([u64::MAX; 4]);

    #[inline(always)]
    fn has(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1u64 << (b & 63)) != 0
    }
    fn add(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1u64 << (b & 63);
    }
    fn add_range(&mut self, lo: u8, hi: u8) {
        (lo..=hi).for_each(|b| self.add(b));
    }
    fn union(&self, other: &ByteSet) -> ByteSet {
        ByteSet(std::array::from_fn(|i| self.0[i] | other.0[i]))
    }
    fn intersect(&self, other: &ByteSet) -> ByteSet {
        ByteSet(std::array::from_fn(|i| self.0[i] & other.0[i]))
    }
    fn single(b: u8) -> ByteSet {
        let mut s = ByteSet::default();
        s.add(b);
        s
    }
    /// Without UTF-8 continuation bytes (never at a character start).
    fn starts(&self) -> ByteSet {
        let mut out = *self;
        out.0[2] = 0;
        out
    }
    fn table(&self) -> Box<[bool; 256]> {
        Box::new(std::array::from_fn(|b| self.has(b as u8)))
    }
}

/// A set of characters: a table for ASCII, sorted ranges above it.
#[derive(Debug, Clone)]
struct Class {
    ascii: [bool; 128],
    /// Inclusive ranges of code points >= 0x80, sorted.
    ranges: Vec<(u32, u32)>,
    /// The bytes a character of the class can start with.
    first: ByteSet,
}

impl Class {
    fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Class {
        let mut class = Class {
            ascii: [false; 128],
            ranges: Vec::new(),
            first: ByteSet::default(),
        };
        for (lo, hi) in ranges {
            for cp in lo..=hi.min(0x7f) {
                class.ascii[cp as usize] = true;
                class.first.add(cp as u8);
            }
            if hi >= 0x80 {
                let lo = lo.max(0x80);
                class.ranges.push((lo, hi));
                // Lead bytes grow with the code point.
                class.first.add_range(lead_byte(lo), lead_byte(hi));
            }
        }
        class.ranges.sort_unstable();
        class
    }

    /// The length of the character at `pos` if it is in the class.
    #[inline(always)]
    fn at(&self, t: &[u8], pos: usize) -> Option<usize> {
        let b = *t.get(pos)?;
        if b < 0x80 {
            return self.ascii[b as usize].then_some(1);
        }
        self.non_ascii(t, pos)
    }

    fn non_ascii(&self, t: &[u8], pos: usize) -> Option<usize> {
        if self.ranges.is_empty() {
            return None;
        }
        let (cp, len) = decode(t, pos);
        let at = self.ranges.partition_point(|&(_, hi)| hi < cp);
        (at < self.ranges.len() && self.ranges[at].0 <= cp).then_some(len)
    }
}

fn lead_byte(cp: u32) -> u8 {
    let c = char::from_u32(cp).unwrap_or(char::MAX);
    let mut buf = [0; 4];
    c.encode_utf8(&mut buf);
    buf[0]
}

/// The code point at `pos` (a character boundary of valid UTF-8) and its length.
#[inline(always)]
fn decode(t: &[u8], pos: usize) -> (u32, usize) {
    let b = t[pos] as u32;
    let cont = |i: usize| t[pos + i] as u32 & 0x3f;
    if b < 0x80 {
        (b, 1)
    } else if b < 0xe0 {
        (((b & 0x1f) << 6) | cont(1), 2)
    } else if b < 0xf0 {
        (((b & 0x0f) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    }
}

#[inline(always)]
fn char_len(b: u8) -> usize {
    match b {
        b if b < 0x80 => 1,
        b if b < 0xe0 => 2,
        b if b < 0xf0 => 3,
        _ => 4,
    }
}

/// The start of the character before `pos` (> 0).
#[inline(always)]
fn prev(t: &[u8], mut pos: usize) -> usize {
    pos -= 1;
    while (t[pos] as i8) < -0x40 {
        pos -= 1;
    }
    pos
}

fn is_word(cp: Option<u32>) -> bool {
    match cp {
        None => false,
        Some(c) if c < 0x80 => {
            let b = c as u8;
            b.is_ascii_alphanumeric() || b == b'_'
        }
        Some(c) => char::from_u32(c).is_some_and(regex_syntax::is_word_character),
    }
}

/// Zero-width assertions, with the `regex` crate's meaning (fancy-regex's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    StartText,
    EndText,
    StartLine,
    EndLine,
    WordBoundary,
    NotWordBoundary,
    WordStart,
    WordEnd,
}

impl Look {
    fn holds(self, t: &[u8], pos: usize) -> bool {
        match self {
            Look::StartText => pos == 0,
            Look::EndText => pos == t.len(),
            Look::StartLine => pos == 0 || t[pos - 1] == b'\n',
            Look::EndLine => pos == t.len() || t[pos] == b'\n',
            _ => {
                let before = is_word((pos > 0).then(|| decode(t, prev(t, pos)).0));
                let after = is_word((pos < t.len()).then(|| decode(t, pos).0));
                match self {
                    Look::WordBoundary => before != after,
                    Look::NotWordBoundary => before == after,
                    Look::WordStart => !before && after,
                    _ => before && !after,
                }
            }
        }
    }
}

/// What one character step matches.
#[derive(Debug, Clone, Copy)]
enum CharM {
    Byte(u8),
    Class(u32),
    Any,
    AnyNoNl,
    /// A literal character of several bytes (index into `lits`).
    Lit(u32),
}

#[derive(Debug, Clone, Copy)]
enum Inst {
    Match,
    Byte(u8),
    /// A literal of several bytes (index into `lits`).
    Lit(u32),
    Class(u32),
    Any,
    AnyNoNl,
    Look(Look),
    /// Try the first, then the second.
    Split(u32, u32),
    Jmp(u32),
    /// Slot := position.
    Save(u32),
    /// Slots `[from, to)` := unset.
    Clear(u32, u32),
    /// Slot := 0.
    Zero(u32),
    /// Position := slot.
    Restore(u32),
    /// fancy-regex's `RepeatGr`/`RepeatNg` or, for a body that may match
    /// empty, `RepeatEpsilonGr`/`Ng` (index into `repeats`); the body follows.
    Repeat(u32),
    /// Repeats of one character step (index into `stars`).
    Star(u32),
    /// A greedy loop of fixed sequences decided by their first byte, that
    /// nothing can make give back an iteration (index into `loops`).
    Loop(u32),
    /// Position := `n` characters back (fails at the start).
    GoBack(u32),
    /// A negative look-around: the body follows and ends in `NegEnd`; if the
    /// body fails, go on at `after`.
    NegStart(u32),
    NegEnd,
    Backref(u32),
    /// Slot := stack height.
    AtomicBegin(u32),
    /// Drop the stack entries pushed since the `AtomicBegin` of the slot.
    AtomicEnd(u32),
}

#[derive(Debug, Clone)]
struct Repeat {
    lo: usize,
    hi: usize,
    /// The instruction after the loop.
    next: u32,
    counter: u32,
    /// For a body that may match empty: where the last iteration started.
    check: Option<u32>,
    greedy: bool,
}

#[derive(Debug, Clone)]
struct Star {
    m: CharM,
    lo: usize,
    hi: usize,
    greedy: bool,
    /// Bytes where the rest (the next instruction) may start.
    rest: Box<[bool; 256]>,
    /// Bytes `m` takes without a closer look: ASCII members, and for `.`
    /// every byte of a character.
    take: Box<[bool; 256]>,
    /// Lazy: bytes where a scan must stop, because the rest may start or
    /// `m` needs a closer look.
    stop: Box<[bool; 256]>,
}

#[derive(Debug, Clone)]
struct Loop {
    branches: Vec<Vec<CharM>>,
    /// Per byte: 1 + the branch it starts, or 0 to leave the loop.
    which: Box<[u8; 256]>,
    /// Where to go on after the loop.
    exit: u32,
}

/// Where a match may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    None,
    /// At the start of the text only.
    Text,
    /// At the start of the text or after a newline.
    Line,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Vec<Inst>,
    classes: Vec<Class>,
    lits: Vec<Box<[u8]>>,
    repeats: Vec<Repeat>,
    stars: Vec<Star>,
    loops: Vec<Loop>,
    /// Per instruction: the bytes that can be at the position on a path
    /// from it that succeeds, and whether such a path can be at the end.
    first: Vec<ByteSet>,
    at_end: Vec<bool>,
    slots: usize,
    groups: usize,
    anchor: Anchor,
}

/// The result of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Match,
    NoMatch,
    /// Over the step budget or the stack limit: no answer.
    GaveUp,
}

/// Scratch space of searches, reused from line to line.
#[derive(Debug, Default)]
pub struct Cache {
    slots: Vec<usize>,
    /// Old values of slots set since the oldest stack entry.
    trail: Vec<(u32, usize)>,
    stack: Vec<Frame>,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Go on at `pc`, `pos`.
    Branch { pc: u32, trail: u32, pos: usize },
    /// A greedy star at `pc`: the rest was tried at `pos`; retry with fewer
    /// characters, down to `min`.
    Greedy {
        pc: u32,
        trail: u32,
        pos: usize,
        min: usize,
    },
    /// A lazy star at `pc`: the rest was tried after `count` characters, at
    /// `pos`; retry with more.
    Lazy {
        pc: u32,
        trail: u32,
        pos: usize,
        count: usize,
    },
    /// A negative look-around's body failed: go on at `after`, `pos`.
    Neg { after: u32, trail: u32, pos: usize },
}

impl Program {
    /// Number of capture groups, the whole match (group 0) included.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The span of group `i` after an [`Outcome::Match`].
    pub fn group(&self, cache: &Cache, i: usize) -> Option<(usize, usize)> {
        let start = *cache.slots.get(2 * i)?;
        (start != NONE).then(|| (start, cache.slots[2 * i + 1]))
    }

    /// Searches `text` leftmost-first, as fancy-regex's `captures` does, in at
    /// most `budget` steps (backtracks, skipped characters, tried starts).
    pub fn search(&self, text: &str, budget: usize, cache: &mut Cache) -> Outcome {
        let t = text.as_bytes();
        cache.slots.resize(self.slots, NONE);
        let mut steps = 0;
        let mut start = 0;
        loop {
            if self.allowed(0, t, start) {
                match self.run(t, start, &mut steps, budget, cache) {
                    Ok(true) => return Outcome::Match,
                    Ok(false) => {}
                    Err(()) => return Outcome::GaveUp,
                }
            }
            if start >= t.len() {
                return Outcome::NoMatch;
            }
            start = match self.anchor {
                Anchor::Text => return Outcome::NoMatch,
                Anchor::Line => match t[start..].iter().position(|&b| b == b'\n') {
                    Some(at) => start + at + 1,
                    None => return Outcome::NoMatch,
                },
                Anchor::None => start + char_len(t[start]),
            };
            steps += 1;
            if steps > budget {
                return Outcome::GaveUp;
            }
        }
    }

    /// Whether a path from `pc` can succeed with `pos` where it is.
    #[inline(always)]
    fn allowed(&self, pc: u32, t: &[u8], pos: usize) -> bool {
        match t.get(pos) {
            Some(&b) => self.first[pc as usize].has(b),
            None => self.at_end[pc as usize],
        }
    }

    /// One character step of `m` at `pos`: the position after it.
    #[inline(always)]
    fn step(&self, m: CharM, t: &[u8], pos: usize) -> Option<usize> {
        let b = *t.get(pos)?;
        match m {
            CharM::Byte(x) => (b == x).then_some(pos + 1),
            CharM::Class(k) => self.classes[k as usize].at(t, pos).map(|len| pos + len),
            CharM::Any => Some(pos + char_len(b)),
            CharM::AnyNoNl => (b != b'\n').then(|| pos + char_len(b)),
            CharM::Lit(l) => {
                let lit = &self.lits[l as usize];
                t[pos..].starts_with(lit).then(|| pos + lit.len())
            }
        }
    }
}
