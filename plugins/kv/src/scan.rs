//! Finds `key=value` pairs in a text, the way Logstash's kv filter does:
//! words that are not pairs are skipped, values may be quoted, and an empty
//! value (`logname= uid=0`) is an empty string.

/// The characters between pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSplit {
    /// Any whitespace (the default).
    Whitespace,
    /// Any of these characters.
    Chars(Vec<char>),
}

impl FieldSplit {
    fn is_split(&self, c: char) -> bool {
        match self {
            FieldSplit::Whitespace => c.is_whitespace(),
            FieldSplit::Chars(set) => set.contains(&c),
        }
    }
}

/// How to split a text into pairs.
#[derive(Debug, Clone)]
pub struct Splitter {
    pub field_split: FieldSplit,
    /// Any of these characters separates a key from its value.
    pub value_split: Vec<char>,
    /// Allow spaces around the value separator (`total = 1072`). A word
    /// after `= ` that is itself a pair is not taken as the value, so
    /// `logname= uid=0` still gives an empty `logname`.
    pub lenient: bool,
}

impl Splitter {
    /// The pairs in `text`, in order; keys are never empty. A value in
    /// `"..."` or `'...'` may hold separators and `\"` / `\'` / `\\`
    /// escapes; an unquoted value runs to the next field separator, so it may
    /// hold value separators (`root=LABEL=/` is `root` = `LABEL=/`).
    pub fn pairs<'t>(&self, text: &'t str) -> Vec<(&'t str, String)> {
        let mut pairs = Vec::new();
        let mut rest = text;
        loop {
            rest = rest.trim_start_matches(|c| self.field_split.is_split(c));
            if rest.is_empty() {
                return pairs;
            }
            let key_end = rest
                .find(|c| self.field_split.is_split(c) || self.value_split.contains(&c))
                .unwrap_or(rest.len());
            let key = &rest[..key_end];
            let mut after_key = &rest[key_end..];
            if self.lenient && !key.is_empty() {
                let spaced = after_key.trim_start_matches(is_space);
                if spaced.starts_with(|c| self.value_split.contains(&c)) {
                    after_key = spaced;
                }
            }
            let Some(split) = after_key
                .chars()
                .next()
                .filter(|c| self.value_split.contains(c) && !key.is_empty())
            else {
                // A word that is not a pair: skip it.
                rest = self.skip_word(after_key);
                continue;
            };
            let mut value_text = &after_key[split.len_utf8()..];
            if self.lenient {
                let spaced = value_text.trim_start_matches(is_space);
                if spaced.len() < value_text.len() && !self.is_pair(spaced) {
                    value_text = spaced;
                }
            }
            let (value, after_value) = match quoted(value_text) {
                Some((value, after)) => (value, self.skip_word(after)),
                None => {
                    let end = self.word_end(value_text);
                    (value_text[..end].to_owned(), &value_text[end..])
                }
            };
            pairs.push((key, value));
            rest = after_value;
        }
    }

    /// Whether `text` starts with `key=` (a non-empty key, then a value
    /// separator within the same word).
    fn is_pair(&self, text: &str) -> bool {
        let word = &text[..self.word_end(text)];
        word.find(|c| self.value_split.contains(&c))
            .is_some_and(|at| at > 0)
    }

    fn word_end(&self, text: &str) -> usize {
        text.find(|c| self.field_split.is_split(c))
            .unwrap_or(text.len())
    }

    fn skip_word<'t>(&self, text: &'t str) -> &'t str {
        &text[self.word_end(text)..]
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A value in matching quotes at the start of `text`, unescaped, and the
/// text after the closing quote. `None` if `text` does not start with a
/// quote or the quote is never closed (then it is an ordinary value).
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next)) if next == quote || next == '\\' => value.push(next),
                Some((_, next)) => {
                    value.push('\\');
                    value.push(next);
                }
                None => value.push('\\'),
            },
            c if c == quote => return Some((value, &text[at + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Splitter {
        Splitter {
            field_split: FieldSplit::Whitespace,
            value_split: vec!['='],
            lenient: false,
        }
    }

    fn pairs(s: &Splitter, text: &str) -> Vec<(String, String)> {
        s.pairs(text)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn linux_pam_line_keeps_empty_values() {
        let text =
            "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ";
        assert_eq!(
            pairs(&ws(), text),
            owned(&[
                ("logname", ""),
                ("uid", "0"),
                ("euid", "0"),
                ("tty", "NODEVssh"),
                ("ruser", ""),
                ("rhost", "218.188.2.4"),
            ])
        );
    }

    #[test]
    fn unquoted_values_keep_value_separators_and_stray_words_are_skipped() {
        assert_eq!(
            pairs(&ws(), "Kernel command line: ro root=LABEL=/ rhgb quiet"),
            owned(&[("root", "LABEL=/")])
        );
        assert_eq!(
            pairs(&ws(), "klogd 1.4.1, log source = /proc/kmsg started."),
            owned(&[])
        );
        assert_eq!(pairs(&ws(), "=x a= =b"), owned(&[("a", "")]));
        assert_eq!(pairs(&ws(), ""), owned(&[]));
    }

    #[test]
    fn quoted_values_hold_separators_and_escapes() {
        assert_eq!(
            pairs(&ws(), r#"msg="hello world" q='it\'s' p="a \"b\" c\\" x=1"#),
            owned(&[
                ("msg", "hello world"),
                ("q", "it's"),
                ("p", r#"a "b" c\"#),
                ("x", "1")
            ])
        );
        // Other escapes are kept; an unclosed quote is an ordinary value.
        assert_eq!(
            pairs(&ws(), r#"path="C:\temp" bad="open end"#),
            owned(&[("path", r"C:\temp"), ("bad", "\"open")])
        );
        // Text glued to a closing quote is skipped, and multi-byte text is fine.
        assert_eq!(
            pairs(&ws(), r#"a="x"junk b=é"#),
            owned(&[("a", "x"), ("b", "é")])
        );
    }

    #[test]
    fn android_comma_separated() {
        let s = Splitter {
            field_split: FieldSplit::Chars(vec![',', ' ']),
            value_split: vec!['='],
            lenient: false,
        };
        assert_eq!(
            pairs(
                &s,
                r#"acquire lock=233570404, flags=0x1, tag="View Lock", name=com.android.systemui, ws=null, uid=10037, pid=2227"#
            ),
            owned(&[
                ("lock", "233570404"),
                ("flags", "0x1"),
                ("tag", "View Lock"),
                ("name", "com.android.systemui"),
                ("ws", "null"),
                ("uid", "10037"),
                ("pid", "2227"),
            ])
        );
    }

    #[test]
    fn several_value_separators() {
        let s = Splitter {
            field_split: FieldSplit::Chars(vec!['&']),
            value_split: vec!['=', ':'],
            lenient: false,
        };
        assert_eq!(
            pairs(&s, "a=1&b:2&c=x:y"),
            owned(&[("a", "1"), ("b", "2"), ("c", "x:y")])
        );
    }

    #[test]
    fn lenient_allows_spaces_around_the_separator_but_keeps_empty_values() {
        let s = Splitter {
            field_split: FieldSplit::Chars(vec![',', ' ']),
            value_split: vec!['='],
            lenient: true,
        };
        assert_eq!(
            pairs(
                &s,
                "Times: total = 1072, boot = 856, init = 210, finish = 6"
            ),
            owned(&[
                ("total", "1072"),
                ("boot", "856"),
                ("init", "210"),
                ("finish", "6")
            ])
        );
        assert_eq!(
            pairs(
                &s,
                "Connection broken for id 188978561024, my id = 1, error = "
            ),
            owned(&[("id", "1"), ("error", "")])
        );
        let lenient = Splitter {
            lenient: true,
            ..ws()
        };
        assert_eq!(
            pairs(
                &lenient,
                "logname= uid=0 tty= NODEVssh ruser= rhost=218.188.2.4"
            ),
            owned(&[
                ("logname", ""),
                ("uid", "0"),
                ("tty", "NODEVssh"),
                ("ruser", ""),
                ("rhost", "218.188.2.4")
            ])
        );
        assert_eq!(pairs(&lenient, r#"msg = "a b""#), owned(&[("msg", "a b")]));
        // Strict: the word after `= ` is not the value.
        assert_eq!(pairs(&ws(), "total = 1072"), owned(&[]));
        assert_eq!(pairs(&ws(), "tty= NODEVssh"), owned(&[("tty", "")]));
    }
}
