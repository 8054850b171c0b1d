//! The `message` tokenizer registered in tantivy: exactly [`sluice_query::text::Tokens`], each
//! token folded with [`sluice_query::text::fold`], so the index's terms and positions are what
//! the in-memory evaluator (`Query::matches`) compares against.

use sluice_query::text::{fold, Tokens};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under.
pub const NAME: &str = "sluice";

/// Tokens longer than this (bytes, folded) are left out of the index: tantivy refuses terms
/// near 64 KiB. A query token this long is answered by scanning rows instead.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;

#[derive(Clone, Default)]
pub struct SluiceTokenizer;

pub struct SluiceTokenStream<'a> {
    base: usize,
    tokens: Tokens<'a>,
    token: Token,
    position: usize,
}

impl Tokenizer for SluiceTokenizer {
    type TokenStream<'a> = SluiceTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> SluiceTokenStream<'a> {
        SluiceTokenStream {
            base: text.as_ptr() as usize,
            tokens: Tokens::new(text),
            token: Token::default(),
            position: 0,
        }
    }
}

impl TokenStream for SluiceTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let Some(t) = self.tokens.next() else {
                return false;
            };
            let from = t.as_ptr() as usize - self.base;
            let position = self.position;
            self.position += 1;
            if t.is_ascii() {
                if t.len() > MAX_TOKEN_BYTES {
                    continue;
                }
                // The common case, without an allocation: ASCII folds byte by byte.
                self.token.text.clear();
                self.token.text.push_str(t);
                self.token.text.make_ascii_lowercase();
            } else {
                let folded = fold(t);
                if folded.len() > MAX_TOKEN_BYTES {
                    // Skipped, but it keeps its position so phrases around it stay exact.
                    continue;
                }
                self.token.text = folded;
            }
            self.token.offset_from = from;
            self.token.offset_to = from + t.len();
            self.token.position = position;
            self.token.position_length = 1;
            return true;
        }
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_the_query_crates_folded() {
        let text = "GET /api/v1/User_ID=42 10.0.0.1 Ünïcode-OK \u{212A}elvin";
        let mut tok = SluiceTokenizer;
        let mut stream = tok.token_stream(text);
        let mut got = Vec::new();
        while stream.advance() {
            let t = stream.token();
            got.push((
                t.text.clone(),
                t.position,
                &text[t.offset_from..t.offset_to],
            ));
        }
        let want: Vec<_> = Tokens::new(text)
            .enumerate()
            .map(|(i, t)| (fold(t), i, t))
            .collect();
        assert_eq!(got, want);
    }
}
