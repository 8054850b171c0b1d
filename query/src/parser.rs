//! Recursive descent from tokens to a [`Node`] tree, compiling every regex
//! and wildcard on the way. Grammar and precedence: see the crate docs.

use crate::ast::{Bound, CmpOp, Literal, Node, Target};
use crate::compile::{compile, message_text, message_wildcard, push_glob};
use crate::lexer::{Lexer, Mode, Tok, Word};
use crate::ParseError;

/// Deeper nesting (parentheses, `NOT`/`-` chains) is refused, so that
/// neither parsing nor evaluation can run out of stack (a Wasm guest has
/// little).
const MAX_DEPTH: usize = 64;

fn error<T>(column: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        column,
        message: message.into(),
    })
}

/// Parses `text` up to a top-level `|` (or the end). Returns the tree and
/// the byte offset of the `|`, or `text.len()` without one.
pub(crate) fn parse(text: &str) -> Result<(Node, usize), ParseError> {
    let mut p = Parser {
        lexer: Lexer::new(text),
        depth: 0,
    };
    let first = p.lexer.peek(Mode::Clause)?;
    match first.tok {
        Tok::Eof => return error(1, "empty query"),
        Tok::Pipe => {
            return error(
                first.column,
                "empty query before '|' (use * to match every event)",
            )
        }
        _ => {}
    }
    let node = p.or(None, "")?;
    let end = p.lexer.next(Mode::Clause)?;
    match end.tok {
        Tok::Eof | Tok::Pipe => Ok((node, end.offset)),
        Tok::RParen => error(
            end.column,
            "unbalanced parentheses: ')' has no matching '('",
        ),
        other => error(end.column, format!("unexpected {}", other.describe())),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    depth: usize,
}

/// The field of a `field:( ... )` group its bare values apply to.
type Ctx<'c> = Option<&'c str>;

impl Parser<'_> {
    fn mode(ctx: Ctx<'_>) -> Mode {
        if ctx.is_some() {
            Mode::Group
        } else {
            Mode::Clause
        }
    }

    fn enter(&mut self, column: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return error(
                column,
                format!("query nested too deeply (more than {MAX_DEPTH} levels)"),
            );
        }
        Ok(())
    }

    /// `or = and { "OR" and }`
    fn or(&mut self, ctx: Ctx<'_>, after: &str) -> Result<Node, ParseError> {
        let mut items = vec![self.and(ctx, after)?];
        while self.lexer.peek(Self::mode(ctx))?.tok == Tok::Or {
            self.lexer.next(Self::mode(ctx))?;
            items.push(self.and(ctx, "OR")?);
        }
        Ok(flatten(items, Node::Or))
    }

    /// `and = unary { ["AND"] unary }`: adjacent clauses are ANDed.
    fn and(&mut self, ctx: Ctx<'_>, after: &str) -> Result<Node, ParseError> {
        let mut items = vec![self.unary(ctx, after)?];
        loop {
            let next = self.lexer.peek(Self::mode(ctx))?;
            match next.tok {
                Tok::Eof | Tok::Pipe | Tok::RParen | Tok::Or => break,
                Tok::And => {
                    self.lexer.next(Self::mode(ctx))?;
                    items.push(self.unary(ctx, "AND")?);
                }
                _ => items.push(self.unary(ctx, "")?),
            }
        }
        Ok(flatten(items, Node::And))
    }

    /// `unary = ("NOT" | "-") unary | "+" unary | primary`
    fn unary(&mut self, ctx: Ctx<'_>, after: &str) -> Result<Node, ParseError> {
        let next = self.lexer.peek(Self::mode(ctx))?;
        let (negate, what) = match next.tok {
            Tok::Not => (true, "NOT"),
            Tok::Minus => (true, "'-'"),
            Tok::Plus => (false, "'+'"),
            _ => return self.primary(ctx, after),
        };
        self.lexer.next(Self::mode(ctx))?;
        self.enter(next.column)?;
        let inner = self.unary(ctx, what)?;
        self.depth -= 1;
        Ok(if negate {
            Node::Not(Box::new(inner))
        } else {
            inner
        })
    }

    /// `primary = "(" or ")" | field ":" value | term | phrase | regex`
    /// (and, inside a field group, comparisons and ranges).
    fn primary(&mut self, ctx: Ctx<'_>, after: &str) -> Result<Node, ParseError> {
        let token = self.lexer.next(Self::mode(ctx))?;
        let column = token.column;
        match token.tok {
            Tok::LParen => self.group(ctx, column),
            Tok::Field(name) => self.field(name, column),
            Tok::Word(word) => term(ctx, word, column),
            Tok::Phrase(text) => phrase(ctx, text, column),
            Tok::Regex(source) => regex(ctx, source, column),
            Tok::Cmp(op) if ctx.is_some() => self.compare(ctx, op, column),
            Tok::LBracket | Tok::LBrace if ctx.is_some() => {
                self.range(ctx, token.tok == Tok::LBracket, column)
            }
            Tok::LBracket | Tok::LBrace => error(
                column,
                "a range needs a field, e.g. http.response.status_code:[400 TO 499]",
            ),
            Tok::RParen if self.depth == 0 => {
                error(column, "unbalanced parentheses: ')' has no matching '('")
            }
            Tok::Pipe if self.depth > 0 => error(column, "a '|' cannot be inside parentheses"),
            other if after.is_empty() => error(
                column,
                format!("expected a term, found {}", other.describe()),
            ),
            other => error(
                column,
                format!("expected a term after {after}, found {}", other.describe()),
            ),
        }
    }

    /// After `(`: the group and its `)`.
    fn group(&mut self, ctx: Ctx<'_>, column: usize) -> Result<Node, ParseError> {
        self.enter(column)?;
        if self.lexer.peek(Self::mode(ctx))?.tok == Tok::RParen {
            return error(column, "empty parentheses");
        }
        let node = self.or(ctx, "'('")?;
        let close = self.lexer.next(Self::mode(ctx))?;
        match close.tok {
            Tok::RParen => {
                self.depth -= 1;
                Ok(node)
            }
            Tok::Pipe => error(close.column, "a '|' cannot be inside parentheses"),
            _ => error(column, "unbalanced parentheses: this '(' is never closed"),
        }
    }

    /// After `name:`: the value in any of its forms.
    fn field(&mut self, name: Word, column: usize) -> Result<Node, ParseError> {
        if name.pieces.is_empty() {
            return error(column, "expected a field name before ':'");
        }
        let text = name.text();
        if name.is_star() || name.has_wildcards() {
            let value = self.lexer.next(Mode::Value)?;
            return match value.tok {
                Tok::Word(w) if name.is_star() && w.is_star() => Ok(Node::All),
                _ => error(column, "wildcards in field names are not supported"),
            };
        }
        let value = self.lexer.next(Mode::Value)?;
        let ctx = Some(text.as_str());
        match value.tok {
            Tok::Word(word) => term(ctx, word, value.column),
            Tok::Phrase(p) => phrase(ctx, p, value.column),
            Tok::Regex(source) => regex(ctx, source, value.column),
            Tok::Cmp(op) => self.compare(ctx, op, value.column),
            Tok::LBracket | Tok::LBrace => {
                self.range(ctx, value.tok == Tok::LBracket, value.column)
            }
            Tok::LParen => self.group(ctx, value.column),
            _ => error(value.column, "expected a value after ':'"),
        }
    }

    /// After `field:>=`: the value.
    fn compare(&mut self, ctx: Ctx<'_>, op: CmpOp, column: usize) -> Result<Node, ParseError> {
        let target = Target::new(ctx.unwrap_or("message"));
        let value = self.lexer.next(Mode::Value)?;
        let literal = match value.tok {
            Tok::Word(w) if !w.has_wildcards() => w.text(),
            Tok::Phrase(p) => p,
            Tok::Word(_) => return error(value.column, "wildcards cannot be compared"),
            _ => return error(value.column, format!("expected a value after '{op}'")),
        };
        check_exists_field(ctx, column)?;
        let literal = comparable(&target, literal, value.column)?;
        Ok(Node::Compare(target, op, literal))
    }

    /// After `[` or `{`: `lower TO upper` and `]` or `}`.
    fn range(&mut self, ctx: Ctx<'_>, inclusive: bool, column: usize) -> Result<Node, ParseError> {
        check_exists_field(ctx, column)?;
        let target = Target::new(ctx.unwrap_or("message"));
        let lower = self.bound(&target, "the lower bound after '['", column)?;
        let to = self.lexer.next(Mode::Value)?;
        if !matches!(&to.tok, Tok::Word(w) if w.is("TO")) {
            return error(
                to.column,
                format!("expected TO in the range, found {}", to.tok.describe()),
            );
        }
        let upper = self.bound(&target, "the upper bound after TO", column)?;
        let close = self.lexer.next(Mode::Value)?;
        let upper_inclusive = match close.tok {
            Tok::RBracket => true,
            Tok::RBrace => false,
            other => {
                return error(
                    close.column,
                    format!(
                        "expected ']' or '}}' to close the range at column {column}, found {}",
                        other.describe()
                    ),
                )
            }
        };
        let lower = lower.map(|value| Bound { value, inclusive });
        let upper = upper.map(|value| Bound {
            value,
            inclusive: upper_inclusive,
        });
        Ok(Node::Range(target, lower, upper))
    }

    /// One bound of a range; `None` for `*`.
    fn bound(
        &mut self,
        target: &Target,
        what: &str,
        range_column: usize,
    ) -> Result<Option<Literal>, ParseError> {
        let token = self.lexer.next(Mode::Value)?;
        let text = match token.tok {
            Tok::Word(w) if w.is_star() => return Ok(None),
            Tok::Word(w) if w.has_wildcards() => {
                return error(token.column, "wildcards are not allowed in a range bound")
            }
            Tok::Word(w) if w.is("TO") => {
                return error(token.column, format!("expected {what}, found TO"))
            }
            Tok::Word(w) => w.text(),
            Tok::Phrase(p) => p,
            Tok::Eof => {
                return error(
                    token.column,
                    format!("expected {what} (range at column {range_column})"),
                )
            }
            other => {
                return error(
                    token.column,
                    format!("expected {what}, found {}", other.describe()),
                )
            }
        };
        comparable(target, text, token.column).map(Some)
    }
}

/// One item stays itself; nested lists of the same operator are merged.
fn flatten(mut items: Vec<Node>, make: fn(Vec<Node>) -> Node) -> Node {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let is_and = matches!(make(Vec::new()), Node::And(_));
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::And(inner) if is_and => flat.extend(inner),
            Node::Or(inner) if !is_and => flat.extend(inner),
            item => flat.push(item),
        }
    }
    make(flat)
}

fn check_exists_field(ctx: Ctx<'_>, column: usize) -> Result<(), ParseError> {
    if ctx == Some("_exists_") {
        return error(column, "_exists_ takes a field name");
    }
    Ok(())
}

/// A comparison or range bound, checked against what the target can hold.
fn comparable(target: &Target, text: String, column: usize) -> Result<Literal, ParseError> {
    let literal = Literal::new(text);
    match target {
        Target::Timestamp | Target::IngestTimestamp if literal.time.is_none() => error(
            column,
            format!(
                "'{}' is not a time: use RFC 3339 (2024-05-01T12:00:00Z), epoch milliseconds or now-1h",
                literal.text
            ),
        ),
        _ if target.is_level() && literal.level.is_none() && literal.number.is_none() => error(
            column,
            format!(
                "'{}' is not a level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)",
                literal.text
            ),
        ),
        _ => Ok(literal),
    }
}

/// A bare word, in the message or the group's field.
fn term(ctx: Ctx<'_>, word: Word, column: usize) -> Result<Node, ParseError> {
    let target = match ctx {
        Some("_exists_") if word.has_wildcards() => {
            return error(column, "_exists_ takes a field name, without wildcards")
        }
        Some("_exists_") => return Ok(Node::Exists(Target::new(&word.text()))),
        Some(name) => Target::new(name),
        None => Target::Message,
    };
    match target {
        _ if word.is_star() && ctx.is_none() => Ok(Node::All),
        _ if word.is_star() => Ok(Node::Exists(target)),
        Target::Message if word.has_wildcards() => message_wildcard(&word.pieces, column),
        Target::Message => Ok(Node::Message(message_text(&word.text(), column)?)),
        _ if word.has_wildcards() => {
            let mut source = String::from("(?is)\\A");
            push_glob(&mut source, &word.pieces);
            source.push_str("\\z");
            Ok(Node::Wildcard(
                target,
                compile(word.text(), &source, column)?,
            ))
        }
        _ => equals(target, word.text(), column),
    }
}

/// `field:value`; a time field's value must be a time.
fn equals(target: Target, text: String, column: usize) -> Result<Node, ParseError> {
    let literal = match target {
        Target::Timestamp | Target::IngestTimestamp => comparable(&target, text, column)?,
        _ => Literal::new(text),
    };
    Ok(Node::Equals(target, literal))
}

/// A quoted phrase, in the message or the group's field.
fn phrase(ctx: Ctx<'_>, text: String, column: usize) -> Result<Node, ParseError> {
    match ctx.map(Target::new) {
        Some(Target::Field { name, .. }) if name == "_exists_" => {
            Ok(Node::Exists(Target::new(&text)))
        }
        None | Some(Target::Message) if text.is_empty() => error(column, "empty phrase"),
        None | Some(Target::Message) => Ok(Node::Message(message_text(&text, column)?)),
        Some(target) => equals(target, text, column),
    }
}

/// `/re/`: anchored to the whole value, case-sensitive, `.` matches newlines.
fn regex(ctx: Ctx<'_>, source: String, column: usize) -> Result<Node, ParseError> {
    check_exists_field(ctx, column)?;
    let target = Target::new(ctx.unwrap_or("message"));
    // Compiled alone first, so an error is reported in the user's terms and
    // the anchoring group below cannot be escaped.
    compile(source.clone(), &source, column)?;
    let anchored = format!("(?s)\\A(?:{source})\\z");
    Ok(Node::Regex(target, compile(source, &anchored, column)?))
}
