//! Running a [`Program`] at one start position: the backtracking loop.
//!
//! State is the instruction, the position, the slots (groups, counters,
//! saved positions) and a stack of [`Frame`]s to go back to. A frame
//! remembers the length of the trail, the log of slot values overwritten
//! since; going back to it undoes the trail to that length. While the stack
//! is empty nothing is logged (nothing could go back).
//!
//! The step counter lives in a local and the hot helpers are inlined, so
//! the inner loops touch no memory but the text and their tables.

use super::{char_len, prev, Cache, CharM, Frame, Inst, Program, Star, INF, MAX_STACK, NONE};

/// Out of budget or stack.
pub(super) struct GiveUp;

impl Cache {
    #[inline(always)]
    fn set(&mut self, slot: u32, value: usize) {
        let old = std::mem::replace(&mut self.slots[slot as usize], value);
        if !self.stack.is_empty() {
            self.trail.push((slot, old));
        }
    }

    #[inline(always)]
    fn undo(&mut self, to: u32) {
        while self.trail.len() > to as usize {
            let (slot, value) = self.trail.pop().expect("longer than `to`");
            self.slots[slot as usize] = value;
        }
    }

    #[inline(always)]
    fn push(&mut self, frame: Frame) -> Result<(), GiveUp> {
        if self.stack.len() >= MAX_STACK {
            return Err(GiveUp);
        }
        self.stack.push(frame);
        Ok(())
    }

    #[inline(always)]
    fn branch(&mut self, pc: u32, pos: usize) -> Result<(), GiveUp> {
        let trail = self.trail.len() as u32;
        self.push(Frame::Branch { pc, trail, pos })
    }
}

impl Program {
    /// One attempt at `start`, counting into `steps` up to `limit`.
    pub(super) fn run(
        &self,
        t: &[u8],
        start: usize,
        steps_io: &mut usize,
        limit: usize,
        c: &mut Cache,
    ) -> Result<bool, ()> {
        let mut steps = *steps_io;
        let result = self.run_inner(t, start, &mut steps, limit, c);
        *steps_io = steps;
        result.map_err(|GiveUp| ())
    }

    #[inline(always)]
    fn run_inner(
        &self,
        t: &[u8],
        start: usize,
        steps: &mut usize,
        limit: usize,
        c: &mut Cache,
    ) -> Result<bool, GiveUp> {
        c.stack.clear();
        c.trail.clear();
        // Only groups are read before being written (counters, checks and
        // saved positions are set on the way in).
        c.slots[..2 * self.groups].fill(NONE);
        let mut pc: u32 = 0;
        let mut pos = start;
        macro_rules! spend {
            ($n:expr) => {
                *steps += $n;
                if *steps > limit {
                    return Err(GiveUp);
                }
            };
        }
        loop {
            // Forward until something fails.
            loop {
                match self.insts[pc as usize] {
                    Inst::Match => return Ok(true),
                    Inst::Byte(b) => {
                        if t.get(pos) != Some(&b) {
                            break;
                        }
                        pos += 1;
                    }
                    Inst::Lit(l) => {
                        let lit = &self.lits[l as usize];
                        if !t[pos..].starts_with(lit) {
                            break;
                        }
                        pos += lit.len();
                    }
                    Inst::Class(k) => match self.classes[k as usize].at(t, pos) {
                        Some(len) => pos += len,
                        None => break,
                    },
                    Inst::Any => match t.get(pos) {
                        Some(&b) => pos += char_len(b),
                        None => break,
                    },
                    Inst::AnyNoNl => match t.get(pos) {
                        Some(&b) if b != b'\n' => pos += char_len(b),
                        _ => break,
                    },
                    Inst::Look(look) => {
                        if !look.holds(t, pos) {
                            break;
                        }
                    }
                    Inst::Split(x, y) => {
                        match (self.allowed(x, t, pos), self.allowed(y, t, pos)) {
                            (true, true) => {
                                c.branch(y, pos)?;
                                pc = x;
                            }
                            (true, false) => pc = x,
                            (false, true) => pc = y,
                            (false, false) => break,
                        }
                        continue;
                    }
                    Inst::Jmp(to) => {
                        pc = to;
                        continue;
                    }
                    Inst::Save(slot) => c.set(slot, pos),
                    Inst::Clear(from, to) => (from..to).for_each(|slot| c.set(slot, NONE)),
                    Inst::Zero(slot) => c.set(slot, 0),
                    Inst::Restore(slot) => pos = c.slots[slot as usize],
                    Inst::Repeat(r) => {
                        // fancy-regex's Repeat(Epsilon)Gr/Ng.
                        let r = &self.repeats[r as usize];
                        let count = c.slots[r.counter as usize];
                        if let Some(check) = r.check {
                            if count > r.lo && c.slots[check as usize] == pos {
                                // An empty iteration: no further ones.
                                break;
                            }
                        } else if count == r.hi {
                            pc = r.next;
                            continue;
                        }
                        c.set(r.counter, count + 1);
                        if count >= r.lo {
                            if let Some(check) = r.check {
                                c.set(check, pos);
                            }
                            let (first, second) = if r.greedy {
                                (pc + 1, r.next)
                            } else {
                                (r.next, pc + 1)
                            };
                            match (self.allowed(first, t, pos), self.allowed(second, t, pos)) {
                                (true, true) => {
                                    c.branch(second, pos)?;
                                    pc = first;
                                }
                                (true, false) => pc = first,
                                (false, true) => pc = second,
                                (false, false) => break,
                            }
                            continue;
                        }
                    }
                    Inst::Star(s) => {
                        let star = &self.stars[s as usize];
                        match self.star(pc, star, t, pos, steps, limit, c)? {
                            Some(at) => pos = at,
                            None => break,
                        }
                    }
                    Inst::Loop(l) => {
                        let lp = &self.loops[l as usize];
                        let mut ok = true;
                        while let Some(&b) = t.get(pos) {
                            let which = lp.which[b as usize];
                            if which == 0 {
                                break;
                            }
                            for &m in &lp.branches[which as usize - 1] {
                                match self.step(m, t, pos) {
                                    Some(at) => pos = at,
                                    None => {
                                        ok = false;
                                        break;
                                    }
                                }
                            }
                            if !ok {
                                break;
                            }
                        }
                        if !ok {
                            break;
                        }
                        pc = lp.exit;
                        continue;
                    }
                    Inst::GoBack(n) => {
                        let mut ok = true;
                        for _ in 0..n {
                            if pos == 0 {
                                ok = false;
                                break;
                            }
                            pos = prev(t, pos);
                        }
                        if !ok {
                            break;
                        }
                    }
                    Inst::NegStart(after) => {
                        if !self.allowed(after, t, pos) {
                            break;
                        }
                        if !self.allowed(pc + 1, t, pos) {
                            // The body cannot match here.
                            pc = after;
                            continue;
                        }
                        let trail = c.trail.len() as u32;
                        c.push(Frame::Neg { after, trail, pos })?;
                    }
                    Inst::NegEnd => {
                        // The body matched, so the look-around fails: drop
                        // everything back to its marker, then fail.
                        while let Some(frame) = c.stack.pop() {
                            let (Frame::Branch { trail, .. }
                            | Frame::Greedy { trail, .. }
                            | Frame::Lazy { trail, .. }
                            | Frame::Neg { trail, .. }) = frame;
                            c.undo(trail);
                            if matches!(frame, Frame::Neg { .. }) {
                                break;
                            }
                        }
                        break;
                    }
                    Inst::Backref(group) => {
                        let slot = 2 * group as usize;
                        let (s, e) = (c.slots[slot], c.slots[slot + 1]);
                        if s == NONE || e == NONE || !t[pos..].starts_with(&t[s..e]) {
                            break;
                        }
                        pos += e - s;
                    }
                    Inst::AtomicBegin(slot) => c.set(slot, c.stack.len()),
                    Inst::AtomicEnd(slot) => {
                        let height = c.slots[slot as usize];
                        c.stack.truncate(height);
                    }
                }
                pc += 1;
            }
            // Back to the last frame that still has something to try.
            loop {
                let Some(&frame) = c.stack.last() else {
                    return Ok(false);
                };
                spend!(1);
                match frame {
                    Frame::Branch {
                        pc: to,
                        trail,
                        pos: at,
                    }
                    | Frame::Neg {
                        after: to,
                        trail,
                        pos: at,
                    } => {
                        c.stack.pop();
                        c.undo(trail);
                        pc = to;
                        pos = at;
                        break;
                    }
                    Frame::Greedy {
                        pc: star,
                        trail,
                        pos: tried,
                        min,
                    } => {
                        c.undo(trail);
                        let rest = &self.stars[star_index(self, star)].rest;
                        // The next earlier character start the rest may take.
                        let Some(at) = (tried > min)
                            .then(|| back(rest, t, min, tried - 1))
                            .flatten()
                        else {
                            spend!(tried - min);
                            c.stack.pop();
                            continue;
                        };
                        spend!(tried - at);
                        if at == min {
                            c.stack.pop();
                        } else if let Some(Frame::Greedy { pos, .. }) = c.stack.last_mut() {
                            *pos = at;
                        }
                        pc = star + 1;
                        pos = at;
                        break;
                    }
                    Frame::Lazy {
                        pc: star,
                        trail,
                        pos: tried,
                        count,
                    } => {
                        c.stack.pop();
                        c.undo(trail);
                        let s = &self.stars[star_index(self, star)];
                        let Some(at) = self.step(s.m, t, tried) else {
                            continue;
                        };
                        spend!(1);
                        match self.lazy(star + 1, s, t, at, count + 1, steps, limit)? {
                            Some((at, count)) => {
                                if count < s.hi {
                                    c.push(Frame::Lazy {
                                        pc: star,
                                        trail,
                                        pos: at,
                                        count,
                                    })?;
                                }
                                pc = star + 1;
                                pos = at;
                                break;
                            }
                            None => continue,
                        }
                    }
                }
            }
        }
    }

    /// Runs the star `s` at `pc` from `pos`: the position the rest starts
    /// at, with a frame pushed to come back for other lengths; `None` if
    /// no length works.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn star(
        &self,
        pc: u32,
        s: &Star,
        t: &[u8],
        mut pos: usize,
        steps: &mut usize,
        limit: usize,
        c: &mut Cache,
    ) -> Result<Option<usize>, GiveUp> {
        for _ in 0..s.lo {
            match self.step(s.m, t, pos) {
                Some(at) => pos = at,
                None => return Ok(None),
            }
        }
        let next = pc + 1;
        if !s.greedy {
            let Some((at, count)) = self.lazy(next, s, t, pos, s.lo, steps, limit)? else {
                return Ok(None);
            };
            if count < s.hi {
                let trail = c.trail.len() as u32;
                c.push(Frame::Lazy {
                    pc,
                    trail,
                    pos: at,
                    count,
                })?;
            }
            return Ok(Some(at));
        }
        let min = pos;
        if s.hi == INF {
            // As far as it goes: bytes from the table, other characters one
            // by one.
            loop {
                pos = skip(&s.take, false, t, pos);
                match self.step(s.m, t, pos) {
                    Some(at) => pos = at,
                    None => break,
                }
            }
        } else {
            for _ in s.lo..s.hi {
                match self.step(s.m, t, pos) {
                    Some(at) => pos = at,
                    None => break,
                }
            }
        }
        // Back off to where the rest may start.
        if pos == t.len() && self.at_end[next as usize] {
            // The end of the text will do.
        } else {
            // The last character start at or before `pos` the rest may take.
            let from = match pos.checked_sub(usize::from(pos == t.len())) {
                Some(from) if from >= min => from,
                _ => return Ok(None),
            };
            let Some(at) = back(&s.rest, t, min, from) else {
                return Ok(None);
            };
            *steps += pos - at;
            if *steps > limit {
                return Err(GiveUp);
            }
            pos = at;
        }
        if pos > min {
            let trail = c.trail.len() as u32;
            c.push(Frame::Greedy {
                pc,
                trail,
                pos,
                min,
            })?;
        }
        Ok(Some(pos))
    }

    /// A lazy star from `pos` after `count` characters: the first position
    /// where the rest (`next`) may start, taking more characters up to its
    /// maximum, and the count there.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn lazy(
        &self,
        next: u32,
        s: &Star,
        t: &[u8],
        mut pos: usize,
        mut count: usize,
        steps: &mut usize,
        limit: usize,
    ) -> Result<Option<(usize, usize)>, GiveUp> {
        loop {
            if s.hi == INF {
                // Skip what needs no closer look.
                let start = pos;
                pos = skip(&s.stop, true, t, pos);
                *steps += pos - start;
            }
            if self.allowed(next, t, pos) {
                return Ok(Some((pos, count)));
            }
            if count == s.hi {
                return Ok(None);
            }
            match self.step(s.m, t, pos) {
                Some(at) => pos = at,
                None => return Ok(None),
            }
            count += 1;
            *steps += 1;
            if *steps > limit {
                return Err(GiveUp);
            }
        }
    }
}

/// The first position from `pos` whose byte is (`until`) or is not in
/// `table`, or the end. Eight bytes a round, and apart from the big loop,
/// so that compiled to Wasm it keeps its state in registers and checks the
/// epoch once per eight bytes.
#[inline(never)]
fn skip(table: &[bool; 256], until: bool, t: &[u8], mut pos: usize) -> usize {
    let hit = |b: u8| table[b as usize] == until;
    while let Some(chunk) = t.get(pos..pos + 8) {
        let chunk: &[u8; 8] = chunk.try_into().expect("eight bytes");
        for (i, &b) in chunk.iter().enumerate() {
            if hit(b) {
                return pos + i;
            }
        }
        pos += 8;
    }
    while pos < t.len() && !hit(t[pos]) {
        pos += 1;
    }
    pos.min(t.len())
}

/// The last position in `min..=pos` whose byte is in `table`.
#[inline(never)]
fn back(table: &[bool; 256], t: &[u8], min: usize, mut pos: usize) -> Option<usize> {
    loop {
        if table[t[pos] as usize] {
            return Some(pos);
        }
        if pos == min {
            return None;
        }
        pos -= 1;
    }
}

/// The star of the instruction at `pc`.
#[inline(always)]
fn star_index(program: &Program, pc: u32) -> usize {
    match program.insts[pc as usize] {
        Inst::Star(s) => s as usize,
        _ => unreachable!("a star frame is pushed by a star"),
    }
}

impl CharM {
    /// Whether `b` is taken by this step with no closer look, and is never
    /// part of a character it would refuse.
    pub(super) fn takes(self, b: u8, classes: &[super::Class]) -> bool {
        match self {
            CharM::Byte(x) => b == x,
            CharM::Class(k) => b < 0x80 && classes[k as usize].ascii[b as usize],
            CharM::Any => true,
            CharM::AnyNoNl => b != b'\n',
            CharM::Lit(_) => false,
        }
    }
}
