//! The editor's state: one signal per field and a row per script, package bucket and file;
//! turned back into a [`Template`] (with the errors only the form can see) on save.

use kiln_shared::FieldErrors;
use kiln_shared::catalog::{format_package_text, parse_package_text, parse_tags};
use kiln_shared::templates::{
    FileContent, Manager, PackageBucket, Policy, Script, Template, TemplateFile,
};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub(super) struct ScriptRow {
    pub(super) key: usize,
    pub(super) name: RwSignal<String>,
    pub(super) content: RwSignal<String>,
}

#[derive(Clone, Copy)]
pub(super) struct BucketRow {
    pub(super) key: usize,
    pub(super) name: RwSignal<String>,
    pub(super) manager: RwSignal<Manager>,
    pub(super) text: RwSignal<String>,
}

#[derive(Clone, Copy)]
pub(super) struct FileRow {
    pub(super) key: usize,
    pub(super) name: RwSignal<String>,
    pub(super) target_dir: RwSignal<String>,
    pub(super) policy: RwSignal<Policy>,
    pub(super) content: RwSignal<String>,
    /// Base64 content of a binary file, kept as it was (not editable here).
    pub(super) binary: StoredValue<Option<String>>,
}

/// The form's state: one signal per field, rows for the lists.
#[derive(Clone, Copy)]
pub(super) struct Form {
    pub(super) slug: RwSignal<String>,
    pub(super) app: RwSignal<String>,
    pub(super) description: RwSignal<String>,
    pub(super) tags: RwSignal<String>,
    pub(super) cpu: RwSignal<String>,
    pub(super) ram_mib: RwSignal<String>,
    pub(super) disk_gib: RwSignal<String>,
    pub(super) os: RwSignal<String>,
    pub(super) os_version: RwSignal<String>,
    pub(super) unprivileged: RwSignal<bool>,
    pub(super) nesting: RwSignal<bool>,
    pub(super) keyctl: RwSignal<bool>,
    pub(super) fuse: RwSignal<bool>,
    pub(super) scripts: RwSignal<Vec<ScriptRow>>,
    pub(super) buckets: RwSignal<Vec<BucketRow>>,
    pub(super) files: RwSignal<Vec<FileRow>>,
    /// What the form does not edit, carried over unchanged.
    pub(super) kept: StoredValue<Template>,
    pub(super) next_key: StoredValue<usize>,
}

impl Form {
    pub(super) fn new(t: Template) -> Self {
        let form = Form {
            slug: RwSignal::new(t.slug.clone()),
            app: RwSignal::new(t.app.clone()),
            description: RwSignal::new(t.description.clone()),
            tags: RwSignal::new(t.tags.join("; ")),
            cpu: RwSignal::new(t.cpu.to_string()),
            ram_mib: RwSignal::new(t.ram_mib.to_string()),
            disk_gib: RwSignal::new(t.disk_gib.to_string()),
            os: RwSignal::new(t.os.clone()),
            os_version: RwSignal::new(t.os_version.clone()),
            unprivileged: RwSignal::new(t.unprivileged),
            nesting: RwSignal::new(t.nesting),
            keyctl: RwSignal::new(t.keyctl),
            fuse: RwSignal::new(t.fuse),
            scripts: RwSignal::new(Vec::new()),
            buckets: RwSignal::new(Vec::new()),
            files: RwSignal::new(Vec::new()),
            kept: StoredValue::new(t.clone()),
            next_key: StoredValue::new(0),
        };
        for s in &t.scripts {
            form.add_script(&s.file_name, &s.content);
        }
        for b in &t.packages {
            form.add_bucket(&b.name, b.manager, &format_package_text(&b.packages));
        }
        for f in &t.files {
            let row = form.add_file();
            row.name.set(f.name.clone());
            row.target_dir.set(f.target_dir.clone());
            row.policy.set(f.policy);
            match &f.content {
                FileContent::Utf8(text) => row.content.set(text.clone()),
                FileContent::Base64(data) => row.binary.set_value(Some(data.clone())),
            }
        }
        form
    }

    fn key(&self) -> usize {
        self.next_key.update_value(|k| *k += 1);
        self.next_key.get_value()
    }

    pub(super) fn add_script(&self, name: &str, content: &str) {
        let row = ScriptRow {
            key: self.key(),
            name: RwSignal::new(name.to_owned()),
            content: RwSignal::new(content.to_owned()),
        };
        self.scripts.update(|rows| rows.push(row));
    }

    pub(super) fn add_bucket(&self, name: &str, manager: Manager, text: &str) {
        let existing = self.buckets.with_untracked(|rows| {
            rows.iter()
                .find(|r| r.name.get_untracked() == name && r.manager.get_untracked() == manager)
                .copied()
        });
        if let Some(row) = existing {
            row.text.set(text.to_owned());
            return;
        }
        let row = BucketRow {
            key: self.key(),
            name: RwSignal::new(name.to_owned()),
            manager: RwSignal::new(manager),
            text: RwSignal::new(text.to_owned()),
        };
        self.buckets.update(|rows| rows.push(row));
    }

    pub(super) fn add_file(&self) -> FileRow {
        let row = FileRow {
            key: self.key(),
            name: RwSignal::new(String::new()),
            target_dir: RwSignal::new(String::new()),
            policy: RwSignal::new(Policy::Default),
            content: RwSignal::new(String::new()),
            binary: StoredValue::new(None),
        };
        self.files.update(|rows| rows.push(row));
        row
    }

    /// Swaps script `i` with its neighbour and renumbers all scripts `10-`, `20-`, ... so the
    /// names (which order the run) follow the list.
    pub(super) fn move_script(&self, i: usize, up: bool) {
        self.scripts.update(|rows| {
            let j = if up { i.checked_sub(1) } else { Some(i + 1) };
            if let Some(j) = j.filter(|j| *j < rows.len()) {
                rows.swap(i, j);
            }
            for (n, row) in rows.iter().enumerate() {
                let name = row.name.get_untracked();
                let rest = name.trim_start_matches(|c: char| c.is_ascii_digit());
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                row.name.set(format!("{:02}-{rest}", (n + 1) * 10));
            }
        });
    }

    /// The template the form describes, with the errors only the form can see (numbers that
    /// are not numbers, bad package lines).
    pub(super) fn to_template(self) -> (Template, FieldErrors) {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, value: String| -> u32 {
            value.trim().parse::<u32>().unwrap_or_else(|_| {
                errors.add(field, "enter a whole number");
                0
            })
        };
        let cpu = number("cpu", self.cpu.get_untracked());
        let ram_mib = number("ram_mib", self.ram_mib.get_untracked());
        let disk_gib = number("disk_gib", self.disk_gib.get_untracked());
        let mut packages = Vec::new();
        for (i, row) in self.buckets.get_untracked().iter().enumerate() {
            let manager = row.manager.get_untracked();
            let (list, bad) = parse_package_text(manager, &row.text.get_untracked());
            if let Some((line, message)) = bad.first() {
                errors.add(
                    &format!("packages.{i}.packages"),
                    format!("line {line}: {message}"),
                );
            }
            packages.push(PackageBucket {
                name: row.name.get_untracked().trim().to_owned(),
                manager,
                packages: list,
            });
        }
        let t = Template {
            slug: self.slug.get_untracked().trim().to_owned(),
            app: self.app.get_untracked().trim().to_owned(),
            description: self.description.get_untracked().trim().to_owned(),
            tags: parse_tags(&self.tags.get_untracked()),
            cpu,
            ram_mib,
            disk_gib,
            os: self.os.get_untracked().trim().to_owned(),
            os_version: self.os_version.get_untracked().trim().to_owned(),
            unprivileged: self.unprivileged.get_untracked(),
            nesting: self.nesting.get_untracked(),
            keyctl: self.keyctl.get_untracked(),
            fuse: self.fuse.get_untracked(),
            scripts: self
                .scripts
                .get_untracked()
                .iter()
                .map(|r| Script {
                    file_name: r.name.get_untracked().trim().to_owned(),
                    order_key: String::new(),
                    content: r.content.get_untracked(),
                })
                .collect(),
            packages,
            files: self
                .files
                .get_untracked()
                .iter()
                .map(|r| TemplateFile {
                    name: r.name.get_untracked().trim().to_owned(),
                    target_dir: r.target_dir.get_untracked().trim().to_owned(),
                    policy: r.policy.get_untracked(),
                    content: match r.binary.get_value() {
                        Some(data) => FileContent::Base64(data),
                        None => FileContent::Utf8(r.content.get_untracked()),
                    },
                })
                .collect(),
            ..self.kept.get_value()
        };
        (t, errors)
    }
}
