//! Random strings over the query language's characters never make the
//! parser (or the evaluator, on what parses) panic, and every error points
//! inside the text.

mod common;

use sluice_query::{parse, parse_until_pipe};

/// xorshift64*: small, deterministic, good enough to shuffle characters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "a",
    "b",
    "é",
    "5",
    "0",
    ".",
    "-",
    "+",
    "*",
    "?",
    ":",
    "\"",
    "/",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "|",
    ">",
    "<",
    "=",
    " ",
    " ",
    " ",
    "AND",
    "OR",
    "NOT",
    "TO",
    "_exists_",
    "level",
    "status",
    "message",
    "timestamp",
    "WARN",
    "2024-05-01",
    "T12:00:00Z",
    "\t",
    "\n",
    "^",
    "~",
];

#[test]
fn random_queries_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let events: Vec<_> = [common::APACHE, common::APP, common::JAVA, common::UNICODE]
        .iter()
        .map(|j| common::event(j))
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..30_000 {
        let len = rng.below(16);
        let text: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        let chars = text.chars().count();
        match parse_until_pipe(&text) {
            Ok((query, rest)) => {
                ok += 1;
                assert!(
                    rest <= text.len() && text.is_char_boundary(rest),
                    "{text:?}"
                );
                for event in &events {
                    query.matches(event);
                }
                let _ = query.to_string();
            }
            Err(e) => {
                failed += 1;
                assert!(
                    (1..=chars + 1).contains(&e.column),
                    "{text:?}: column {} outside 1..={}",
                    e.column,
                    chars + 1
                );
            }
        }
        let _ = parse(&text);
    }
    assert!(ok > 1000 && failed > 1000, "ok {ok}, failed {failed}");
}

#[test]
fn long_and_deep_inputs_are_refused_or_parsed_without_overflow() {
    for open in ["(", "NOT ", "-", "+", "f:(", "\"", "/", "["] {
        let text = open.repeat(10_000);
        let _ = parse(&text);
    }
    let wide = vec!["a"; 10_000].join(" OR ");
    assert!(parse(&wide).is_ok());
}
