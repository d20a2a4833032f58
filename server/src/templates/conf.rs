//! One line of `template.conf`: bash-style `KEY=VALUE`, parsed without running anything.
//!
//! Supported: `#` comments (whole line, or after whitespace outside quotes), `export KEY=...`,
//! double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes), single quotes, concatenated
//! segments, and `${VAR:-default}` meaning `default`. Anything else with a `$` stays literal.

/// `Ok(None)` for a blank or comment line, `Ok(Some((key, value)))` for an assignment,
/// `Err(message)` for a line that is neither.
pub fn parse_line(line: &str) -> Result<Option<(String, String)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(line, str::trim_start);
    let Some((key, rest)) = line.split_once('=') else {
        return Err("not a KEY=VALUE assignment".to_owned());
    };
    if !is_identifier(key) {
        return Err(format!("`{key}` is not a variable name"));
    }
    let value = parse_value(rest)?;
    Ok(Some((key.to_owned(), value)))
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value after `=`, up to the first unquoted whitespace; after that only a comment.
fn parse_value(input: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    return Ok(out);
                }
                return Err(format!(
                    "unexpected `{rest}` after the value (quote values with spaces)"
                ));
            }
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("unterminated single quote".to_owned()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated double quote".to_owned()),
                    },
                    Some('$') => expand(&mut chars, &mut out)?,
                    Some(c) => out.push(c),
                    None => return Err("unterminated double quote".to_owned()),
                }
            },
            '\\' => match chars.next() {
                Some(c) => out.push(c),
                None => {
                    return Err("a trailing `\\` (multi-line values are not supported)".to_owned());
                }
            },
            '$' => expand(&mut chars, &mut out)?,
            c => out.push(c),
        }
    }
    Ok(out)
}

/// After a `$`: `${NAME:-default}` becomes `default`; anything else is kept literally.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    if chars.peek() != Some(&'{') {
        out.push('$');
        return Ok(());
    }
    chars.next();
    let mut inner = String::new();
    let mut depth = 0usize;
    loop {
        match chars.next() {
            Some('}') if depth == 0 => break,
            Some(c) => {
                if c == '{' {
                    depth += 1;
                } else if c == '}' {
                    depth -= 1;
                }
                inner.push(c);
            }
            None => return Err("unterminated `${`".to_owned()),
        }
    }
    match inner.split_once(":-") {
        Some((name, default)) if is_identifier(name) => out.push_str(&unquote(default)),
        _ => {
            out.push_str("${");
            out.push_str(&inner);
            out.push('}');
        }
    }
    Ok(())
}

/// A default written in quotes inside `${VAR:-"..."}` loses them.
fn unquote(s: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

/// `KEY="value"` with the characters special inside double quotes escaped.
pub fn format_line(key: &str, value: &str) -> String {
    let mut out = format!("{key}=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
