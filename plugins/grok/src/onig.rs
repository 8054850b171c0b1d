//! Pieces of Oniguruma (Ruby) regex syntax rewritten for fancy-regex.
//!
//! Logstash runs grok on Ruby's regex engine, and pattern files rely on it:
//! `\d`, `\w` and `\s` are ASCII-only there, `\h` is a hex digit, POSIX
//! brackets such as `[[:alnum:]]` cover Unicode, `\<` is a plain `<`, and
//! `\Z` is "end, or before a final newline". This module turns escapes and
//! bracket expressions into text fancy-regex (and the `regex` crate it
//! delegates to) reads with the same meaning. Groups, quantifiers and `%{}`
//! references are [`crate::compile`]'s job.

/// What an escape outside a bracket expression became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escape {
    /// Text matching one thing; a quantifier may follow it.
    Atom(String),
    /// A zero-width assertion; it cannot be repeated.
    Assertion(String),
    /// `\k<name>` or `\k'name'` (also `\k<1>`, `\k<-1>`).
    NamedBackref(String),
    /// `\1` .. `\99`.
    NumberedBackref(usize),
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0B\x0C\r ";
const HEX: &str = "0-9A-Fa-f";

/// Parses the escape at `s` (which starts after the backslash) and returns
/// its translation and the number of bytes of `s` it used.
pub fn escape(s: &str) -> Result<(Escape, usize), String> {
    let mut chars = s.chars();
    let Some(c) = chars.next() else {
        return Err("trailing backslash".into());
    };
    let one = c.len_utf8();
    let atom = |t: &str| Ok((Escape::Atom(t.to_owned()), one));
    match c {
        'd' => atom("[0-9]"),
        'D' => atom("[^0-9]"),
        'w' => atom("[0-9A-Za-z_]"),
        'W' => atom("[^0-9A-Za-z_]"),
        's' => atom(r"[\t\n\x0B\x0C\r ]"),
        'S' => atom(r"[^\t\n\x0B\x0C\r ]"),
        'h' => atom("[0-9A-Fa-f]"),
        'H' => atom("[^0-9A-Fa-f]"),
        'N' => atom(r"[^\n]"),
        'O' => atom(r"(?s:.)"),
        'R' => atom(r"(?:\r\n|[\n\x0B\x0C\r\x{85}\x{2028}\x{2029}])"),
        'A' | 'z' | 'b' | 'B' | 'G' | 'K' => Ok((Escape::Assertion(format!("\\{c}")), one)),
        'Z' => Ok((Escape::Assertion(r"(?=\n?\z)".into()), one)),
        // In Ruby these are the plain characters; in fancy-regex they are
        // word-boundary assertions.
        '<' | '>' => Ok((Escape::Atom(c.to_string()), one)),
        'k' => {
            let rest = &s[1..];
            let close = match rest.chars().next() {
                Some('<') => '>',
                Some('\'') => '\'',
                _ => return Err(r"\k must be followed by <name> or 'name'".into()),
            };
            let end = rest[1..]
                .find(close)
                .ok_or_else(|| format!("unterminated backreference \\k{}", rest))?;
            let name = &rest[1..1 + end];
            if name.is_empty() {
                return Err(r"empty name in \k<>".into());
            }
            Ok((Escape::NamedBackref(name.to_owned()), 1 + 1 + end + 1))
        }
        '1'..='9' => {
            let digits = s.bytes().take_while(u8::is_ascii_digit).count().min(2);
            let n = s[..digits].parse().expect("digits");
            Ok((Escape::NumberedBackref(n), digits))
        }
        '0' => {
            let (ch, used) = octal(s);
            Ok((Escape::Atom(literal(ch)), used))
        }
        'x' => {
            let (text, used) = hex(s)?;
            Ok((Escape::Atom(text), used))
        }
        'p' | 'P' => {
            let (text, used) = property(s)?;
            Ok((Escape::Atom(text), used))
        }
        // fancy-regex knows these escapes with Ruby's meaning.
        'u' | 'U' | 'a' | 'e' | 'f' | 'n' | 'r' | 't' | 'v' => {
            Ok((Escape::Atom(format!("\\{c}")), one))
        }
        'g' => Err(r"subexpression calls (\g) are not supported".into()),
        'X' => Err(r"\X (extended grapheme cluster) is not supported".into()),
        'c' | 'C' | 'M' => Err(format!("control/meta escapes (\\{c}) are not supported")),
        // Ruby treats an unknown letter escape as the letter itself.
        c if c.is_ascii_alphabetic() => atom(&c.to_string()),
        c if c.is_ascii() => Ok((Escape::Atom(format!("\\{c}")), one)),
        c => Ok((Escape::Atom(literal(c)), one)),
    }
}

/// Translates the bracket expression starting at `s` (at its `[`). Returns
/// the translated class and the number of bytes of `s` it spans.
pub fn class(s: &str) -> Result<(String, usize), String> {
    let bytes = s.as_bytes();
    debug_assert_eq!(bytes.first(), Some(&b'['));
    let mut out = String::from("[");
    let mut i = 1;
    if bytes.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    // A `]` right after the opening is a literal.
    if bytes.get(i) == Some(&b']') {
        out.push_str(r"\]");
        i += 1;
    }
    // The last character emitted unescaped, to keep Ruby's `+--` (a range
    // ending at '-') from reading as the `regex` crate's `--` set difference.
    let mut prev: Option<char> = None;
    loop {
        let Some(c) = s[i..].chars().next() else {
            return Err("unterminated character class `[`".into());
        };
        match c {
            ']' => {
                out.push(']');
                return Ok((out, i + 1));
            }
            '[' if s[i..].starts_with("[:") => {
                if let Some((text, used)) = posix(&s[i..])? {
                    out.push_str(&text);
                    i += used;
                } else {
                    let (text, used) = class(&s[i..])?;
                    out.push_str(&text);
                    i += used;
                }
                prev = None;
            }
            '[' => {
                let (text, used) = class(&s[i..])?;
                out.push_str(&text);
                i += used;
                prev = None;
            }
            '\\' => {
                let (text, used) = class_escape(&s[i + 1..])?;
                out.push_str(&text);
                i += 1 + used;
                prev = None;
            }
            '-' | '~' if prev == Some(c) => {
                out.push('\\');
                out.push(c);
                i += 1;
                prev = None;
            }
            c => {
                out.push(c);
                i += c.len_utf8();
                prev = Some(c);
            }
        }
    }
}

/// An escape inside a bracket expression: the class items it stands for.
fn class_escape(s: &str) -> Result<(String, usize), String> {
    let Some(c) = s.chars().next() else {
        return Err("trailing backslash".into());
    };
    let one = c.len_utf8();
    let items = |t: &str| Ok((t.to_owned(), one));
    let negated = |t: &str| Ok((format!("[^{t}]"), one));
    match c {
        'd' => items(DIGIT),
        'D' => negated(DIGIT),
        'w' => items(WORD),
        'W' => negated(WORD),
        's' => items(SPACE),
        'S' => negated(SPACE),
        'h' => items(HEX),
        'H' => negated(HEX),
        '<' | '>' => items(&c.to_string()),
        '0'..='7' => {
            let (ch, used) = octal(s);
            Ok((literal(ch), used))
        }
        'x' => hex(s),
        'p' | 'P' => property(s),
        'u' | 'U' | 'a' | 'b' | 'e' | 'f' | 'n' | 'r' | 't' | 'v' => Ok((format!("\\{c}"), one)),
        c if c.is_ascii_alphanumeric() => items(&c.to_string()),
        c if c.is_ascii() => Ok((format!("\\{c}"), one)),
        c => Ok((literal(c), one)),
    }
}

/// A POSIX bracket `[:name:]` or `[:^name:]` at the start of `s`, as a
/// nested class with Ruby's (Unicode) meaning. `None` if `s` does not start
/// with one (then `[` opens a nested class).
fn posix(s: &str) -> Result<Option<(String, usize)>, String> {
    let Some(end) = s[2..].find(":]") else {
        return Ok(None);
    };
    let inner = &s[2..2 + end];
    let (negated, name) = match inner.strip_prefix('^') {
        Some(name) => (true, name),
        None => (false, inner),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase()) {
        return Ok(None);
    }
    let set = match name {
        "alnum" => r"\p{L}\p{M}\p{Nd}",
        "alpha" => r"\p{L}\p{M}",
        "ascii" => r"\x00-\x7F",
        "blank" => r"\p{Zs}\t",
        "cntrl" => r"\p{Cc}",
        "digit" => r"\p{Nd}",
        "graph" => r"[^\p{White_Space}\p{Cc}\p{Cs}\p{Cn}]",
        "lower" => r"\p{Ll}",
        "print" => r"[^\p{Zl}\p{Zp}\p{Cc}\p{Cs}\p{Cn}]",
        "punct" => r"\p{P}\$\+<=>\^`\|\~",
        "space" => r"\p{White_Space}",
        "upper" => r"\p{Lu}",
        "word" => r"\p{L}\p{M}\p{Nd}\p{Pc}",
        "xdigit" => HEX,
        other => return Err(format!("unknown POSIX bracket [:{other}:]")),
    };
    let text = if negated {
        format!("[^{set}]")
    } else {
        format!("[{set}]")
    };
    Ok(Some((text, 2 + end + 2)))
}

/// `\xH`, `\xHH` or `\x{H..}` at `s` (starting at the `x`).
fn hex(s: &str) -> Result<(String, usize), String> {
    let rest = &s[1..];
    if rest.starts_with('{') {
        let end = rest
            .find('}')
            .ok_or_else(|| r"unterminated \x{...}".to_owned())?;
        return Ok((format!("\\x{}", &rest[..=end]), 1 + end + 1));
    }
    let digits = rest
        .bytes()
        .take_while(u8::is_ascii_hexdigit)
        .count()
        .min(2);
    if digits == 0 {
        return Err(r"\x needs hexadecimal digits".into());
    }
    Ok((format!("\\x{{{}}}", &rest[..digits]), 1 + digits))
}

/// `\0`, `\0nn` and (in classes) `\nnn` octal escapes.
fn octal(s: &str) -> (char, usize) {
    let digits = s
        .bytes()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count()
        .min(3);
    let value = u32::from_str_radix(&s[..digits], 8).unwrap_or(0);
    (char::from_u32(value).unwrap_or('\0'), digits)
}

/// `\p{Name}`, `\P{Name}` and Ruby's negated `\p{^Name}`.
fn property(s: &str) -> Result<(String, usize), String> {
    let upper = s.starts_with('P');
    let rest = &s[1..];
    if !rest.starts_with('{') {
        return Err(format!(r"\{} must be followed by {{name}}", &s[..1]));
    }
    let end = rest
        .find('}')
        .ok_or_else(|| r"unterminated \p{...}".to_owned())?;
    let mut name = &rest[1..end];
    let mut negated = upper;
    if let Some(n) = name.strip_prefix('^') {
        name = n;
        negated = !negated;
    }
    let letter = if negated { 'P' } else { 'p' };
    Ok((format!("\\{letter}{{{name}}}"), 1 + end + 1))
}

/// Ruby option letters (the `imx-imx` of `(?imx-imx)`) as fancy-regex
/// flags, and whether `x` (extended syntax) is turned on or off. Ruby's
/// `m` is "dot matches newline", fancy-regex's `s`; `x` is handled by the
/// caller; the character-set options `a`, `d` and `u` are dropped.
pub fn flags(spec: &str) -> Result<(String, Option<bool>), String> {
    let (mut on, mut off, mut negated, mut x) = (String::new(), String::new(), false, None);
    for f in spec.chars() {
        let set = if negated { &mut off } else { &mut on };
        match f {
            'i' => set.push('i'),
            'm' => set.push('s'),
            'x' => x = Some(!negated),
            'a' | 'd' | 'u' => {}
            '-' if !negated => negated = true,
            _ => return Err(format!("unknown group syntax `(?{spec}`")),
        }
    }
    if !off.is_empty() {
        on.push('-');
        on.push_str(&off);
    }
    Ok((on, x))
}

/// `c` as regex text matching exactly that character.
pub fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || !c.is_ascii() && !c.is_control() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> (Escape, usize) {
        escape(s).unwrap()
    }

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(esc("d+").0, Escape::Atom("[0-9]".into()));
        assert_eq!(esc("S").0, Escape::Atom(r"[^\t\n\x0B\x0C\r ]".into()));
        assert_eq!(esc("h").0, Escape::Atom("[0-9A-Fa-f]".into()));
    }

    #[test]
    fn ruby_specific_escapes() {
        assert_eq!(esc("<"), (Escape::Atom("<".into()), 1));
        assert_eq!(esc("Z"), (Escape::Assertion(r"(?=\n?\z)".into()), 1));
        assert_eq!(esc("k<foo>x"), (Escape::NamedBackref("foo".into()), 6));
        assert_eq!(esc("12x"), (Escape::NumberedBackref(12), 2));
        assert_eq!(esc("x4"), (Escape::Atom(r"\x{4}".into()), 2));
        assert_eq!(esc("p{^L}"), (Escape::Atom(r"\P{L}".into()), 5));
        assert_eq!(esc("y"), (Escape::Atom("y".into()), 1));
        assert!(escape("g<x>").is_err());
    }

    #[test]
    fn classes() {
        assert_eq!(
            class(r"[[[:alnum:]]_%-]x").unwrap(),
            (r"[[[\p{L}\p{M}\p{Nd}]]_%-]".into(), 16)
        );
        assert_eq!(class(r"[\d\W.]").unwrap().0, r"[0-9[^0-9A-Za-z_].]");
        assert_eq!(class(r"[+--]").unwrap().0, r"[+-\-]");
        assert_eq!(class(r"[]a]").unwrap().0, r"[\]a]");
        assert_eq!(class(r"[^[:^digit:]]").unwrap().0, r"[^[^\p{Nd}]]");
        assert!(class("[abc").is_err());
    }
}
