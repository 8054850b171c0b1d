//! A small CSV reader (RFC 4180: quoted fields, doubled quotes, commas and
//! newlines inside quotes) for lookup tables.

use std::collections::HashMap;

/// Splits CSV text into records of fields.
pub fn records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c)
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                line += 1;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote at line {line}"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records.retain(|r| !(r.len() == 1 && r[0].is_empty()));
    Ok(records)
}

/// Reads a table with a header: key (the `key_column`, or the first) → the
/// row's other (column, value) pairs. The first row of a repeated key wins.
pub fn table(
    text: &str,
    key_column: Option<&str>,
) -> Result<HashMap<String, Vec<(String, String)>>, String> {
    let mut records = records(text)?.into_iter();
    let header = records
        .next()
        .ok_or("the file is empty; it needs a header row")?;
    let key_at = match key_column {
        None => 0,
        Some(name) => header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column `{name}`; the columns are {}", header.join(", ")))?,
    };
    let mut rows = HashMap::new();
    for (i, record) in records.enumerate() {
        if record.len() != header.len() {
            return Err(format!(
                "row {} has {} fields, the header has {}",
                i + 2,
                record.len(),
                header.len()
            ));
        }
        let key = record[key_at].clone();
        let others = header
            .iter()
            .zip(record)
            .enumerate()
            .filter(|(at, _)| *at != key_at)
            .map(|(_, (h, v))| (h.clone(), v))
            .collect();
        rows.entry(key).or_insert(others);
    }
    Ok(rows)
}
