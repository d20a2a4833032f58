//! The template catalog as the pages see it: summaries for the browser, the detail view,
//! the editor's whole-template validation, and shared package buckets.
//!
//! The folder model itself is in [`crate::templates`]; this module adds what the UI and the
//! server functions exchange about it. No I/O.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::templates::{
    CPU_RANGE, DISK_GIB_RANGE, Finding, Manager, Package, PackageBucket, RAM_MIB_RANGE, Script,
    Template, TemplateFile, validate_custom_field, validate_package_name, validate_resource,
    validate_slug, validate_target_dir,
};
use crate::validate::FieldErrors;

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Shipped with Kiln.
    Builtin,
    /// A folder under `KILN_TEMPLATE_DIRS`.
    Folder,
    /// Made in Kiln's editor; never touched by a sync.
    Custom,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Builtin => "builtin",
            Source::Folder => "folder",
            Source::Custom => "custom",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Source::Builtin, Source::Folder, Source::Custom]
            .into_iter()
            .find(|s| s.as_str() == word)
    }

    /// Folder-sourced templates are read-only in Kiln: editing saves a custom copy.
    pub fn is_custom(self) -> bool {
        self == Source::Custom
    }
}

/// One card of the template browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateSummary {
    pub slug: String,
    pub app: String,
    pub description: String,
    pub tags: Vec<String>,
    pub cpu: u32,
    pub ram_mib: u32,
    pub disk_gib: u32,
    pub os: String,
    pub os_version: String,
    pub source: Source,
    /// The folder disappeared at the last sync (the row is kept).
    pub missing: bool,
    pub error_count: u32,
    pub warning_count: u32,
    /// RFC 3339.
    pub updated_at: String,
}

/// How the browser orders its cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Name,
    /// Most recently changed first.
    Updated,
    /// Most errors, then warnings, first.
    Health,
    /// Largest memory first.
    Size,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Name, Sort::Updated, Sort::Health, Sort::Size];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Updated => "updated",
            Sort::Health => "health",
            Sort::Size => "size",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Name => "Name",
            Sort::Updated => "Recently changed",
            Sort::Health => "Problems first",
            Sort::Size => "Largest first",
        }
    }

    /// Unknown words fall back to the default, so an old link still opens.
    pub fn parse(word: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .unwrap_or_default()
    }
}

/// The browser's filter, as kept in the URL (`?q=&tag=&sort=`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Filter {
    pub q: String,
    pub tag: String,
    pub sort: Sort,
}

impl Filter {
    /// Whether `t` matches the search words (all of them, in name, slug, description or tags)
    /// and the tag.
    pub fn matches(&self, t: &TemplateSummary) -> bool {
        let tag_ok =
            self.tag.is_empty() || t.tags.iter().any(|x| x.eq_ignore_ascii_case(&self.tag));
        let haystack = format!(
            "{} {} {} {}",
            t.slug,
            t.app,
            t.description,
            t.tags.join(" ")
        )
        .to_lowercase();
        tag_ok
            && self
                .q
                .split_whitespace()
                .all(|word| haystack.contains(&word.to_lowercase()))
    }

    /// The matching templates, ordered.
    pub fn apply(&self, mut all: Vec<TemplateSummary>) -> Vec<TemplateSummary> {
        all.retain(|t| self.matches(t));
        match self.sort {
            Sort::Name => all.sort_by_key(|t| t.app.to_lowercase()),
            Sort::Updated => all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at)),
            Sort::Health => all.sort_by(|a, b| {
                (b.error_count, b.warning_count).cmp(&(a.error_count, a.warning_count))
            }),
            Sort::Size => all.sort_by_key(|t| std::cmp::Reverse(t.ram_mib)),
        }
        all
    }
}

/// What the last template sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// RFC 3339.
    pub finished_at: String,
    pub added: u32,
    pub updated: u32,
    pub missing: u32,
    pub unchanged: u32,
    /// One line per folder that could not be stored.
    pub problems: Vec<String>,
}

/// The browser's data: every template (the page filters), every tag, the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub templates: Vec<TemplateSummary>,
    pub last_sync: Option<SyncSummary>,
}

impl Catalog {
    /// Every tag in use, sorted, without duplicates.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .templates
            .iter()
            .flat_map(|t| t.tags.iter().cloned())
            .collect();
        tags.sort_by_key(|t| t.to_lowercase());
        tags.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        tags
    }
}

/// The template page: the model, its findings, and its scripts and files as highlighted HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateDetail {
    pub summary: TemplateSummary,
    pub template: Template,
    pub findings: Vec<Finding>,
    /// Per script (same order): HTML with `<span class="hl-…">` (text escaped by the server).
    pub scripts_html: Vec<String>,
    /// Per file (same order): highlighted HTML, `None` for a binary file.
    pub files_html: Vec<Option<String>>,
    /// The README rendered from Markdown by the server: raw HTML escaped, only
    /// http/https/mailto/relative links, images as links. `None` without a README.
    pub readme_html: Option<String>,
    /// How many containers were made from it (a delete is refused while any are).
    pub containers: u32,
    /// Whether the viewer may edit or delete it in place (a custom template of theirs, or any
    /// custom template for an administrator); others save a copy.
    #[serde(default)]
    pub can_change: bool,
}

/// Longest script or file text the editor accepts (bytes).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Most scripts, files or buckets per template.
pub const MAX_ITEMS: usize = 64;
/// Most tags per template.
pub const MAX_TAGS: usize = 32;
/// Most packages in one bucket (of a template, or one manager's list of a shared bucket).
pub const MAX_PACKAGES: usize = 1024;

/// A name of a script, bucket or file inside a template folder.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 128
        || name.contains(['/', '\\', '\0', '\n', '\r'])
        || name.starts_with('.')
        || name.starts_with("README")
    {
        return Err("use a plain file name (no `/`, not starting with `.` or README)".to_owned());
    }
    if name.ends_with(".path") || name.ends_with(".policy") {
        return Err("`.path` and `.policy` are reserved for the sidecar files".to_owned());
    }
    Ok(())
}

/// A script name: `NN-name.sh` (the digits order the scripts).
pub fn validate_script_name(name: &str) -> Result<(), String> {
    validate_file_name(name)?;
    if !name.ends_with(".sh") {
        return Err("a script name ends in `.sh`, e.g. `10-install.sh`".to_owned());
    }
    if !name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("start the name with digits that order it, e.g. `10-install.sh`".to_owned());
    }
    Ok(())
}

/// A value of `template.conf` that must stay on one line (name, description, OS...).
pub fn validate_one_line(what: &str, value: &str, required: bool) -> Result<(), String> {
    if required && value.trim().is_empty() {
        return Err(format!("enter the {what}"));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(format!("the {what} must be one line"));
    }
    if value.len() > 512 {
        return Err(format!("the {what} is too long (512 characters at most)"));
    }
    Ok(())
}

/// A tag: non-empty, no `;` (the separator), no surrounding spaces.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.trim() != tag || tag.contains([';', '\n', '\r']) || tag.len() > 64 {
        return Err(format!(
            "`{tag}` is not a tag (no `;`, 64 characters at most)"
        ));
    }
    Ok(())
}

/// Tags typed as `a; b; c` (or with commas).
pub fn parse_tags(text: &str) -> Vec<String> {
    text.split([';', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_text(errors: &mut FieldErrors, field: &str, text: &str) {
    if text.len() > MAX_TEXT_BYTES {
        errors.add(
            field,
            format!("too long ({} KiB at most)", MAX_TEXT_BYTES / 1024),
        );
    } else if text.contains('\0') {
        errors.add(field, "contains a NUL byte");
    }
}

/// Every rule the editor and the server apply to a whole template. Field names:
/// `slug`, `app`, `description`, `tags`, `cpu`, `ram_mib`, `disk_gib`, `os`, `os_version`,
/// `scripts.N.file_name|content`, `packages.N.name|packages`, `files.N.name|target_dir|content`;
/// a list longer than its cap ([`MAX_ITEMS`], [`MAX_TAGS`], [`MAX_PACKAGES`]) is one error on
/// the list (`scripts`, `packages`, `files`, `tags`, `packages.N.packages`) and its items are
/// not checked. Linear in the size of the template (duplicates are found with sets), pure.
pub fn validate_template(t: &Template) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.check("slug", validate_slug(&t.slug));
    errors.check("app", validate_one_line("display name", &t.app, true));
    errors.check(
        "description",
        validate_one_line("description", &t.description, false),
    );
    if t.tags.len() > MAX_TAGS {
        errors.add("tags", format!("at most {MAX_TAGS} tags"));
    } else {
        for tag in &t.tags {
            errors.check("tags", validate_tag(tag));
        }
    }
    errors.check("cpu", validate_resource("cores", t.cpu, CPU_RANGE));
    errors.check(
        "ram_mib",
        validate_resource("memory (MiB)", t.ram_mib, RAM_MIB_RANGE),
    );
    errors.check(
        "disk_gib",
        validate_resource("disk (GiB)", t.disk_gib, DISK_GIB_RANGE),
    );
    errors.check("os", validate_one_line("OS", &t.os, true));
    errors.check(
        "os_version",
        validate_one_line("OS version", &t.os_version, true),
    );
    let lists = [
        ("scripts", "scripts", t.scripts.len()),
        ("packages", "buckets", t.packages.len()),
        ("files", "files", t.files.len()),
    ];
    for (field, what, len) in lists {
        if len > MAX_ITEMS {
            errors.add(field, format!("at most {MAX_ITEMS} {what}"));
            errors.add(
                FieldErrors::FORM,
                format!("at most {MAX_ITEMS} scripts, files and buckets each"),
            );
        }
    }
    if t.scripts.len() <= MAX_ITEMS {
        check_scripts(&mut errors, &t.scripts);
    }
    if t.packages.len() <= MAX_ITEMS {
        check_buckets(&mut errors, &t.packages);
    }
    if t.files.len() <= MAX_ITEMS {
        check_files(&mut errors, &t.files);
    }
    errors
}

fn check_scripts(errors: &mut FieldErrors, scripts: &[Script]) {
    let mut seen = HashSet::new();
    for (i, script) in scripts.iter().enumerate() {
        let field = format!("scripts.{i}.file_name");
        errors.check(&field, validate_script_name(&script.file_name));
        if !seen.insert(script.file_name.as_str()) {
            errors.add(&field, "two scripts have this name");
        }
        check_text(errors, &format!("scripts.{i}.content"), &script.content);
    }
}

fn check_buckets(errors: &mut FieldErrors, buckets: &[PackageBucket]) {
    let mut seen = HashSet::new();
    for (i, bucket) in buckets.iter().enumerate() {
        let field = format!("packages.{i}.name");
        errors.check(&field, validate_file_name(&bucket.name));
        if !seen.insert((bucket.name.as_str(), bucket.manager)) {
            errors.add(&field, "this bucket is listed twice for the same manager");
        }
        let field = format!("packages.{i}.packages");
        if bucket.packages.len() > MAX_PACKAGES {
            errors.add(
                &field,
                format!("at most {MAX_PACKAGES} packages in a bucket"),
            );
            continue;
        }
        for package in &bucket.packages {
            errors.check(&field, validate_package(package));
        }
    }
}

fn check_files(errors: &mut FieldErrors, files: &[TemplateFile]) {
    let mut seen = HashSet::new();
    for (i, file) in files.iter().enumerate() {
        let field = format!("files.{i}.name");
        errors.check(&field, validate_file_name(&file.name));
        if !seen.insert(file.name.as_str()) {
            errors.add(&field, "two files have this name");
        }
        errors.check(
            &format!("files.{i}.target_dir"),
            validate_target_dir(&file.target_dir),
        );
        if let crate::templates::FileContent::Utf8(text) = &file.content {
            check_text(errors, &format!("files.{i}.content"), text);
        }
    }
}

/// A package as the folder format can write it.
pub fn validate_package(package: &Package) -> Result<(), String> {
    match package {
        Package::Plain(name) => validate_package_name(name),
        Package::Custom {
            name,
            check,
            install,
            ..
        } => {
            validate_custom_field("name", name)?;
            validate_custom_field("check command", check)?;
            validate_custom_field("install command", install)
        }
    }
}

/// One line of a package file: `Ok(None)` for a blank or comment line. Plain managers take
/// one package per line (a trailing ` # comment` is allowed); `custom` lines are
/// `name|check|install[|timeout_seconds]`.
pub fn parse_package_line(manager: Manager, line: &str) -> Result<Option<Package>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if manager != Manager::Custom {
        let name = line
            .split_once(" #")
            .or_else(|| line.split_once("\t#"))
            .map_or(line, |(name, _)| name)
            .trim_end();
        validate_package_name(name)?;
        return Ok(Some(Package::Plain(name.to_owned())));
    }
    // Like bash's `IFS='|' read -r name check install timeout`.
    let mut fields = line.splitn(4, '|');
    let (Some(name), Some(check), Some(install)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(
            "a custom line is `name|check_command|install_command[|timeout_seconds]`".to_owned(),
        );
    };
    for (what, value) in [
        ("name", name),
        ("check command", check),
        ("install command", install),
    ] {
        if value.trim().is_empty() {
            return Err(format!("the {what} is empty"));
        }
    }
    let timeout_secs = match fields.next() {
        None => None,
        Some(t) => Some(
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("timeout `{}` is not a whole number of seconds", t.trim()))?,
        ),
    };
    Ok(Some(Package::Custom {
        name: name.trim().to_owned(),
        check: check.trim().to_owned(),
        install: install.trim().to_owned(),
        timeout_secs,
    }))
}

/// A package file's text: the packages, and `(1-based line, message)` per bad line.
pub fn parse_package_text(manager: Manager, text: &str) -> (Vec<Package>, Vec<(u32, String)>) {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_package_line(manager, line) {
            Ok(Some(package)) => packages.push(package),
            Ok(None) => {}
            Err(message) => errors.push((line_number(index), message)),
        }
    }
    (packages, errors)
}

/// The line as a package file holds it.
pub fn format_package_line(package: &Package) -> String {
    match package {
        Package::Plain(name) => name.clone(),
        Package::Custom {
            name,
            check,
            install,
            timeout_secs,
        } => match timeout_secs {
            Some(t) => format!("{name}|{check}|{install}|{t}"),
            None => format!("{name}|{check}|{install}"),
        },
    }
}

/// Packages as the text of a package file (one per line).
pub fn format_package_text(packages: &[Package]) -> String {
    packages
        .iter()
        .map(format_package_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line number of a 0-based index.
pub fn line_number(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}

/// A shared package bucket: named lists of packages, one per manager, that templates copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Non-empty lists only, in [`Manager::ALL`] order.
    pub lists: Vec<PackageBucket>,
    /// Slugs of the templates holding a copy (a bucket of the same name).
    pub used_by: Vec<String>,
    /// Whether the viewer may edit or delete it (its owner, or an administrator).
    #[serde(default)]
    pub can_change: bool,
}

impl Bucket {
    /// The package count over all managers.
    pub fn package_count(&self) -> usize {
        self.lists.iter().map(|l| l.packages.len()).sum()
    }
}

/// The bucket form: name, description, and the text of each manager's list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketInput {
    pub name: String,
    pub description: String,
    /// `(manager, text)`: the lines of a package file for that manager.
    pub texts: Vec<(Manager, String)>,
}

impl BucketInput {
    /// Validates and parses the form. Field names: `name`, `description`, `apt`, `npm`, ...
    pub fn parse(&self) -> Result<(String, String, Vec<PackageBucket>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim().to_owned();
        errors.check("name", validate_bucket_name(&name));
        errors.check(
            "description",
            validate_one_line("description", &self.description, false),
        );
        let mut lists = Vec::new();
        for manager in Manager::ALL {
            let text: String = self
                .texts
                .iter()
                .filter(|(m, _)| *m == manager)
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            if text.len() > MAX_TEXT_BYTES {
                errors.add(manager.extension(), "too long");
                continue;
            }
            let (packages, bad) = parse_package_text(manager, &text);
            if let Some((line, message)) = bad.first() {
                errors.add(manager.extension(), format!("line {line}: {message}"));
            }
            if packages.len() > MAX_PACKAGES {
                errors.add(
                    manager.extension(),
                    format!("at most {MAX_PACKAGES} packages per manager"),
                );
            }
            if !packages.is_empty() {
                lists.push(PackageBucket {
                    name: name.clone(),
                    manager,
                    packages,
                });
            }
        }
        if lists.is_empty() && errors.is_empty() {
            errors.add(FieldErrors::FORM, "add at least one package");
        }
        errors.into_result()?;
        Ok((name, self.description.trim().to_owned(), lists))
    }
}

/// A bucket name: like a slug (it becomes `packages/<name>.<manager>`).
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    validate_slug(name).map_err(|_| {
        "use 1–63 lowercase letters, digits and hyphens (it names `packages/<name>.<manager>`)"
            .to_owned()
    })
}

/// A template as the editor (or an API client) sends it, tidied the way the folder format stores it: names trimmed, scripts
/// with their order key, configs inside the folder. Row positions are kept (errors name them).
pub fn normalize_template(mut t: Template) -> Template {
    t.slug = t.slug.trim().to_owned();
    t.app = t.app.trim().to_owned();
    t.description = t.description.trim().to_owned();
    t.config_path = None;
    for script in &mut t.scripts {
        script.file_name = script.file_name.trim().to_owned();
        script.order_key = script
            .file_name
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
    }
    for file in &mut t.files {
        file.name = file.name.trim().to_owned();
        file.target_dir = file.target_dir.trim().to_owned();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::{FileContent, Policy};

    fn summary(slug: &str, tags: &[&str], ram: u32, errors: u32) -> TemplateSummary {
        TemplateSummary {
            slug: slug.to_owned(),
            app: slug.to_uppercase(),
            description: format!("about {slug}"),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            cpu: 1,
            ram_mib: ram,
            disk_gib: 8,
            os: "debian".into(),
            os_version: "12".into(),
            source: Source::Builtin,
            missing: false,
            error_count: errors,
            warning_count: 0,
            updated_at: format!("2026-11-{:02}T00:00:00Z", ram / 100),
        }
    }

    #[test]
    fn filter_by_words_tag_and_sort() {
        let all = vec![
            summary("nginx-web", &["web", "proxy"], 512, 0),
            summary("postgresql", &["db"], 2048, 2),
            summary("docker-host", &["containers"], 1024, 0),
        ];
        let slugs = |f: &Filter| -> Vec<String> {
            f.apply(all.clone()).into_iter().map(|t| t.slug).collect()
        };
        let mut f = Filter::default();
        assert_eq!(slugs(&f), ["docker-host", "nginx-web", "postgresql"]);
        f.tag = "WEB".into();
        assert_eq!(slugs(&f), ["nginx-web"]);
        f.tag.clear();
        f.q = "about post".into();
        assert_eq!(slugs(&f), ["postgresql"]);
        f.q.clear();
        f.sort = Sort::Size;
        assert_eq!(slugs(&f), ["postgresql", "docker-host", "nginx-web"]);
        f.sort = Sort::Health;
        assert_eq!(slugs(&f)[0], "postgresql");
        assert_eq!(Sort::parse("nonsense"), Sort::Name);
        let catalog = Catalog {
            templates: all,
            last_sync: None,
        };
        assert_eq!(catalog.tags(), ["containers", "db", "proxy", "web"]);
    }

    #[test]
    fn whole_template_rules_name_their_fields() {
        let mut t = Template::new("Bad Slug");
        t.cpu = 0;
        t.app = "two\nlines".into();
        t.scripts = vec![
            Script {
                file_name: "install.sh".into(),
                order_key: String::new(),
                content: "echo".into(),
            },
            Script {
                file_name: "10-a.sh".into(),
                order_key: "10".into(),
                content: String::new(),
            },
            Script {
                file_name: "10-a.sh".into(),
                order_key: "10".into(),
                content: String::new(),
            },
        ];
        t.files = vec![TemplateFile {
            name: "app.conf".into(),
            target_dir: "/etc/../root".into(),
            policy: Policy::Replace,
            content: FileContent::Utf8("x".into()),
        }];
        let errors = validate_template(&t);
        for field in [
            "slug",
            "app",
            "cpu",
            "scripts.0.file_name",
            "scripts.2.file_name",
            "files.0.target_dir",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(errors.get("scripts.1.file_name").is_none());
        assert!(validate_template(&Template::new("ok")).is_empty());
    }

    fn script(name: String) -> Script {
        Script {
            order_key: String::new(),
            file_name: name,
            content: String::new(),
        }
    }

    #[test]
    fn too_many_items_are_one_error_on_the_list_quickly() {
        let mut t = Template::new("many");
        t.scripts = (0..80_000).map(|i| script(format!("{i}-s.sh"))).collect();
        t.tags = (0..100).map(|i| format!("t{i}")).collect();
        t.packages = vec![PackageBucket {
            name: "base".into(),
            manager: Manager::Apt,
            packages: (0..5_000)
                .map(|i| Package::Plain(format!("p{i}")))
                .collect(),
        }];
        let started = std::time::Instant::now();
        let errors = validate_template(&t);
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_millis(100),
            "{elapsed:?}"
        );
        assert_eq!(errors.get("scripts"), Some("at most 64 scripts"));
        assert_eq!(errors.get("tags"), Some("at most 32 tags"));
        assert!(errors.get("packages.0.packages").is_some());
        assert!(errors.get(FieldErrors::FORM).is_some());
        assert_eq!(errors.iter().count(), 4, "{errors:?}");
    }

    #[test]
    fn lists_at_their_caps_are_valid_and_duplicates_still_found() {
        let mut t = Template::new("full");
        t.scripts = (0..MAX_ITEMS)
            .map(|i| script(format!("{i:02}-s.sh")))
            .collect();
        t.tags = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(validate_template(&t).is_empty());
        t.scripts[MAX_ITEMS - 1].file_name = "00-s.sh".into();
        let errors = validate_template(&t);
        let last = format!("scripts.{}.file_name", MAX_ITEMS - 1);
        assert_eq!(errors.get(&last), Some("two scripts have this name"));
        assert!(errors.get("scripts.0.file_name").is_none());
    }

    #[test]
    fn package_lines_round_trip() {
        let text = "# base\ncurl  # for health checks\n\nnodejs=24.*";
        let (packages, bad) = parse_package_text(Manager::Apt, text);
        assert!(bad.is_empty());
        assert_eq!(format_package_text(&packages), "curl\nnodejs=24.*");
        let (custom, bad) = parse_package_text(
            Manager::Custom,
            "bun|command -v bun|npm i -g bun|120\nbroken",
        );
        assert_eq!(
            bad,
            vec![(
                2,
                "a custom line is `name|check_command|install_command[|timeout_seconds]`"
                    .to_owned()
            )]
        );
        assert_eq!(
            format_package_text(&custom),
            "bun|command -v bun|npm i -g bun|120"
        );
    }

    #[test]
    fn bucket_form() {
        let input = BucketInput {
            name: "base".into(),
            description: "tools".into(),
            texts: vec![
                (Manager::Apt, "curl\nca-certificates".into()),
                (Manager::Npm, String::new()),
            ],
        };
        let (name, _, lists) = input
            .parse()
            .map_err(|e| format!("{e:?}"))
            .unwrap_or_default();
        assert_eq!(name, "base");
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].manager, Manager::Apt);
        let bad = BucketInput {
            name: "Base!".into(),
            description: String::new(),
            texts: vec![(Manager::Apt, "two words".into())],
        };
        let errors = bad.parse().err().unwrap_or_default();
        assert!(errors.get("name").is_some());
        assert!(errors.get("apt").is_some_and(|m| m.starts_with("line 1:")));
    }
}
