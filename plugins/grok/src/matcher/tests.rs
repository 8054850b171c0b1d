//! Unit tests of [`super`].

use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Matcher::new(&patterns, &Library::builtin(), DEFAULT_BACKTRACK_LIMIT).unwrap()
}

fn fields(m: &Matcher, text: &str) -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    m.match_into(text, &mut out).unwrap()?;
    Some(
        out.into_iter()
            .map(|(f, v)| (m.field(f).to_owned(), v))
            .collect(),
    )
}

#[test]
fn conversions() {
    assert_eq!(convert("42", Conversion::Int), Value::Int(42));
    assert_eq!(convert("+42", Conversion::Int), Value::Int(42));
    assert_eq!(convert("-3.9", Conversion::Int), Value::Int(-3));
    assert_eq!(convert("x1", Conversion::Int), Value::from("x1"));
    assert_eq!(convert("1.5", Conversion::Float), Value::Float(1.5));
    assert_eq!(convert("7", Conversion::Float), Value::Float(7.0));
    assert_eq!(convert("inf", Conversion::Float), Value::from("inf"));
    assert_eq!(
        convert("99999999999999999999", Conversion::Int),
        Value::from("99999999999999999999")
    );
}

#[test]
fn nil_and_empty_captures_are_left_out_and_first_wins() {
    let m = matcher(&["(?:%{INT:n}|%{WORD:w})(?<e>x?)(?:%{WORD:w})?"]);
    assert_eq!(
        fields(&m, "abc"),
        Some(vec![("w".into(), Value::from("abc"))])
    );
    let m = matcher(&["%{WORD:a} %{WORD:a}"]);
    assert_eq!(
        fields(&m, "one two"),
        Some(vec![("a".into(), Value::from("one"))])
    );
}

#[test]
fn patterns_are_tried_in_order() {
    let m = matcher(&["^%{INT:n:int}$", "%{WORD:w}"]);
    assert_eq!(fields(&m, "12"), Some(vec![("n".into(), Value::Int(12))]));
    assert_eq!(
        fields(&m, "12 ab"),
        Some(vec![("w".into(), Value::from("12"))])
    );
    assert_eq!(fields(&m, "  "), None);
}

/// Every name of Logstash's files and the built-in library, on real lines:
/// the prefilter must never rule out a line the pattern matches.
#[test]
fn prefilter_never_rules_out_a_match() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");
    let mut lines = vec![
        r#"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "-" "x""#.to_owned(),
        "Jun 14 15:16:01 combo sshd[123]: pam_unix(sshd:session): session opened for user root by (uid=0)"
            .to_owned(),
        "<34>1 2003-10-11T22:14:15.003Z host su - ID47 [id@1 a=\"3\"] message".to_owned(),
    ];
    for entry in std::fs::read_dir(format!("{root}/loghub")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            lines.extend(text.lines().step_by(200).map(str::to_owned));
        }
    }
    let mut checked = 0;
    for dir in ["legacy", "ecs-v1", ""] {
        let mut lib = Library::builtin();
        if !dir.is_empty() {
            let path = format!("{root}/grok-patterns/patterns/{dir}");
            lib.load_dir(std::path::Path::new(&path)).unwrap();
        }
        for name in lib.names() {
            let m = Matcher::new(&[format!("%{{{name}}}")], &lib, DEFAULT_BACKTRACK_LIMIT).unwrap();
            let p = &m.patterns[0];
            let Some(pre) = &p.prefilter else { continue };
            for line in &lines {
                if !pre.is_match(line).unwrap() {
                    checked += 1;
                    let strict = p.regex.captures(line);
                    assert!(
                        matches!(strict, Ok(None) | Err(_)),
                        "{dir} {name}: prefilter rejects {line:?} but the pattern matches"
                    );
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}
