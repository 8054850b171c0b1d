//! Precedence, grouping and the pipe hand-off, through the canonical form.

use sluice_query::{column_at, parse, parse_until_pipe};

fn canon(query: &str) -> String {
    parse(query)
        .unwrap_or_else(|e| panic!("{query:?}: {e}"))
        .to_string()
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let cases = [
        ("a OR b c", "(a OR (b AND c))"),
        ("NOT a b", "(NOT a AND b)"),
        ("a OR b OR c", "(a OR b OR c)"),
        ("-a AND +b", "(NOT a AND b)"),
        ("(a OR b) c", "((a OR b) AND c)"),
        ("a AND b OR c AND d", "((a AND b) OR (c AND d))"),
        ("a AND (b AND c)", "(a AND b AND c)"),
        ("NOT (a OR b)", "NOT (a OR b)"),
        ("a OR NOT b", "(a OR NOT b)"),
        ("- - a", "NOT NOT a"),
        ("Foo", "foo"),
        ("and or", "(and AND or)"),
        (r"\AND", "and"),
    ];
    for (query, expected) in cases {
        assert_eq!(canon(query), expected, "{query:?}");
    }
}

#[test]
fn values_take_every_form() {
    let cases = [
        ("status:>=500", "status:>=500"),
        ("status:>= 500", "status:>=500"),
        ("level: ERROR", "level:ERROR"),
        ("status:[1 TO 5}", "status:[1 TO 5}"),
        ("status:{* TO 5]", "status:[* TO 5]"),
        ("f:(a OR b)", "(f:a OR f:b)"),
        ("f:(a -b)", "(f:a AND NOT f:b)"),
        ("f:(>1 <5)", "(f:>1 AND f:<5)"),
        ("url:http://x.io/a", "url:\"http://x.io/a\""),
        (
            "timestamp:>2024-05-01T12:00:00Z",
            "timestamp:>\"2024-05-01T12:00:00Z\"",
        ),
        ("delta:-5", "delta:\"-5\""),
        ("f:\"a b\"", "f:\"a b\""),
        ("f:web-*", "f:web-*"),
        ("web-*", "\"web *\""),
        ("/a|b/", "/a|b/"),
        ("f:*", "_exists_:f"),
        ("message:*", "_exists_:message"),
        ("path:/a\\/b/", "path:/a/b/"),
    ];
    for (query, expected) in cases {
        assert_eq!(canon(query), expected, "{query:?}");
    }
}

#[test]
fn parsing_stops_at_a_top_level_pipe() {
    let text = "level:ERROR | stats count() by service";
    let (q, rest) = parse_until_pipe(text).unwrap();
    assert_eq!(q.to_string(), "level:ERROR");
    assert_eq!(&text[rest..], "| stats count() by service");
    assert_eq!(column_at(text, rest), 13);

    let text = r#"é "a|b" /x|y/ | top 10 host"#;
    let (q, rest) = parse_until_pipe(text).unwrap();
    assert_eq!(q.to_string(), "(é AND \"a b\" AND /x|y/)");
    assert_eq!(&text[rest..], "| top 10 host");
    assert_eq!(column_at(text, rest), 15);

    let (_, rest) = parse_until_pipe("a|b").unwrap();
    assert_eq!(rest, 1, "a pipe ends a word");
    let (_, rest) = parse_until_pipe("no pipe").unwrap();
    assert_eq!(rest, "no pipe".len());
}

#[test]
fn queries_are_send_sync_and_comparable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sluice_query::Query>();
    assert_eq!(parse("a b").unwrap(), parse("a AND b").unwrap());
    let q: sluice_query::Query = "level:ERROR".parse().unwrap();
    assert_eq!(q, parse("level:ERROR").unwrap());
}
