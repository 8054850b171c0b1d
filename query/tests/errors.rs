//! Every error, with the column it points at.

use sluice_query::{parse, parse_until_pipe};

const ERRORS: &[(&str, usize, &str)] = &[
    ("", 1, "empty query"),
    ("   ", 1, "empty query"),
    ("| stats count()", 1, "empty query before '|'"),
    ("status:", 8, "expected a value after ':'"),
    ("status: )", 9, "expected a value after ':'"),
    ("http.status: AND x", 14, "expected a value after ':'"),
    ("level:NOT", 7, "expected a value after ':'"),
    ("service:payments AND", 21, "expected a term after AND"),
    ("OR foo", 1, "expected a term, found OR"),
    ("foo OR OR bar", 8, "expected a term after OR, found OR"),
    ("NOT", 4, "expected a term after NOT"),
    ("a -", 4, "expected a term after '-'"),
    ("a AND ]", 7, "expected a term after AND, found ']'"),
    ("(level:ERROR", 1, "unbalanced parentheses"),
    ("level:ERROR)", 12, "unbalanced parentheses"),
    ("((a) OR b", 1, "unbalanced parentheses"),
    ("a AND (b OR c))", 15, "unbalanced parentheses"),
    ("level:(ERROR", 7, "unbalanced parentheses"),
    ("()", 1, "empty parentheses"),
    ("\"unterminated phrase", 1, "unterminated phrase"),
    ("service:\"abc", 9, "unterminated phrase"),
    ("café:\"x", 6, "unterminated phrase"),
    ("\"\"", 1, "empty phrase"),
    ("/abc", 1, "unterminated regex"),
    ("message:/a(b/", 9, "invalid regex: unclosed group"),
    ("/[z-a]/", 1, "invalid regex"),
    (
        "url.path:/api/v1/users",
        15,
        "unexpected text right after a regex",
    ),
    ("status:[500 TO 599", 19, "expected ']' or '}'"),
    ("status:[500 599]", 13, "expected TO"),
    ("status:[500 TO]", 15, "expected the upper bound"),
    ("status:[TO 500]", 9, "expected the lower bound"),
    (
        "status:[5* TO 9]",
        9,
        "wildcards are not allowed in a range",
    ),
    ("status:[", 9, "expected the lower bound"),
    ("[500 TO 599]", 1, "a range needs a field"),
    ("level:>=WRAN", 9, "'WRAN' is not a level"),
    ("level:[DEBUG TO LOUD]", 17, "'LOUD' is not a level"),
    ("timestamp:>yesterday", 12, "'yesterday' is not a time"),
    ("timestamp:[2024-13-01 TO *]", 12, "not a time"),
    ("timestamp:noon", 11, "not a time"),
    ("status:>=", 10, "expected a value after '>='"),
    ("status:>=5*", 10, "wildcards cannot be compared"),
    (":foo", 1, "expected a field name before ':'"),
    ("foo\\", 4, "nothing to escape"),
    ("a (b | c)", 6, "a '|' cannot be inside parentheses"),
    ("_exists_:/x/", 10, "_exists_ takes a field name"),
    ("_exists_:tr*", 10, "_exists_ takes a field name"),
    ("_exists_:>5", 10, "_exists_ takes a field name"),
    ("web*:x", 1, "wildcards in field names"),
];

#[test]
fn every_error_has_its_column() {
    for &(query, column, message) in ERRORS {
        let e = parse(query).expect_err(query);
        assert_eq!(
            (e.column, e.message.contains(message)),
            (column, true),
            "{query:?}: got {e}, expected column {column}: {message}"
        );
        assert_eq!(e.to_string(), format!("column {}: {}", e.column, e.message));
    }
}

#[test]
fn a_pipe_is_an_error_only_where_pipes_are_not_taken() {
    let e = parse("level:ERROR | stats count()").unwrap_err();
    assert_eq!(e.column, 13);
    assert!(e.message.contains("pipes"), "{e}");
}

#[test]
fn nesting_is_limited() {
    let deep = format!("{}a{}", "(".repeat(70), ")".repeat(70));
    let e = parse(&deep).unwrap_err();
    assert_eq!(e.column, 65);
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = parse(&format!("{}a", "NOT ".repeat(70))).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = parse(&format!("{}a", "-".repeat(70))).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    let fine = format!("{}a{}", "(".repeat(60), ")".repeat(60));
    assert!(parse(&fine).is_ok());
}

#[test]
fn render_points_at_the_column() {
    let q = "status:[500 599]";
    let e = parse(q).unwrap_err();
    assert_eq!(
        e.render(q),
        "status:[500 599]\n            ^ expected TO in the range, found '599'"
    );
}

#[test]
fn errors_after_a_pipe_are_not_ours() {
    let (q, rest) = parse_until_pipe("level:ERROR | stats count( by").unwrap();
    assert_eq!(q.to_string(), "level:ERROR");
    assert_eq!(rest, 12);
}
