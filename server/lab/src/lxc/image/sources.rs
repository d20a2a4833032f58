//! Which Debian archive the host's apt uses: the image is bootstrapped from it, and its own
//! `sources.list` (and the lab's package proxy) point there too.

use std::path::PathBuf;

use super::SUITE;

/// The Debian archive URL the host's apt uses (deb822 `/etc/apt/sources.list.d/*.sources` and
/// one-line `sources.list` formats; the first `deb` entry whose suites include the host's
/// codename or 'bookworm' and whose URI path ends in /debian), e.g.
/// `"http://deb.debian.org/debian"`.
pub fn debian_archive() -> anyhow::Result<String> {
    let codename = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| os_codename(&text))
        .unwrap_or_else(|| SUITE.to_owned());
    // apt's own order: sources.list, then sources.list.d/ by name.
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for path in &files {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("sources") => SourcesFormat::Deb822,
            Some("list") => SourcesFormat::OneLine,
            _ => continue,
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Some(url) = archive_in(format, &text, &codename) {
            return Ok(url);
        }
    }
    anyhow::bail!(
        "no Debian archive in the host's apt sources (a `deb` entry for {codename} or {SUITE} \
         whose URI ends in /debian, in /etc/apt/sources.list or /etc/apt/sources.list.d/)"
    )
}

/// The two formats of apt's source lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourcesFormat {
    /// `*.sources`: deb822 stanzas (`Types:`, `URIs:`, `Suites:`, ...).
    Deb822,
    /// `sources.list` and `*.list`: `deb [options] URI SUITE COMPONENT...`.
    OneLine,
}

/// The `VERSION_CODENAME` of an `/etc/os-release` text.
fn os_codename(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|v| !v.is_empty())
}

/// The first Debian archive in one source list (see [`debian_archive`]).
fn archive_in(format: SourcesFormat, text: &str, codename: &str) -> Option<String> {
    let suite_fits = |suite: &str| suite == codename || suite == SUITE;
    match format {
        SourcesFormat::OneLine => text.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let rest = line.trim_start().strip_prefix("deb")?;
            if !rest.starts_with([' ', '\t']) {
                return None; // deb-src
            }
            let mut rest = rest.trim_start();
            if let Some(options) = rest.strip_prefix('[') {
                rest = &options[options.find(']')? + 1..];
            }
            let mut words = rest.split_whitespace();
            let (uri, suite) = (words.next()?, words.next()?);
            if suite_fits(suite) {
                debian_uri(uri)
            } else {
                None
            }
        }),
        SourcesFormat::Deb822 => deb822_stanzas(text).into_iter().find_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.as_str())
            };
            let enabled = !field("Enabled").is_some_and(|v| v.trim().eq_ignore_ascii_case("no"));
            let is_deb = field("Types")?.split_whitespace().any(|t| t == "deb");
            let fits = field("Suites")?.split_whitespace().any(suite_fits);
            if !(enabled && is_deb && fits) {
                return None;
            }
            field("URIs")?.split_whitespace().find_map(debian_uri)
        }),
    }
}

/// The fields of each deb822 stanza (comments skipped, continuation lines joined).
fn deb822_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

/// `uri` without a trailing slash if it is an http(s) URL whose path ends in `/debian`.
fn debian_uri(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let trimmed = rest.trim_end_matches('/');
    let (_host, path) = trimmed.split_once('/')?;
    (path == "debian" || path.ends_with("/debian")).then(|| uri.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    const HOST_SOURCES: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn deb822_sources() {
        let deb822 = SourcesFormat::Deb822;
        assert_eq!(
            archive_in(deb822, HOST_SOURCES, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        // Only the security stanza fits: its URI is not a /debian archive.
        let security_only = HOST_SOURCES.replace("bookworm bookworm-updates", "sid");
        assert_eq!(archive_in(deb822, &security_only, "bookworm"), None);
        // The host's codename (trixie) counts as well as bookworm; several URIs, a disabled
        // stanza, deb-src only, a multi-line Signed-By, a trailing slash.
        let text = "\
Types: deb-src
URIs: http://src.example/debian
Suites: trixie

Types: deb
URIs: http://off.example/debian
Suites: trixie
Enabled: no

types: deb deb-src
uris: http://snapshot.example/archive/debian/2025 https://mirror.example/pub/debian/
suites: trixie-updates trixie
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xyz: not a field
 -----END PGP PUBLIC KEY BLOCK-----
";
        assert_eq!(
            archive_in(deb822, text, "trixie").as_deref(),
            Some("https://mirror.example/pub/debian")
        );
        assert_eq!(archive_in(deb822, text, "bullseye"), None);
    }

    #[test]
    fn one_line_sources() {
        let one_line = SourcesFormat::OneLine;
        let text = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://ftp.example/debian/ bookworm main contrib # a comment
deb http://deb.debian.org/debian bookworm main
";
        assert_eq!(
            archive_in(one_line, text, "bookworm").as_deref(),
            Some("http://ftp.example/debian")
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb http://x.example/debian sid main\n",
                "bookworm"
            ),
            None
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb [broken http://x.example/debian bookworm\n",
                "bookworm"
            ),
            None
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb\thttp://x.example/debian\tbookworm main",
                "trixie"
            )
            .as_deref(),
            Some("http://x.example/debian")
        );
        assert_eq!(
            archive_in(one_line, "deb ftp://x.example/debian bookworm", "x"),
            None
        );
        assert_eq!(
            archive_in(one_line, "deb http://debian bookworm", "x"),
            None
        );
    }

    #[test]
    fn codename_from_os_release() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n";
        assert_eq!(os_codename(text).as_deref(), Some("bookworm"));
        assert_eq!(
            os_codename("VERSION_CODENAME=\"trixie\""),
            Some("trixie".to_owned())
        );
        assert_eq!(os_codename("ID=debian\n"), None);
    }
}
