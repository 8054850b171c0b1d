//! Building the compiled parts of a query: message token matchers with
//! their accelerators, wildcards and regexes.

use crate::ast::{MessageMatch, Node, Pattern, TokenPat};
use crate::lexer::{Piece, Word};
use crate::text::{fold, is_token_char, Tokens};
use crate::ParseError;
use regex::{Regex, RegexBuilder};

/// Compiled regexes are capped at this many bytes each.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A term or phrase against the message: its tokens, consecutive.
pub(crate) fn message_text(text: &str, column: usize) -> Result<MessageMatch, ParseError> {
    let tokens: Vec<TokenPat> = Tokens::new(text)
        .map(|t| TokenPat::Exact(fold(t)))
        .collect();
    if !tokens.is_empty() {
        return tokens_match(tokens, column);
    }
    let source = format!("(?i){}", regex::escape(text));
    Ok(MessageMatch::Substring(compile(
        text.to_owned(),
        &source,
        column,
    )?))
}

/// A wildcard term against the message: split into tokens like the message
/// (with `*` and `?` counting as token characters), each matched as a
/// wildcard over one token.
pub(crate) fn message_wildcard(pieces: &[Piece], column: usize) -> Result<Node, ParseError> {
    let mut tokens = Vec::new();
    for part in pieces.split(|p| matches!(p, Piece::Char(c) if !is_token_char(*c))) {
        if part.is_empty() {
            continue;
        }
        let text: String = Word {
            pieces: part.to_vec(),
            escaped: false,
        }
        .text();
        tokens.push(if part.iter().all(|p| *p == Piece::Star) {
            TokenPat::Any
        } else if part.iter().all(|p| matches!(p, Piece::Char(_))) {
            TokenPat::Exact(fold(&text))
        } else {
            let mut source = String::from("(?i)\\A");
            push_glob(&mut source, part);
            source.push_str("\\z");
            TokenPat::Glob(compile(text, &source, column)?)
        });
    }
    if tokens.is_empty() {
        return Ok(Node::All);
    }
    Ok(Node::Message(tokens_match(tokens, column)?))
}

/// Adds the accelerators (see [`MessageMatch::Tokens`]). An ASCII token
/// can only fold-equal text that the regex's own case folding also finds
/// (the Kelvin sign for `k` is the one non-ASCII case), so they never miss.
fn tokens_match(tokens: Vec<TokenPat>, column: usize) -> Result<MessageMatch, ParseError> {
    let ascii = |t: &TokenPat| match t {
        TokenPat::Exact(text) if text.is_ascii() => Some(text.clone()),
        _ => None,
    };
    let substring = |text: String| {
        let source = format!("(?i){}", regex::escape(&text));
        compile(text, &source, column)
    };
    let (anchor, prefilter) = match tokens.first().and_then(ascii) {
        Some(first) => (Some(substring(first)?), None),
        None => match tokens
            .iter()
            .filter_map(ascii)
            .filter(|text| text.len() >= 3)
            .max_by_key(String::len)
        {
            Some(longest) => (None, Some(substring(longest)?)),
            None => (None, None),
        },
    };
    Ok(MessageMatch::Tokens {
        tokens,
        anchor,
        prefilter,
    })
}

pub(crate) fn push_glob(source: &mut String, pieces: &[Piece]) {
    let mut buf = [0u8; 4];
    for piece in pieces {
        match piece {
            Piece::Char(c) => source.push_str(&regex::escape(c.encode_utf8(&mut buf))),
            Piece::Star => source.push_str(".*"),
            Piece::One => source.push('.'),
        }
    }
}

pub(crate) fn compile(shown: String, source: &str, column: usize) -> Result<Pattern, ParseError> {
    let regex: Regex = RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| ParseError {
            column,
            message: format!("invalid regex: {}", regex_error(&e)),
        })?;
    Ok(Pattern {
        source: shown,
        regex,
    })
}

/// The regex crate's error on one line: its `error: ...` line when there is
/// one (the rest is a drawing of the pattern).
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(line) => line.to_owned(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}
