//! Turns scanned pairs into fields: trimming, key filters, names and
//! conversions.

use sluice_sdk::Value;

use crate::scan::Splitter;

/// What a `convert` entry turns a value into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Int,
    Float,
    Bool,
}

impl Conversion {
    pub fn parse(name: &str) -> Option<Conversion> {
        match name {
            "int" | "integer" => Some(Conversion::Int),
            "float" => Some(Conversion::Float),
            "bool" | "boolean" => Some(Conversion::Bool),
            _ => None,
        }
    }

    /// The converted value, or `None` when `text` is not one.
    pub fn apply(self, text: &str) -> Option<Value> {
        let t = text.trim();
        match self {
            Conversion::Int => t.parse::<i64>().ok().map(Value::Int),
            Conversion::Float => t
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Float),
            // Logstash mutate's spellings.
            Conversion::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "on" => Some(Value::Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
        }
    }
}

/// Everything between the scanned text and the fields written.
#[derive(Debug, Clone)]
pub struct Extractor {
    pub splitter: Splitter,
    /// Characters removed from both ends of each key / value.
    pub trim_key: Vec<char>,
    pub trim_value: Vec<char>,
    /// Keys kept (all when empty) and dropped, compared after `trim_key`.
    pub include_keys: Vec<String>,
    pub exclude_keys: Vec<String>,
    /// Put before each key.
    pub prefix: String,
    /// Put before each name, with a dot: `target.prefixkey`.
    pub target: String,
    /// Keyed by the key as written (after `trim_key`).
    pub convert: Vec<(String, Conversion)>,
}

/// A field to write, and whether a `convert` entry failed on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub name: String,
    pub value: Value,
    pub convert_failed: bool,
}

impl Extractor {
    pub fn extract(&self, text: &str) -> Vec<Extracted> {
        let mut out = Vec::new();
        for (key, value) in self.splitter.pairs(text) {
            let key = key.trim_matches(self.trim_key.as_slice());
            if key.is_empty()
                || (!self.include_keys.is_empty() && !self.include_keys.iter().any(|k| k == key))
                || self.exclude_keys.iter().any(|k| k == key)
            {
                continue;
            }
            let value = value.trim_matches(self.trim_value.as_slice());
            let conversion = self.convert.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
            let converted = conversion.and_then(|c| c.apply(value));
            let convert_failed = conversion.is_some() && converted.is_none();
            let value = converted.unwrap_or_else(|| Value::from(value));
            out.push(Extracted {
                name: self.name(key),
                value,
                convert_failed,
            });
        }
        out
    }

    fn name(&self, key: &str) -> String {
        if self.target.is_empty() {
            format!("{}{key}", self.prefix)
        } else {
            format!("{}.{}{key}", self.target, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::FieldSplit;

    fn extractor() -> Extractor {
        Extractor {
            splitter: Splitter {
                field_split: FieldSplit::Whitespace,
                value_split: vec!['='],
                lenient: false,
            },
            trim_key: vec![],
            trim_value: vec![],
            include_keys: vec![],
            exclude_keys: vec![],
            prefix: String::new(),
            target: String::new(),
            convert: vec![],
        }
    }

    fn fields(x: &Extractor, text: &str) -> Vec<(String, Value)> {
        x.extract(text)
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect()
    }

    #[test]
    fn conversions() {
        assert_eq!(Conversion::Int.apply("-42"), Some(Value::Int(-42)));
        assert_eq!(Conversion::Int.apply("0x1"), None);
        assert_eq!(Conversion::Int.apply(""), None);
        assert_eq!(Conversion::Float.apply("0.25"), Some(Value::Float(0.25)));
        assert_eq!(Conversion::Float.apply("NaN"), None);
        assert_eq!(Conversion::Bool.apply("TRUE"), Some(Value::Bool(true)));
        assert_eq!(Conversion::Bool.apply("no"), Some(Value::Bool(false)));
        assert_eq!(Conversion::Bool.apply("maybe"), None);
        assert_eq!(Conversion::parse("integer"), Some(Conversion::Int));
        assert_eq!(Conversion::parse("string"), None);
    }

    #[test]
    fn trims_filters_and_names() {
        let mut x = extractor();
        x.trim_key = vec!['<', '>'];
        x.trim_value = vec![';', ',', '"'];
        x.exclude_keys = vec!["uid".into()];
        x.prefix = "pam_".into();
        x.target = "auth".into();
        x.convert = vec![("euid".into(), Conversion::Int)];
        assert_eq!(
            fields(&x, "<user>=root; uid=0 euid=0, name=a\""),
            [
                ("auth.pam_user".to_owned(), Value::from("root")),
                ("auth.pam_euid".to_owned(), Value::Int(0)),
                ("auth.pam_name".to_owned(), Value::from("a")),
            ]
        );
        x.include_keys = vec!["user".into(), "uid".into()];
        assert_eq!(
            fields(&x, "user=root uid=0 euid=0"),
            [("auth.pam_user".to_owned(), Value::from("root"))],
            "exclude wins over include"
        );
    }

    #[test]
    fn a_failed_conversion_keeps_the_text_and_says_so() {
        let mut x = extractor();
        x.convert = vec![("port".into(), Conversion::Int)];
        let out = x.extract("port=ssh2 dotted.key=1");
        assert_eq!(out[0].value, Value::from("ssh2"));
        assert!(out[0].convert_failed);
        assert_eq!(out[1].name, "dotted.key");
        assert!(!out[1].convert_failed);
    }
}
