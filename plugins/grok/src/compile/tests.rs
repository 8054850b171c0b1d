//! Unit tests of [`super`]: the regex text and capture table it produces.

use super::*;
use crate::library::{Library, Source};
use crate::reference::field_name;

fn lib(defs: &[(&str, &str)]) -> Library {
    let mut lib = Library::empty();
    for (name, regex) in defs {
        lib.insert(name.to_string(), regex.to_string(), Source::Inline);
    }
    lib
}

fn regex(pattern: &str, defs: &[(&str, &str)]) -> String {
    let t = translate(pattern, &lib(defs)).unwrap();
    t.regex.strip_prefix("(?m)").unwrap().to_owned()
}

fn error(pattern: &str, defs: &[(&str, &str)]) -> TranslateError {
    translate(pattern, &lib(defs)).unwrap_err()
}

fn capture(group: usize, field: &str, conversion: Conversion) -> Capture {
    Capture {
        group,
        field: field.to_owned(),
        conversion,
    }
}

#[test]
fn references_expand_into_groups() {
    let defs = [("A", "a+"), ("B", "%{A}-%{A:x}")];
    assert_eq!(regex("%{B:y:int}!", &defs), "((?:a+)-(a+))!");
    let t = translate("%{B:y:int}!", &lib(&defs)).unwrap();
    assert_eq!(
        t.captures,
        vec![
            capture(1, "y", Conversion::Int),
            capture(2, "x", Conversion::None)
        ]
    );
    assert_eq!(t.used, vec!["A", "B"]);
}

#[test]
fn field_names_in_brackets_become_dotted() {
    let t = translate(
        "%{A:[http][request][method]} %{A:[a][b]:float}",
        &lib(&[("A", "x")]),
    )
    .unwrap();
    assert_eq!(t.captures[0].field, "http.request.method");
    assert_eq!(t.captures[1], capture(2, "a.b", Conversion::Float));
    assert_eq!(field_name("[source][user][name"), "source.user.name");
    assert_eq!(field_name("plain.dotted"), "plain.dotted");
}

#[test]
fn logstash_reference_quirks() {
    // Anything after the subname up to `}` is ignored.
    let t = translate("%{A:[x][code]?}", &lib(&[("A", "1")])).unwrap();
    assert_eq!(t.captures[0].field, "x.code");
    // `%{A:}` captures nothing; a `%{` that is no reference is literal text.
    assert_eq!(regex("%{A:}", &[("A", "1")]), "(?:1)");
    assert_eq!(regex("%{ nope}", &[]), r"%\{ nope\}");
    // Inline definition.
    let t = translate("%{N:n=\\d{2}}%{N}", &lib(&[])).unwrap();
    assert_eq!(t.regex, "(?m)([0-9]{2})(?:[0-9]{2})");
}

#[test]
fn named_groups_are_numbered_and_plain_groups_do_not_capture() {
    let t = translate("(a)(?<first>b)(?'second'c)(?P<[x][y]>d)", &lib(&[])).unwrap();
    assert_eq!(t.regex, "(?m)(?:a)(b)(c)(d)");
    let fields: Vec<_> = t
        .captures
        .iter()
        .map(|c| (c.group, c.field.as_str()))
        .collect();
    assert_eq!(fields, [(1, "first"), (2, "second"), (3, "x.y")]);
    // The same name twice is fine.
    assert_eq!(regex("(?<a>x)|(?<a>y)", &[]), "(x)|(y)");
}

#[test]
fn backreferences() {
    assert_eq!(regex(r"(?<q>['])x\k<q>", &[]), r"(['])x\k<1>");
    // Numbered backreferences keep plain groups capturing, as Oniguruma does.
    assert_eq!(regex(r"(a)(b)\2", &[]), r"(a)(b)\k<2>");
    let e = error(r"(?<x>a)\1", &[]);
    assert!(e.message.contains("numbered backreferences"), "{e:?}");
}

#[test]
fn nested_repeats_of_one_character_are_merged_like_oniguruma() {
    assert_eq!(
        regex("[A-Za-z]([A-Za-z0-9+.-]+)+://", &[]),
        "[A-Za-z](?:[A-Za-z0-9+.-]+)://"
    );
    assert_eq!(
        regex("(?:a+)*(?:b?)+(?:c*)?(?:d?)?(?:e+)?", &[]),
        "(?:a*)(?:b*)(?:c*)(?:d?)(?:e*)"
    );
    // Not merged: lazy or possessive, more than one piece, a capture, a flag
    // group, an alternation.
    for kept in [
        "(?:a+)+?",
        "(?:a+?)+",
        "(?:ab+)+",
        "(?:a+b)+",
        "(?:a|b+)+",
        "(?i:a+)+",
        "(?:(?:a)+)+",
    ] {
        assert_eq!(regex(kept, &[]), kept);
    }
    assert_eq!(regex("(?<x>a+)+", &[]), "(a+)+");
    assert_eq!(regex("(?:a+)++", &[]), "(?:a+)++");
}

#[test]
fn ruby_flags_and_repeats() {
    assert_eq!(regex("(?m)a.b(?i:c)(?-m)", &[]), "(?s)a.b(?i:c)(?-s)");
    assert_eq!(
        regex("a{,3}b{2}+c{2}?d*+e+?f{x}", &[]),
        r"a{0,3}(?:b{2})+c{2}?d*+e+?f\{x\}"
    );
    assert_eq!(regex("(?x) a b # comment (\n c", &[]), "abc");
    assert_eq!(regex("a(?#note)b", &[]), "ab");
    assert_eq!(regex(r"\<x\>", &[]), "<x>");
}

#[test]
fn errors_name_the_definition() {
    let e = error("%{NOPE}", &[]);
    assert_eq!(e.origin, None);
    assert!(e.message.contains("unknown grok pattern `NOPE`"), "{e:?}");
    let e = error("%{A}", &[("A", "x%{NOPE}")]);
    assert_eq!(e.origin.as_deref(), Some("A"));
    let e = error("%{A}", &[("A", "(x")]);
    assert_eq!(e.origin.as_deref(), Some("A"));
    assert!(e.message.contains("unclosed"), "{e:?}");
    let e = error("%{A:x:long}", &[("A", "x")]);
    assert!(e.message.contains("unknown conversion `long`"), "{e:?}");
}

#[test]
fn recursion_is_detected() {
    let e = error("%{A}", &[("A", "a%{B}"), ("B", "b%{C}"), ("C", "%{A}")]);
    assert_eq!(e.origin.as_deref(), Some("C"));
    assert_eq!(e.message, "recursive pattern definition: A -> B -> C -> A");
    let e = error("%{SELF}", &[("SELF", "x|%{SELF}")]);
    assert!(e.message.contains("SELF -> SELF"), "{e:?}");
}

#[test]
fn exponential_expansion_is_refused() {
    let mut defs = vec![("L0".to_owned(), "abcdefgh".to_owned())];
    for i in 1..40 {
        defs.push((format!("L{i}"), format!("%{{L{}}}%{{L{}}}", i - 1, i - 1)));
    }
    let defs: Vec<(&str, &str)> = defs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let e = error("%{L39}", &defs);
    assert!(e.message.contains("MiB"), "{e:?}");
}

#[test]
fn relaxed_form_drops_what_needs_backtracking() {
    let r = translate_relaxed(
        r"(?<![0-9])(?>a+)b*+\bc(?=d%{N:n})(?<x>e)\k<x>\Ad\z",
        &lib(&[("N", "1")]),
    );
    assert_eq!(r.as_deref(), Some(r"(?m)(?:a+)b*c(e)(?s:.*?)\Ad\z"));
    assert_eq!(translate_relaxed("(?<x>a)?(?(<x>)b|c)", &lib(&[])), None);
}
