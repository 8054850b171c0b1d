//! What a compiled program knows about itself, worked out once after
//! compiling: where matches can start, which bytes each instruction can
//! succeed on ([`first_sets`]), the scanning tables of stars, and which
//! loops run without backtracking ([`find_loops`]).

use super::build::Compiler;
use super::{Anchor, ByteSet, CharM, Inst, Look, Loop, Program, Repeat, Star};

/// Where every match starts: after the leading saves, a start assertion.
pub(super) fn anchor(insts: &[Inst]) -> Anchor {
    for inst in insts {
        match inst {
            Inst::Save(_) | Inst::Clear(..) | Inst::Zero(_) | Inst::AtomicBegin(_) => continue,
            Inst::Look(Look::StartText) => return Anchor::Text,
            Inst::Look(Look::StartLine) => return Anchor::Line,
            _ => return Anchor::None,
        }
    }
    Anchor::None
}

/// Jumps to jumps go straight to the end of the chain.
pub(super) fn thread_jumps(insts: &mut [Inst], repeats: &mut [Repeat]) {
    let target = |insts: &[Inst], mut pc: u32| {
        for _ in 0..insts.len() {
            match insts[pc as usize] {
                Inst::Jmp(to) if to != pc => pc = to,
                _ => break,
            }
        }
        pc
    };
    for pc in 0..insts.len() {
        insts[pc] = match insts[pc] {
            Inst::Jmp(to) => Inst::Jmp(target(insts, to)),
            Inst::Split(x, y) => Inst::Split(target(insts, x), target(insts, y)),
            other => other,
        };
    }
    for r in repeats {
        r.next = target(insts, r.next);
    }
}

/// For each instruction, the bytes at the current position that a
/// successful path from it can start with, and whether it can succeed at
/// the end of the text. A fixpoint over the program (loops jump back).
pub(super) fn first_sets(c: &Compiler) -> (Vec<ByteSet>, Vec<bool>) {
    let n = c.insts.len();
    let mut first = vec![ByteSet::default(); n + 1];
    let mut end = vec![false; n + 1];
    loop {
        let mut changed = false;
        for pc in (0..n).rev() {
            let at = |to: u32| (first[to as usize], end[to as usize]);
            let next = at(pc as u32 + 1);
            let union = |a: (ByteSet, bool), b: (ByteSet, bool)| (a.0.union(&b.0), a.1 || b.1);
            let (f, e) = match c.insts[pc] {
                Inst::Match
                | Inst::Restore(_)
                | Inst::GoBack(_)
                | Inst::Backref(_)
                | Inst::NegEnd => (ByteSet::ALL, true),
                Inst::Byte(b) => (ByteSet::single(b), false),
                Inst::Lit(l) => (ByteSet::single(c.lits[l as usize][0]), false),
                Inst::Class(k) => (c.classes[k as usize].first, false),
                Inst::Any => (first_of(c, CharM::Any), false),
                Inst::AnyNoNl => (first_of(c, CharM::AnyNoNl), false),
                Inst::Look(Look::EndLine) => (next.0.intersect(&ByteSet::single(b'\n')), next.1),
                Inst::Look(Look::EndText) => (ByteSet::default(), next.1),
                Inst::Look(_)
                | Inst::Save(_)
                | Inst::Clear(..)
                | Inst::Zero(_)
                | Inst::AtomicBegin(_)
                | Inst::AtomicEnd(_) => next,
                Inst::Split(x, y) => union(at(x), at(y)),
                Inst::Jmp(to) => at(to),
                Inst::Repeat(r) => union(next, at(c.repeats[r as usize].next)),
                Inst::Star(s) => {
                    let (m, lo, _, _) = c.stars[s as usize];
                    let own = (first_of(c, m), false);
                    if lo > 0 {
                        own
                    } else {
                        union(own, next)
                    }
                }
                Inst::Loop(_) => unreachable!("loops are found after this"),
                Inst::NegStart(after) => at(after),
            };
            let merged = (first[pc].union(&f), end[pc] || e);
            if merged != (first[pc], end[pc]) {
                first[pc] = merged.0;
                end[pc] = merged.1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    first.truncate(n);
    end.truncate(n);
    (first, end)
}

/// The bytes a character `m` takes can start with.
fn first_of(c: &Compiler, m: CharM) -> ByteSet {
    let mut any = ByteSet::default();
    any.add_range(0, 0x7f);
    any.add_range(0xc0, 0xff);
    match m {
        CharM::Byte(b) => ByteSet::single(b),
        CharM::Class(k) => c.classes[k as usize].first,
        CharM::Any => any,
        CharM::AnyNoNl => {
            any.0[0] &= !(1u64 << b'\n');
            any
        }
        CharM::Lit(l) => ByteSet::single(c.lits[l as usize][0]),
    }
}

/// The scanning tables of every star.
pub(super) fn star_tables(c: &Compiler, first: &[ByteSet]) -> Vec<Star> {
    let mut stars: Vec<Option<Star>> = vec![None; c.stars.len()];
    for (pc, inst) in c.insts.iter().enumerate() {
        let Inst::Star(s) = *inst else { continue };
        let (m, lo, hi, greedy) = c.stars[s as usize];
        let rest = first[pc + 1].starts();
        let take = |b: u8| m.takes(b, &c.classes);
        stars[s as usize] = Some(Star {
            m,
            lo,
            hi,
            greedy,
            rest: rest.table(),
            take: Box::new(std::array::from_fn(|b| take(b as u8))),
            stop: Box::new(std::array::from_fn(|b| rest.has(b as u8) || !take(b as u8))),
        });
    }
    stars
        .into_iter()
        .map(|s| s.expect("every star is in the program"))
        .collect()
}

/// Replaces greedy loops `L: Split(L+1, exit)` whose body is a choice of
/// fixed sequences of single steps jumping back to `L` by one [`Inst::Loop`],
/// when the first byte decides the sequence and cannot start the exit: then
/// no iteration is ever given back (the pruning of [`Program::allowed`]
/// never pushes a frame there), and the loop runs without frames.
pub(super) fn find_loops(p: &mut Program) {
    for pc in 0..p.insts.len() {
        let Inst::Split(body, exit) = p.insts[pc] else {
            continue;
        };
        if body as usize != pc + 1 {
            continue;
        }
        let Some(branches) = loop_branches(&p.insts, body, pc as u32) else {
            continue;
        };
        let mut which = [0u8; 256];
        let mut seen = p.first[exit as usize].starts();
        let mut ok = branches.len() < 255;
        for (i, branch) in branches.iter().enumerate() {
            let starts = match branch[0] {
                CharM::Byte(b) => ByteSet::single(b),
                CharM::Class(k) => p.classes[k as usize].first,
                CharM::Lit(l) => ByteSet::single(p.lits[l as usize][0]),
                // `.` starts with anything: no other branch and no exit.
                CharM::Any | CharM::AnyNoNl => ByteSet::ALL.starts(),
            };
            if starts.intersect(&seen) != ByteSet::default() {
                ok = false;
                break;
            }
            seen = seen.union(&starts);
            for b in 0..=255u8 {
                if starts.has(b) {
                    which[b as usize] = i as u8 + 1;
                }
            }
        }
        if !ok {
            continue;
        }
        p.loops.push(Loop {
            branches,
            which: Box::new(which),
            exit,
        });
        p.insts[pc] = Inst::Loop(p.loops.len() as u32 - 1);
    }
}

/// The branches of a loop body starting at `body`: sequences of steps, each
/// ending in a jump back to `head`.
fn loop_branches(insts: &[Inst], mut body: u32, head: u32) -> Option<Vec<Vec<CharM>>> {
    let mut branches = Vec::new();
    loop {
        match insts[body as usize] {
            Inst::Split(x, y) if x == body + 1 => {
                branches.push(sequence(insts, x, head)?);
                body = y;
            }
            _ => {
                branches.push(sequence(insts, body, head)?);
                return Some(branches);
            }
        }
    }
}

fn sequence(insts: &[Inst], mut pc: u32, head: u32) -> Option<Vec<CharM>> {
    let mut steps = Vec::new();
    loop {
        steps.push(match insts[pc as usize] {
            Inst::Jmp(to) if to == head && !steps.is_empty() => return Some(steps),
            Inst::Byte(b) => CharM::Byte(b),
            Inst::Lit(l) => CharM::Lit(l),
            Inst::Class(k) => CharM::Class(k),
            Inst::Any => CharM::Any,
            Inst::AnyNoNl => CharM::AnyNoNl,
            _ => return None,
        });
        pc += 1;
    }
}
