//! Syntax highlighting of scripts and files for the template page, on the server: HTML whose
//! spans carry CSS classes (`<span class="hl-comment hl-line hl-number-sign hl-shell">`),
//! so the stylesheet decides the colours and the browser needs no highlighter.
//!
//! Uses syntect's default syntax set (Sublime Text grammars) with the pure-Rust regex engine.
//! The text is always HTML-escaped; a text syntect cannot handle, or one longer than
//! [`MAX_HIGHLIGHT_BYTES`], comes back escaped without spans. CPU-bound: call it off the
//! async runtime (`spawn_blocking`).

use std::fmt::Write as _;
use std::sync::LazyLock;

use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Texts longer than this are shown escaped but not highlighted (the grammars are
/// backtracking regexes; a huge generated file is not worth the CPU).
pub const MAX_HIGHLIGHT_BYTES: usize = 64 * 1024;

/// The CSS class prefix of every span.
const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Loaded once, on first use (~tens of milliseconds).
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// A setup script (bash).
pub fn script(text: &str) -> String {
    let syntax = SYNTAXES
        .find_syntax_by_extension("sh")
        .unwrap_or_else(|| SYNTAXES.find_syntax_plain_text());
    highlight(syntax, text)
}

/// A file, by the extension of its name, else by its first line (`#!/bin/sh`), else as
/// plain text.
pub fn file(name: &str, text: &str) -> String {
    let by_extension = name
        .rsplit_once('.')
        .and_then(|(_, ext)| SYNTAXES.find_syntax_by_extension(ext));
    let syntax = by_extension
        .or_else(|| SYNTAXES.find_syntax_by_extension(name))
        .or_else(|| {
            text.lines()
                .next()
                .and_then(|line| SYNTAXES.find_syntax_by_first_line(line))
        })
        .unwrap_or_else(|| SYNTAXES.find_syntax_plain_text());
    highlight(syntax, text)
}

fn highlight(syntax: &SyntaxReference, text: &str) -> String {
    if text.len() > MAX_HIGHLIGHT_BYTES {
        return escape(text);
    }
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, STYLE);
    for line in LinesWithEndings::from(text) {
        if let Err(e) = generator.parse_html_for_line_which_includes_newline(line) {
            tracing::warn!(error = %e, syntax = %syntax.name, "highlighting failed; shown plain");
            return escape(text);
        }
    }
    generator.finalize()
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => {
                let _ = out.write_char(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of `html` with the tags removed and entities decoded.
    fn text_of(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    const SCRIPT: &str = "#!/usr/bin/env bash\n# install <nginx> & friends\nset -euo pipefail\nPORT=8080\n(( n = PORT + 1 ))\nname=\"web $PORT\"\nsetup() {\n  if [ -n \"${name}\" ]; then\n    echo 'ok' > /tmp/x\n  fi\n}\nsetup\n";

    #[test]
    fn a_script_gets_classes_and_stays_escaped() {
        let html = script(SCRIPT);
        assert_eq!(text_of(&html), SCRIPT, "the text survives unchanged");
        assert!(!html.contains("<nginx>"), "escaped: {html}");
        for class in [
            "hl-comment",
            "hl-keyword",
            "hl-string",
            "hl-variable",
            "hl-constant hl-numeric",
            "hl-entity hl-name hl-function",
            "hl-support hl-function",
        ] {
            assert!(html.contains(class), "{class} in {html}");
        }
    }

    #[test]
    fn files_by_extension_first_line_or_plain() {
        let json = file("app.json", "{\"a\": 1}\n");
        assert!(json.contains("hl-json"), "{json}");
        let shebang = file("run", "#!/bin/bash\necho hi\n");
        assert!(shebang.contains("hl-shell"), "{shebang}");
        let plain = file("motd", "Welcome <b>\n");
        assert!(plain.contains("hl-text"), "{plain}");
        assert_eq!(text_of(&plain), "Welcome <b>\n");
    }

    #[test]
    fn long_texts_are_escaped_only() {
        let long = "<&>".repeat(MAX_HIGHLIGHT_BYTES);
        let html = script(&long);
        assert!(!html.contains("<span"));
        assert_eq!(text_of(&html), long);
    }
}
