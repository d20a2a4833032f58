//! Human output: aligned columns (`kiln ct list`) and `key: value` blocks (`kiln ct show`),
//! read leniently from the API's JSON so a field added or renamed later shows as `-` rather
//! than failing the command (`--json` prints the API's JSON as it is).

use serde_json::Value;

/// A cell's text: strings as they are, numbers and booleans printed, lists joined with `,`,
/// nothing as `-`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => s.replace(['\n', '\t'], " "),
        Some(Value::Array(items)) if items.is_empty() => "-".to_owned(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| cell(Some(item)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart; the last
/// column is not padded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, text) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(text.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, text) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(text);
            } else {
                let pad = widths[i].saturating_sub(text.chars().count()) + 2;
                out.push_str(text);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

/// `key: value` lines, the keys aligned.
pub fn pairs(items: &[(&str, String)]) -> String {
    let width = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    items
        .iter()
        .map(|(key, value)| format!("{:<width$} {value}", format!("{key}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["1".to_owned(), "web".to_owned(), "ready".to_owned()],
            vec!["12".to_owned(), "database-1".to_owned(), "-".to_owned()],
        ];
        assert_eq!(
            render(&["ID", "HOSTNAME", "STATUS"], &rows),
            "ID  HOSTNAME    STATUS\n1   web         ready\n12  database-1  -"
        );
        assert_eq!(
            pairs(&[("id", "1".into()), ("status", "ready".into())]),
            "id:     1\nstatus: ready"
        );
        assert_eq!(cell(Some(&json!([80, 443]))), "80,443");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!("a\nb"))), "a b");
    }
}
