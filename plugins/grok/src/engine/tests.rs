//! Unit tests of [`super`]: the engine against fancy-regex.

use super::*;

/// fancy-regex's captures of `regex` on `text`, as (start, end) per group.
fn fancy(regex: &str, text: &str) -> Option<Vec<Option<(usize, usize)>>> {
    let re = fancy_regex::Regex::new(regex).unwrap();
    let caps = re.captures(text).unwrap()?;
    Some(
        (0..caps.len())
            .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
            .collect(),
    )
}

fn ours(program: &Program, regex: &str, text: &str) -> Option<Vec<Option<(usize, usize)>>> {
    let mut cache = Cache::default();
    match program.search(text, 1_000_000, &mut cache) {
        Outcome::Match => Some(
            (0..program.groups())
                .map(|i| program.group(&cache, i))
                .collect(),
        ),
        Outcome::NoMatch => None,
        Outcome::GaveUp => panic!("{regex} gave up on {text:?}"),
    }
}

/// Whether `regex` is covered; if so, that it agrees with fancy-regex on `texts`.
fn same(regex: &str, texts: &[&str]) -> bool {
    let Some(program) = build(regex) else {
        return false;
    };
    for text in texts {
        assert_eq!(
            ours(&program, regex, text),
            fancy(regex, text),
            "{regex} on {text:?}"
        );
    }
    true
}

#[test]
fn agrees_with_fancy_regex() {
    let texts = [
        "",
        "a",
        "aaa",
        "ab",
        "abab",
        " x  y ",
        "foo bar baz",
        "12 345 6.7 -8",
        "é ü ß ẞ K k",
        "line one\nline two\n",
        "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
        "\"quoted \\\"x\\\"\" and 'single'",
        "10.0.0.1 and 1.2.3.4567 and 300.1.1.1",
        "xyzzy",
    ];
    for regex in [
        r"a",
        r"a*",
        r"a*?b",
        r"(a|ab)(c|bcd)?(d*)",
        r"(?m)^\s*(.*?)\s+(.*?)\s*$",
        r"(?m)^(\w+)\s(\w+)$",
        r"\b\w+\b",
        r"(?<![0-9])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9])",
        r#"(?>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"#,
        r"(?<!\\)(?>[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+))",
        r"(\w)\1",
        r"(?=(\w+))\w",
        r"(?i)k+",
        r"(?i:ss)|ß",
        r"\b(a?)*b",
        r"\b(?:a|())*",
        r"(?:(a)|b)+",
        r"(?:\b(?:(a)|b))+",
        r"[[:alpha:]]+",
        r"\p{L}+",
        r"(?s).+",
        r".+",
        r"x{2,}|a{1,2}?",
        r"(?:ab){2,3}",
        r"(?<=ab|b)c|(?<!\d )\d",
        r"(?m)$",
        r"\Bb",
        r"(a+)+$",
        r"(?:[^a]|a(?!b))+",
        r"[^\n]*",
        r"(?m)(?:line (\w+)\n?)+",
    ] {
        assert!(same(regex, &texts), "{regex} is not covered");
    }
    // The `regex` crate's rules for empty iterations are not copied.
    assert!(!same(r"(a?)*b", &texts));
}

#[test]
fn gives_up_on_an_exponential_search() {
    let program = build(r"^(?:a|aa)+(?<=^aaaa)!").unwrap();
    let mut cache = Cache::default();
    let text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    assert_eq!(program.search(text, 100_000, &mut cache), Outcome::GaveUp);
    assert_eq!(program.search("aaaa!", 100_000, &mut cache), Outcome::Match);
}

#[test]
fn conditionals_stay_on_fancy_regex() {
    assert!(build(r"(a)?(?(1)b|c)").is_none());
    assert!(build(r"a\Kb").is_none());
}
