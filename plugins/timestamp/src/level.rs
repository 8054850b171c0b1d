//! Level normalization: `warning`, `E`, `notice`, `crit`... become
//! TRACE/DEBUG/INFO/WARN/ERROR/FATAL.

use sluice_sdk::{Fields, Level, Value};

/// Keeps the original spelling when normalizing changed it.
pub const RAW_FIELD: &str = "level_raw";

/// Normalizes the string in `field`, if there is one and it names a level.
/// The original goes to [`RAW_FIELD`] when the spelling changed; anything
/// else is left alone.
pub fn normalize(fields: &mut Fields, field: &str) {
    let Some(Value::String(raw)) = fields.get(field) else {
        return;
    };
    let Some(level) = Level::parse(raw) else {
        return;
    };
    if raw != level.as_str() {
        let raw = raw.clone();
        fields.insert(field, level.as_str());
        fields.insert(RAW_FIELD, raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(value: Value) -> Fields {
        let mut f = Fields::new();
        f.insert("level", value);
        normalize(&mut f, "level");
        f
    }

    #[test]
    fn spellings() {
        let f = run(Value::from("warning"));
        assert_eq!(f.get("level"), Some(&Value::from("WARN")));
        assert_eq!(f.get(RAW_FIELD), Some(&Value::from("warning")));
        // HDFS/Spark `INFO`: already normal, nothing added.
        let f = run(Value::from("INFO"));
        assert_eq!(f.get(RAW_FIELD), None);
        // Android `D`, Windows `Info`, Apache `notice`.
        assert_eq!(
            run(Value::from("D")).get("level"),
            Some(&Value::from("DEBUG"))
        );
        assert_eq!(
            run(Value::from("Info")).get(RAW_FIELD),
            Some(&Value::from("Info"))
        );
        assert_eq!(
            run(Value::from("notice")).get("level"),
            Some(&Value::from("INFO"))
        );
        // Unknown spellings and non-strings are left alone.
        let f = run(Value::from("combo"));
        assert_eq!(f.get("level"), Some(&Value::from("combo")));
        assert_eq!(f.get(RAW_FIELD), None);
        assert_eq!(run(Value::Int(3)).get("level"), Some(&Value::Int(3)));
        let mut empty = Fields::new();
        normalize(&mut empty, "level");
        assert!(empty.is_empty());
    }
}
