//! Compiles a pattern into a [`Program`] the way fancy-regex compiles its
//! VM (`fancy_regex::internal::compile`, whose structure each function here
//! follows), so the same paths are tried in the same order.
//!
//! Where fancy-regex hands a sub-expression to the `regex` crate (it is not
//! hard, or it is a constant-size run in a hard sequence), the program has
//! an atomic sub-program instead: one leftmost-first match, which is the
//! first path a backtracker finds, never backtracked into, with the groups
//! inside cleared first as fancy-regex clears those that did not take part.
//! Inside such a part the `regex` crate's rules apply, which differ from the
//! VM's only for repeats of something that can match empty; those are not
//! covered here (`Unsupported`).

use std::collections::HashMap;

use fancy_regex::{Assertion, Expr, LookAround};
use regex_syntax::hir::{Class as HirClass, HirKind};

use super::analysis::{anchor, find_loops, first_sets, star_tables, thread_jumps};
use super::{CharM, Class, Inst, Look, Program, Repeat, INF};

/// The pattern stays on fancy-regex.
#[derive(Debug)]
struct Unsupported;

type R<T = ()> = Result<T, Unsupported>;

/// fancy-regex's analysis of one node (`analyze.rs`).
struct Info<'a> {
    expr: &'a Expr,
    children: Vec<Info<'a>>,
    start_group: usize,
    end_group: usize,
    min_size: usize,
    const_size: bool,
    hard: bool,
}

impl Info<'_> {
    fn is_literal(&self) -> bool {
        match self.expr {
            Expr::Literal { casei, .. } => !casei,
            Expr::Concat(_) => self.children.iter().all(Info::is_literal),
            _ => false,
        }
    }

    fn push_literal(&self, buf: &mut Vec<u8>) {
        match self.expr {
            Expr::Literal { val, .. } => buf.extend_from_slice(val.as_bytes()),
            _ => self.children.iter().for_each(|c| c.push_literal(buf)),
        }
    }

    /// Whether a match of it can be undone for another one.
    fn branches(&self) -> bool {
        matches!(self.expr, Expr::Alt(_) | Expr::Repeat { .. })
            || self.children.iter().any(Info::branches)
    }
}

struct Analyzer<'t> {
    /// Whether group `i` is the target of a backreference.
    backref: &'t dyn Fn(usize) -> bool,
    group: usize,
}

impl Analyzer<'_> {
    fn visit<'a>(&mut self, expr: &'a Expr) -> R<Info<'a>> {
        let start_group = self.group;
        let mut children = Vec::new();
        let (mut min_size, mut const_size, mut hard) = (0, false, false);
        match expr {
            Expr::Assertion(a) => {
                const_size = true;
                hard = matches!(
                    a,
                    Assertion::LeftWordBoundary
                        | Assertion::RightWordBoundary
                        | Assertion::WordBoundary
                        | Assertion::NotWordBoundary
                );
            }
            Expr::Empty => const_size = true,
            Expr::Any { .. } | Expr::Literal { .. } => {
                min_size = 1;
                const_size = true;
            }
            Expr::Concat(v) => {
                const_size = true;
                for child in v {
                    let info = self.visit(child)?;
                    min_size += info.min_size;
                    const_size &= info.const_size;
                    hard |= info.hard;
                    children.push(info);
                }
            }
            Expr::Alt(v) => {
                let first = self.visit(&v[0])?;
                min_size = first.min_size;
                const_size = first.const_size;
                hard = first.hard;
                children.push(first);
                for child in &v[1..] {
                    let info = self.visit(child)?;
                    const_size &= info.const_size && min_size == info.min_size;
                    min_size = min_size.min(info.min_size);
                    hard |= info.hard;
                    children.push(info);
                }
            }
            Expr::Group(child) => {
                let group = self.group;
                self.group += 1;
                let info = self.visit(child)?;
                min_size = info.min_size;
                const_size = info.const_size;
                hard = info.hard || (self.backref)(group);
                children.push(info);
            }
            Expr::LookAround(child, _) => {
                children.push(self.visit(child)?);
                const_size = true;
                hard = true;
            }
            Expr::Repeat { child, lo, hi, .. } => {
                let info = self.visit(child)?;
                min_size = info.min_size.checked_mul(*lo).ok_or(Unsupported)?;
                const_size = info.const_size && lo == hi;
                hard = info.hard;
                children.push(info);
            }
            Expr::Delegate { size, .. } => {
                min_size = *size;
                const_size = true;
            }
            Expr::Backref(group) => {
                if *group >= self.group {
                    return Err(Unsupported);
                }
                hard = true;
            }
            Expr::AtomicGroup(child) => {
                let info = self.visit(child)?;
                min_size = info.min_size;
                const_size = info.const_size;
                hard = true;
                children.push(info);
            }
            // \K, \G and conditionals stay on fancy-regex.
            _ => return Err(Unsupported),
        }
        Ok(Info {
            expr,
            children,
            start_group,
            end_group: self.group,
            min_size,
            const_size,
            hard,
        })
    }
}

/// A program being compiled.
pub(super) struct Compiler {
    pub(super) insts: Vec<Inst>,
    pub(super) classes: Vec<Class>,
    pub(super) lits: Vec<Box<[u8]>>,
    pub(super) repeats: Vec<Repeat>,
    /// Star steps and bounds: (m, lo, hi, greedy).
    pub(super) stars: Vec<(CharM, usize, usize, bool)>,
    known: HashMap<(String, bool), CharM>,
    slots: usize,
}

/// Compiles `regex` (a translated grok pattern); `None` if it has something
/// this engine does not cover, or does not parse.
pub fn build(regex: &str) -> Option<Program> {
    let tree = Expr::parse_tree(regex).ok()?;
    let backrefs = tree.backrefs;
    let backref = |group: usize| backrefs.contains(group);
    // fancy-regex searches for `(?s:.)*?(raw)`: group 0 is the whole match.
    let root = Expr::Group(Box::new(tree.expr));
    let info = Analyzer {
        backref: &backref,
        group: 0,
    }
    .visit(&root)
    .ok()?;
    let groups = info.end_group;
    let mut c = Compiler {
        insts: Vec::new(),
        classes: Vec::new(),
        lits: Vec::new(),
        repeats: Vec::new(),
        stars: Vec::new(),
        known: HashMap::new(),
        slots: 2 * groups,
    };
    if info.hard {
        // The VM part: `(?s:.)*?` and the group are the middle of a hard
        // sequence, compiled as hard.
        c.visit(&info, true).ok()?;
    } else {
        // fancy-regex hands all of it to the `regex` crate.
        c.natural(&info).ok()?;
    }
    c.emit(Inst::Match);
    thread_jumps(&mut c.insts, &mut c.repeats);
    let (first, at_end) = first_sets(&c);
    let mut program = Program {
        anchor: anchor(&c.insts),
        stars: star_tables(&c, &first),
        insts: c.insts,
        classes: c.classes,
        lits: c.lits,
        repeats: c.repeats,
        loops: Vec::new(),
        first,
        at_end,
        slots: c.slots,
        groups,
    };
    find_loops(&mut program);
    Some(program)
}

const PLACEHOLDER: u32 = u32::MAX;

impl Compiler {
    fn pc(&self) -> u32 {
        self.insts.len() as u32
    }

    fn emit(&mut self, inst: Inst) -> u32 {
        let pc = self.pc();
        self.insts.push(inst);
        pc
    }

    fn new_slot(&mut self) -> u32 {
        self.slots += 1;
        (self.slots - 1) as u32
    }

    fn slot(n: usize) -> R<u32> {
        u32::try_from(n).map_err(|_| Unsupported)
    }

    fn literal(&mut self, bytes: &[u8]) {
        match bytes {
            [] => {}
            [b] => {
                self.emit(Inst::Byte(*b));
            }
            _ => {
                self.lits.push(bytes.into());
                self.emit(Inst::Lit(self.lits.len() as u32 - 1));
            }
        }
    }

    /// A class, read the way the `regex` crate reads fancy-regex's delegate
    /// text (`(?i:...)` when case-insensitive).
    fn class(&mut self, inner: &str, casei: bool) -> R<CharM> {
        let key = (inner.to_owned(), casei);
        if let Some(m) = self.known.get(&key) {
            return Ok(*m);
        }
        let source = if casei {
            format!("(?i:{inner})")
        } else {
            inner.to_owned()
        };
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&source)
            .map_err(|_| Unsupported)?;
        let m = match hir.kind() {
            HirKind::Class(HirClass::Unicode(class)) => {
                let ranges = class
                    .ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32));
                self.classes.push(Class::from_ranges(ranges));
                CharM::Class(self.classes.len() as u32 - 1)
            }
            HirKind::Literal(lit) => {
                let text = std::str::from_utf8(&lit.0).map_err(|_| Unsupported)?;
                if text.chars().count() != 1 {
                    return Err(Unsupported);
                }
                match text.as_bytes() {
                    [b] => CharM::Byte(*b),
                    bytes => {
                        self.lits.push(bytes.into());
                        CharM::Lit(self.lits.len() as u32 - 1)
                    }
                }
            }
            _ => return Err(Unsupported),
        };
        self.known.insert(key, m);
        Ok(m)
    }

    /// The single-character step `info` is, if it is one.
    fn single(&mut self, info: &Info) -> R<Option<CharM>> {
        Ok(Some(match info.expr {
            Expr::Any { newline: true } => CharM::Any,
            Expr::Any { newline: false } => CharM::AnyNoNl,
            Expr::Literal { val, casei: false } if val.chars().count() == 1 => {
                match val.as_bytes() {
                    [b] => CharM::Byte(*b),
                    bytes => {
                        self.lits.push(bytes.into());
                        CharM::Lit(self.lits.len() as u32 - 1)
                    }
                }
            }
            Expr::Literal { val, casei: true } if val.chars().count() == 1 => {
                self.class(&regex_syntax::escape(val), true)?
            }
            Expr::Delegate {
                inner,
                size: 1,
                casei,
            } => self.class(inner, *casei)?,
            _ => return Ok(None),
        }))
    }

    fn star(&mut self, m: CharM, lo: usize, hi: usize, greedy: bool) {
        self.stars.push((m, lo, hi, greedy));
        self.emit(Inst::Star(self.stars.len() as u32 - 1));
    }

    fn repeat_inst(&mut self, repeat: Repeat) -> u32 {
        self.repeats.push(repeat);
        self.emit(Inst::Repeat(self.repeats.len() as u32 - 1))
    }

    fn step(&mut self, m: CharM) {
        self.emit(match m {
            CharM::Byte(b) => Inst::Byte(b),
            CharM::Class(k) => Inst::Class(k),
            CharM::Any => Inst::Any,
            CharM::AnyNoNl => Inst::AnyNoNl,
            CharM::Lit(l) => Inst::Lit(l),
        });
    }

    /// fancy-regex's `Compiler::visit`.
    fn visit(&mut self, info: &Info, hard: bool) -> R {
        if !hard && !info.hard {
            return self.delegate(std::slice::from_ref(info));
        }
        match info.expr {
            Expr::Empty => {}
            Expr::Literal { val, casei: false } => self.literal(val.as_bytes()),
            Expr::Literal { casei: true, .. } | Expr::Delegate { .. } => {
                self.delegate(std::slice::from_ref(info))?
            }
            Expr::Any { newline } => {
                self.emit(if *newline { Inst::Any } else { Inst::AnyNoNl });
            }
            Expr::Concat(_) => self.concat(info, hard)?,
            Expr::Alt(_) => {
                self.alt(info.children.len(), |c, i| c.visit(&info.children[i], hard))?
            }
            Expr::Group(_) => {
                let group = Self::slot(2 * info.start_group)?;
                self.emit(Inst::Save(group));
                self.visit(&info.children[0], hard)?;
                self.emit(Inst::Save(group + 1));
            }
            Expr::Repeat { lo, hi, greedy, .. } => self.repeat(info, *lo, *hi, *greedy, hard)?,
            Expr::LookAround(_, la) => self.lookaround(info, *la)?,
            Expr::Backref(group) => {
                self.emit(Inst::Backref(Self::slot(*group)?));
            }
            Expr::AtomicGroup(_) => {
                let slot = self.new_slot();
                self.emit(Inst::AtomicBegin(slot));
                self.visit(&info.children[0], false)?;
                self.emit(Inst::AtomicEnd(slot));
            }
            Expr::Assertion(a) => {
                self.emit(Inst::Look(look(*a)?));
            }
            _ => return Err(Unsupported),
        }
        Ok(())
    }

    /// fancy-regex's `compile_concat`.
    fn concat(&mut self, info: &Info, hard: bool) -> R {
        let children = &info.children;
        let prefix_end = children
            .iter()
            .take_while(|c| c.const_size && !c.hard)
            .count();
        let rest = children[prefix_end..].iter().rev();
        let suffix_len = if hard {
            rest.take_while(|c| c.const_size && !c.hard).count()
        } else {
            rest.take_while(|c| !c.hard).count()
        };
        let suffix_begin = children.len() - suffix_len;
        self.delegate(&children[..prefix_end])?;
        for child in &children[prefix_end..suffix_begin] {
            self.visit(child, true)?;
        }
        self.delegate(&children[suffix_begin..])
    }

    /// fancy-regex's `compile_alt`.
    fn alt(&mut self, count: usize, mut branch: impl FnMut(&mut Self, usize) -> R) -> R {
        let mut jumps = Vec::new();
        let mut last_split: Option<u32> = None;
        for i in 0..count {
            let has_next = i != count - 1;
            let pc = self.pc();
            if has_next {
                self.emit(Inst::Split(pc + 1, PLACEHOLDER));
            }
            if let Some(split) = last_split {
                if let Inst::Split(_, second) = &mut self.insts[split as usize] {
                    *second = pc;
                }
            }
            last_split = has_next.then_some(pc);
            branch(self, i)?;
            if has_next {
                jumps.push(self.emit(Inst::Jmp(PLACEHOLDER)));
            }
        }
        let next = self.pc();
        for jump in jumps {
            self.insts[jump as usize] = Inst::Jmp(next);
        }
        Ok(())
    }

    /// fancy-regex's `compile_repeat`, with a repeat of one character as
    /// one [`Inst::Star`] (same order of attempts).
    fn repeat(&mut self, info: &Info, lo: usize, hi: usize, greedy: bool, hard: bool) -> R {
        let child = &info.children[0];
        if let Some(m) = self.single(child)? {
            self.star(m, lo, hi, greedy);
            return Ok(());
        }
        if lo == 0 && hi == 1 {
            let split = self.emit(Inst::Split(PLACEHOLDER, PLACEHOLDER));
            self.visit(child, hard)?;
            let next = self.pc();
            self.insts[split as usize] = if greedy {
                Inst::Split(split + 1, next)
            } else {
                Inst::Split(next, split + 1)
            };
            return Ok(());
        }
        let hard = hard | info.hard;
        self.repeat_body(child, lo, hi, greedy, |c| c.visit(child, hard))
    }

    /// The loop forms of fancy-regex's `compile_repeat` (not `?`).
    fn repeat_body(
        &mut self,
        child: &Info,
        lo: usize,
        hi: usize,
        greedy: bool,
        body: impl FnOnce(&mut Self) -> R,
    ) -> R {
        if hi == INF && child.min_size == 0 {
            let counter = self.new_slot();
            let check = self.new_slot();
            self.emit(Inst::Zero(counter));
            let pc = self.repeat_inst(Repeat {
                lo,
                hi,
                next: PLACEHOLDER,
                counter,
                check: Some(check),
                greedy,
            });
            body(self)?;
            self.emit(Inst::Jmp(pc));
            self.end_repeat(pc);
        } else if lo == 0 && hi == INF {
            let pc = self.emit(Inst::Split(PLACEHOLDER, PLACEHOLDER));
            body(self)?;
            self.emit(Inst::Jmp(pc));
            let next = self.pc();
            self.insts[pc as usize] = if greedy {
                Inst::Split(pc + 1, next)
            } else {
                Inst::Split(next, pc + 1)
            };
        } else if lo == 1 && hi == INF {
            let pc = self.pc();
            body(self)?;
            let next = self.pc() + 1;
            self.emit(if greedy {
                Inst::Split(pc, next)
            } else {
                Inst::Split(next, pc)
            });
        } else {
            let counter = self.new_slot();
            self.emit(Inst::Zero(counter));
            let pc = self.repeat_inst(Repeat {
                lo,
                hi,
                next: PLACEHOLDER,
                counter,
                check: None,
                greedy,
            });
            body(self)?;
            self.emit(Inst::Jmp(pc));
            self.end_repeat(pc);
        }
        Ok(())
    }

    /// Points the repeat at `pc` past the loop just emitted.
    fn end_repeat(&mut self, pc: u32) {
        let end = self.pc();
        if let Inst::Repeat(r) = self.insts[pc as usize] {
            self.repeats[r as usize].next = end;
        }
    }

    /// fancy-regex's `compile_lookaround`.
    fn lookaround(&mut self, info: &Info, la: LookAround) -> R {
        let inner = &info.children[0];
        let split = matches!(inner.expr, Expr::Alt(_)) && !inner.const_size;
        match la {
            LookAround::LookBehind if split => self.alt(inner.children.len(), |c, i| {
                c.positive_lookaround(&inner.children[i], la)
            }),
            LookAround::LookBehindNeg if split => {
                for alternative in &inner.children {
                    self.negative_lookaround(alternative, la)?;
                }
                Ok(())
            }
            LookAround::LookBehind | LookAround::LookAhead => self.positive_lookaround(inner, la),
            LookAround::LookBehindNeg | LookAround::LookAheadNeg => {
                self.negative_lookaround(inner, la)
            }
        }
    }

    fn positive_lookaround(&mut self, inner: &Info, la: LookAround) -> R {
        let slot = self.new_slot();
        self.emit(Inst::Save(slot));
        self.lookaround_inner(inner, la)?;
        self.emit(Inst::Restore(slot));
        Ok(())
    }

    fn negative_lookaround(&mut self, inner: &Info, la: LookAround) -> R {
        let start = self.emit(Inst::NegStart(PLACEHOLDER));
        self.lookaround_inner(inner, la)?;
        self.emit(Inst::NegEnd);
        let after = self.pc();
        self.insts[start as usize] = Inst::NegStart(after);
        Ok(())
    }

    fn lookaround_inner(&mut self, inner: &Info, la: LookAround) -> R {
        if matches!(la, LookAround::LookBehind | LookAround::LookBehindNeg) {
            if !inner.const_size {
                return Err(Unsupported);
            }
            self.emit(Inst::GoBack(Self::slot(inner.min_size)?));
        }
        self.visit(inner, false)
    }

    /// What fancy-regex hands to the `regex` crate (`compile_delegates`): a
    /// literal, or an atomic leftmost-first sub-match that first clears the
    /// groups inside.
    fn delegate(&mut self, infos: &[Info]) -> R {
        let (Some(first), Some(last)) = (infos.first(), infos.last()) else {
            return Ok(());
        };
        if infos.iter().all(Info::is_literal) {
            let mut bytes = Vec::new();
            infos.iter().for_each(|i| i.push_literal(&mut bytes));
            self.literal(&bytes);
            return Ok(());
        }
        if first.start_group < last.end_group {
            self.emit(Inst::Clear(
                Self::slot(2 * first.start_group)?,
                Self::slot(2 * last.end_group)?,
            ));
        }
        let atomic = infos.iter().any(Info::branches).then(|| self.new_slot());
        if let Some(slot) = atomic {
            self.emit(Inst::AtomicBegin(slot));
        }
        for info in infos {
            self.natural(info)?;
        }
        if let Some(slot) = atomic {
            self.emit(Inst::AtomicEnd(slot));
        }
        Ok(())
    }

    /// Plain backtracking, for what fancy-regex delegates.
    fn natural(&mut self, info: &Info) -> R {
        match info.expr {
            Expr::Empty => {}
            Expr::Literal { val, casei: false } => self.literal(val.as_bytes()),
            Expr::Literal { .. } | Expr::Delegate { .. } | Expr::Any { .. } => {
                let m = self.single(info)?.ok_or(Unsupported)?;
                self.step(m);
            }
            Expr::Assertion(a) => {
                self.emit(Inst::Look(look(*a)?));
            }
            Expr::Concat(_) => {
                let mut run = Vec::new();
                for child in &info.children {
                    if let Expr::Literal { val, casei: false } = child.expr {
                        run.extend_from_slice(val.as_bytes());
                        continue;
                    }
                    self.literal(&std::mem::take(&mut run));
                    self.natural(child)?;
                }
                self.literal(&run);
            }
            Expr::Alt(_) => self.alt(info.children.len(), |c, i| c.natural(&info.children[i]))?,
            Expr::Group(_) => {
                let group = Self::slot(2 * info.start_group)?;
                self.emit(Inst::Save(group));
                self.natural(&info.children[0])?;
                self.emit(Inst::Save(group + 1));
            }
            Expr::Repeat { lo, hi, greedy, .. } => {
                let (lo, hi, greedy) = (*lo, *hi, *greedy);
                let child = &info.children[0];
                if let Some(m) = self.single(child)? {
                    self.star(m, lo, hi, greedy);
                    return Ok(());
                }
                // The `regex` crate's rules for empty iterations are its own.
                if child.min_size == 0 {
                    return Err(Unsupported);
                }
                if lo == 0 && hi == 1 {
                    let split = self.emit(Inst::Split(PLACEHOLDER, PLACEHOLDER));
                    self.natural(child)?;
                    let next = self.pc();
                    self.insts[split as usize] = if greedy {
                        Inst::Split(split + 1, next)
                    } else {
                        Inst::Split(next, split + 1)
                    };
                    return Ok(());
                }
                self.repeat_body(child, lo, hi, greedy, |c| c.natural(child))?;
            }
            _ => return Err(Unsupported),
        }
        Ok(())
    }
}

fn look(a: Assertion) -> R<Look> {
    Ok(match a {
        Assertion::StartText => Look::StartText,
        Assertion::EndText => Look::EndText,
        Assertion::StartLine { crlf: false } => Look::StartLine,
        Assertion::EndLine { crlf: false } => Look::EndLine,
        Assertion::WordBoundary => Look::WordBoundary,
        Assertion::NotWordBoundary => Look::NotWordBoundary,
        Assertion::LeftWordBoundary => Look::WordStart,
        Assertion::RightWordBoundary => Look::WordEnd,
        _ => return Err(Unsupported),
    })
}
