//! A template's README (Markdown) as HTML for the template page, rendered on the server with
//! `pulldown-cmark` (CommonMark plus tables, strikethrough and task lists).
//!
//! A README comes from a template folder or another user, so the output is made inert:
//! - raw HTML in the Markdown (blocks and inline tags) is shown as text, escaped — never
//!   passed through;
//! - links keep their target only for `http:`, `https:`, `mailto:` and relative URLs; any
//!   other scheme (`javascript:`, `data:`, `vbscript:`, ...) loses the link and keeps its text;
//! - images become links to the image (with their alt text), so viewing a README loads nothing
//!   from elsewhere.
//!
//! Text and attribute values are escaped by `pulldown-cmark`'s HTML writer. CPU-bound on big
//! inputs: call it off the async runtime, as the detail does (`spawn_blocking`).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// READMEs longer than this are shown escaped in a `<pre>`, not rendered.
pub const MAX_MARKDOWN_BYTES: usize = 256 * 1024;

/// `markdown` as safe HTML (see the module docs).
pub fn render(markdown: &str) -> String {
    if markdown.len() > MAX_MARKDOWN_BYTES {
        let mut out = String::from("<pre>");
        html::push_html(&mut out, std::iter::once(Event::Text(markdown.into())));
        out.push_str("</pre>");
        return out;
    }
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Links whose target was dropped: their end tag is dropped too (a stack, links can hold
    // images).
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        })
        | Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let safe = is_safe_url(&dest_url);
            dropped.push(!safe);
            safe.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
            let was_dropped = dropped.pop().unwrap_or(false);
            (!was_dropped).then_some(Event::End(TagEnd::Link))
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// Whether a link target may stay: `http`, `https`, `mailto`, or no scheme at all (relative,
/// `#fragment`, `/path`, `?query`). The check follows how browsers read a URL: tabs and
/// newlines inside it are ignored, leading spaces and control characters are trimmed, and the
/// scheme is what precedes the first `:` if that comes before any `/`, `?` or `#`.
fn is_safe_url(url: &CowStr<'_>) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let cleaned = cleaned.trim_start_matches(|c: char| c <= ' ');
    let end = cleaned.find(['/', '?', '#']).unwrap_or(cleaned.len());
    match cleaned[..end].find(':') {
        None => true,
        Some(colon) => {
            let scheme = &cleaned[..colon];
            ["http", "https", "mailto"]
                .iter()
                .any(|allowed| scheme.eq_ignore_ascii_case(allowed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        let html =
            render("# Nginx\n\nServes **static** files.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>Nginx</h1>"), "{html}");
        assert!(html.contains("<strong>static</strong>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        let links = render(
            "[docs](https://nginx.org/) [local](docs/setup.md) [mail](mailto:a@b.c) [top](#top)",
        );
        for href in [
            "https://nginx.org/",
            "docs/setup.md",
            "mailto:a@b.c",
            "#top",
        ] {
            assert!(
                links.contains(&format!("href=\"{href}\"")),
                "{href}: {links}"
            );
        }
    }

    #[test]
    fn raw_html_is_escaped_not_passed_through() {
        let html = render(
            "<script>alert(1)</script>\n\nText with <img src=x onerror=alert(2)> inline.\n\n<div onclick=\"x()\">block</div>\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn dangerous_link_targets_lose_the_link() {
        for md in [
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](java\tscript:alert(1))",
            "[click](&#106;avascript:alert(1))",
            "[click]( javascript:alert(1))",
            "<javascript:alert(1)>",
            "[click](data:text/html;base64,PHNjcmlwdD4=)",
            "[click](vbscript:msgbox)",
            "[click][ref]\n\n[ref]: javascript:alert(1)",
            "![click](javascript:alert(1))",
        ] {
            let html = render(md);
            assert!(!html.contains("href"), "{md:?} → {html}");
            assert!(!html.to_ascii_lowercase().contains("<a"), "{md:?} → {html}");
        }
        let text = render("[click](javascript:alert(1))");
        assert!(text.contains("click"), "the text stays: {text}");
    }

    #[test]
    fn images_become_links() {
        let html = render("![the logo](https://example.org/logo.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.org/logo.png\">the logo</a>"),
            "{html}"
        );
        let nested = render("[![x](javascript:a)](https://ok.example/)");
        assert!(nested.contains("href=\"https://ok.example/\""), "{nested}");
        assert!(!nested.contains("javascript"), "{nested}");
    }

    #[test]
    fn huge_readmes_are_escaped_text() {
        let md = format!("<b>{}</b>", "x".repeat(MAX_MARKDOWN_BYTES));
        let html = render(&md);
        assert!(html.starts_with("<pre>&lt;b&gt;"), "{}", &html[..40]);
    }
}
