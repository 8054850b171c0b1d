//! Query text to tokens, one at a time, in the mode the parser asks for:
//! what a character means depends on where it is (`:` ends a field name at
//! the start of a clause but belongs to a value after it; `-` negates a
//! clause but is part of the value in `field:-5`).

use crate::ast::CmpOp;
use crate::ParseError;

/// Where the parser is, which decides how the next token is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The start of a clause: `+`/`-` prefixes, `AND`/`OR`/`NOT`, and a word
    /// ending in an unescaped `:` is a field name.
    Clause,
    /// A clause inside `field:( ... )`: as `Clause`, but words are values
    /// (colons belong to them) and `>=`-style comparisons are recognized.
    Group,
    /// Right after `field:` or inside a range: a value, a comparison
    /// operator, or the start of a phrase, regex, range or group.
    Value,
}

/// One character of a word, with `*` and `?` kept apart from escaped ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub pieces: Vec<Piece>,
    /// Whether a `\` appeared (so `\AND` is a term, not an operator).
    pub escaped: bool,
}

impl Word {
    /// The text with wildcards written back as `*` and `?`.
    pub fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Char(c) => *c,
                Piece::Star => '*',
                Piece::One => '?',
            })
            .collect()
    }
    pub fn has_wildcards(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Char(_)))
    }
    pub fn is_star(&self) -> bool {
        self.pieces == [Piece::Star]
    }
    /// Whether this is exactly `keyword`, unescaped.
    pub fn is(&self, keyword: &str) -> bool {
        !self.escaped
            && self.pieces.len() == keyword.chars().count()
            && self
                .pieces
                .iter()
                .zip(keyword.chars())
                .all(|(p, k)| *p == Piece::Char(k))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Pipe,
    Plus,
    Minus,
    And,
    Or,
    Not,
    Cmp(CmpOp),
    Phrase(String),
    Regex(String),
    Word(Word),
    /// A field name: a word that ended in an unescaped `:` (consumed).
    Field(Word),
    Eof,
}

impl Tok {
    /// How an error message names this token.
    pub fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Pipe => "'|'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Not => "NOT".into(),
            Tok::Cmp(op) => format!("'{op}'"),
            Tok::Phrase(_) => "a phrase".into(),
            Tok::Regex(_) => "a regex".into(),
            Tok::Word(w) => format!("'{}'", w.text()),
            Tok::Field(w) => format!("'{}:'", w.text()),
            Tok::Eof => "the end of the query".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based character column of the token's first character.
    pub column: usize,
    /// Byte offset of the token's first character.
    pub offset: usize,
}

pub(crate) struct Lexer<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

/// Characters that end a word wherever it is.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '"' | '|')
}

fn error<T>(column: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        column,
        message: message.into(),
    })
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer {
            text,
            chars: text.char_indices().collect(),
            pos: 0,
        }
    }

    fn at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).map(|&(_, c)| c)
    }

    fn offset(&self, pos: usize) -> usize {
        self.chars.get(pos).map_or(self.text.len(), |&(o, _)| o)
    }

    /// Reads the next token without consuming it.
    pub fn peek(&mut self, mode: Mode) -> Result<Token, ParseError> {
        let saved = self.pos;
        let token = self.next(mode);
        self.pos = saved;
        token
    }

    pub fn next(&mut self, mode: Mode) -> Result<Token, ParseError> {
        while self.at(0).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let (column, offset) = (self.pos + 1, self.offset(self.pos));
        let token = |tok| {
            Ok(Token {
                tok,
                column,
                offset,
            })
        };
        let Some(c) = self.at(0) else {
            return token(Tok::Eof);
        };
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '|' => Some(Tok::Pipe),
            '+' if mode != Mode::Value => Some(Tok::Plus),
            '-' if mode != Mode::Value => Some(Tok::Minus),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            return token(tok);
        }
        match c {
            '"' => token(Tok::Phrase(self.phrase()?)),
            '/' => token(Tok::Regex(self.regex()?)),
            '<' | '>' if mode != Mode::Clause => {
                let or_equal = self.at(1) == Some('=');
                self.pos += 1 + usize::from(or_equal);
                token(Tok::Cmp(match (c, or_equal) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    _ => CmpOp::Ge,
                }))
            }
            _ => self.word(mode).map(|tok| Token {
                tok,
                column,
                offset,
            }),
        }
    }

    fn word(&mut self, mode: Mode) -> Result<Tok, ParseError> {
        let mut word = Word {
            pieces: Vec::new(),
            escaped: false,
        };
        while let Some(c) = self.at(0) {
            if ends_word(c) {
                break;
            }
            self.pos += 1;
            word.pieces.push(match c {
                ':' if mode == Mode::Clause => return Ok(Tok::Field(word)),
                '*' => Piece::Star,
                '?' => Piece::One,
                '\\' => match self.at(0) {
                    Some(escaped) => {
                        self.pos += 1;
                        word.escaped = true;
                        Piece::Char(escaped)
                    }
                    None => return error(self.pos, "nothing to escape after '\\'"),
                },
                c => Piece::Char(c),
            });
        }
        // Keywords in every mode, so `level: AND x` is an error, not the
        // value "AND" (quote or escape it to mean the word).
        for (keyword, tok) in [("AND", Tok::And), ("OR", Tok::Or), ("NOT", Tok::Not)] {
            if word.is(keyword) {
                return Ok(tok);
            }
        }
        Ok(Tok::Word(word))
    }

    /// A `"..."` phrase; `\` escapes the next character.
    fn phrase(&mut self) -> Result<String, ParseError> {
        let column = self.pos + 1;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.at(0) {
                None => break,
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') if self.at(1).is_some() => {
                    text.extend(self.at(1));
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        error(column, "unterminated phrase: missing the closing '\"'")
    }

    /// A `/.../` regex; `\/` is a slash, other escapes go to the regex as is.
    fn regex(&mut self) -> Result<String, ParseError> {
        let column = self.pos + 1;
        self.pos += 1;
        let mut source = String::new();
        loop {
            match self.at(0) {
                None => return error(column, "unterminated regex: missing the closing '/'"),
                Some('/') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') if self.at(1) == Some('/') => {
                    source.push('/');
                    self.pos += 2;
                }
                Some('\\') if self.at(1).is_some() => {
                    source.push('\\');
                    source.extend(self.at(1));
                    self.pos += 2;
                }
                Some(c) => {
                    source.push(c);
                    self.pos += 1;
                }
            }
        }
        match self.at(0) {
            Some(c) if !ends_word(c) => error(
                self.pos + 1,
                "unexpected text right after a regex; to search for text starting with '/', \
                 quote it (\"/api/v1\") or escape the slash (\\/api)",
            ),
            _ => Ok(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str, mode: Mode) -> Vec<Tok> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lexer.next(mode).unwrap();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn modes_decide_what_colons_and_dashes_mean() {
        let t = toks("-http.status:>=500", Mode::Clause);
        assert_eq!(t[0], Tok::Minus);
        assert!(matches!(&t[1], Tok::Field(w) if w.text() == "http.status"));
        assert!(matches!(&t[2], Tok::Word(w) if w.text() == ">=500"));
        let t = toks(">=500 -5 a:b", Mode::Value);
        assert_eq!(t[0], Tok::Cmp(CmpOp::Ge));
        assert!(matches!(&t[1], Tok::Word(w) if w.text() == "500"));
        assert!(matches!(&t[2], Tok::Word(w) if w.text() == "-5"));
        assert!(matches!(&t[3], Tok::Word(w) if w.text() == "a:b"));
    }

    #[test]
    fn escapes_keywords_and_wildcards() {
        let t = toks(r"AND \AND or we?b* a\*", Mode::Clause);
        assert_eq!(t[0], Tok::And);
        assert!(matches!(&t[1], Tok::Word(w) if w.text() == "AND"));
        assert!(matches!(&t[2], Tok::Word(w) if !w.has_wildcards() && w.text() == "or"));
        assert!(matches!(&t[3], Tok::Word(w) if w.has_wildcards()));
        assert!(matches!(&t[4], Tok::Word(w) if !w.has_wildcards() && w.text() == "a*"));
    }

    #[test]
    fn phrases_and_regexes_unescape() {
        let t = toks(r#""say \"hi\"" /a\/b\d/"#, Mode::Clause);
        assert_eq!(t[0], Tok::Phrase("say \"hi\"".into()));
        assert_eq!(t[1], Tok::Regex(r"a/b\d".into()));
    }
}
