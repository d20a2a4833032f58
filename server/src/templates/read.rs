//! Reading from a template folder without trusting it: only regular files are read, a
//! symbolic link is never followed, nothing can block, and sizes are bounded.
//!
//! Template folders are often git checkouts written by other people; git keeps symbolic
//! links, and a folder can hold a FIFO or a device. Every file is first looked at with
//! `lstat` (a symlink, FIFO, socket or device is refused without opening it), then opened
//! with `O_NOFOLLOW | O_NONBLOCK` and checked again with `fstat` on the open descriptor, so
//! that a file swapped for a link or a FIFO in between is refused too; reads stop at the
//! caps. Folders are listed without following links, and a listing stops at
//! [`MAX_ENTRIES`]. Refusals are [`Refused`] values that the callers turn into findings.

use std::fs::{self, File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest file read from a template folder (bytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most bytes read from one template folder in total (all its files together).
pub const MAX_TOTAL_BYTES: u64 = 8 * 1024 * 1024;
/// Most entries listed in one folder (`scripts/`, `packages/`, `files/`, a template root...).
pub const MAX_ENTRIES: usize = 512;

/// Why a path was not read.
#[derive(Debug)]
pub enum Refused {
    /// Nothing there.
    Missing,
    /// A symbolic link (never followed).
    Symlink,
    /// Not a regular file (or, for a folder, not a directory): a FIFO, socket, device...
    Kind(&'static str),
    /// Larger than [`MAX_FILE_BYTES`] (the size seen).
    TooLarge(u64),
    /// The template's files together exceed [`MAX_TOTAL_BYTES`].
    OverBudget,
    /// A folder with more entries than allowed ([`MAX_ENTRIES`] inside a template).
    TooManyEntries,
    /// Any other I/O error.
    Io(io::Error),
}

impl Refused {
    /// The finding's message.
    pub fn message(&self) -> String {
        match self {
            Refused::Missing => "cannot read: not found".to_owned(),
            Refused::Symlink => {
                "a symbolic link; not followed (only regular files are read)".to_owned()
            }
            Refused::Kind(kind) => format!("{kind}; not read (only regular files are read)"),
            Refused::TooLarge(size) => format!(
                "too large ({} KiB; {} KiB at most); not read",
                size.div_ceil(1024),
                MAX_FILE_BYTES / 1024
            ),
            Refused::OverBudget => format!(
                "not read: the template's files exceed {} MiB together",
                MAX_TOTAL_BYTES / (1024 * 1024)
            ),
            Refused::TooManyEntries => {
                format!("more than {MAX_ENTRIES} entries; none is read")
            }
            Refused::Io(e) => format!("cannot read: {e}"),
        }
    }

    fn from_io(e: io::Error) -> Refused {
        match e.kind() {
            io::ErrorKind::NotFound => Refused::Missing,
            // `O_NOFOLLOW` on a link that appeared after the `lstat`.
            _ if e.raw_os_error() == Some(libc::ELOOP) => Refused::Symlink,
            _ => Refused::Io(e),
        }
    }
}

/// What is left of a template's [`MAX_TOTAL_BYTES`].
#[derive(Debug)]
pub struct Budget {
    left: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            left: MAX_TOTAL_BYTES,
        }
    }
}

/// A file type in words, for findings.
pub fn describe(kind: &FileType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_file() {
        "a file"
    } else {
        "not a regular file"
    }
}

/// The bytes of the regular file at `path`, counted against `budget` (see the module docs).
pub fn read_file(path: &Path, budget: &mut Budget) -> Result<Vec<u8>, Refused> {
    let meta = fs::symlink_metadata(path).map_err(Refused::from_io)?;
    check_file(&meta)?;
    if meta.len() > budget.left {
        return Err(Refused::OverBudget);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(Refused::from_io)?;
    // The path may have been replaced since the `lstat`: judge what was opened.
    let meta = file.metadata().map_err(Refused::Io)?;
    check_file(&meta)?;
    let cap = MAX_FILE_BYTES.min(budget.left);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    read_capped(file, cap, &mut bytes)?;
    // `bytes` holds at most `cap` bytes (a longer file was refused).
    budget.left = budget.left.saturating_sub(bytes.len() as u64);
    Ok(bytes)
}

fn check_file(meta: &fs::Metadata) -> Result<(), Refused> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(Refused::Symlink);
    }
    if !kind.is_file() {
        return Err(Refused::Kind(describe(&kind)));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Refused::TooLarge(meta.len()));
    }
    Ok(())
}

/// Reads at most `cap` bytes; a file that grew past it is refused.
fn read_capped(file: File, cap: u64, out: &mut Vec<u8>) -> Result<(), Refused> {
    let read = file
        .take(cap.saturating_add(1))
        .read_to_end(out)
        .map_err(Refused::Io)?;
    if read as u64 > cap {
        return Err(if cap < MAX_FILE_BYTES {
            Refused::OverBudget
        } else {
            Refused::TooLarge(read as u64)
        });
    }
    Ok(())
}

/// `Ok` when `path` is a real directory (not a link to one).
pub fn check_dir(path: &Path) -> Result<(), Refused> {
    let meta = fs::symlink_metadata(path).map_err(Refused::from_io)?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        Err(Refused::Symlink)
    } else if kind.is_dir() {
        Ok(())
    } else {
        Err(Refused::Kind(describe(&kind)))
    }
}

/// The entries of the real directory `path` as `(name, type)` (types as `lstat` sees them),
/// sorted by name; refused past `limit` entries ([`MAX_ENTRIES`] inside a template, no
/// limit for a root of templates).
pub fn list_dir(path: &Path, limit: usize) -> Result<Vec<(String, FileType)>, Refused> {
    check_dir(path)?;
    let mut entries = Vec::new();
    for entry in fs::read_dir(path).map_err(Refused::from_io)? {
        let entry = entry.map_err(Refused::Io)?;
        if entries.len() == limit {
            return Err(Refused::TooManyEntries);
        }
        let kind = entry.file_type().map_err(Refused::Io)?;
        entries.push((entry.file_name().to_string_lossy().into_owned(), kind));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// How an entry of a folder of templates looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// A real directory with a `template.conf` (of any type: a bad one becomes a finding).
    Template,
    /// A symbolic link to a template folder: never followed.
    Symlink,
    /// Anything else: not a template.
    No,
}

/// Whether `path` (an entry of a template root) is a template folder.
pub fn candidate(path: &Path) -> Candidate {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Candidate::No;
    };
    let conf = path.join("template.conf");
    if meta.file_type().is_symlink() {
        // `lstat` of the conf follows the link to the folder, not the conf itself.
        return match fs::symlink_metadata(&conf) {
            Ok(_) => Candidate::Symlink,
            Err(_) => Candidate::No,
        };
    }
    if meta.is_dir() && fs::symlink_metadata(&conf).is_ok() {
        Candidate::Template
    } else {
        Candidate::No
    }
}

/// The template folders of a root of templates (the root itself may be a link: it is
/// configured, not part of a template), sorted by path, with links among them.
pub fn template_folders(root: &Path) -> io::Result<Vec<(std::path::PathBuf, Candidate)>> {
    let mut folders = Vec::new();
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        match candidate(&path) {
            Candidate::No => {}
            found => folders.push((path, found)),
        }
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_budget() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a");
        fs::write(&file, b"hello")?;
        let mut budget = Budget { left: 7 };
        assert_eq!(read_file(&file, &mut budget).ok(), Some(b"hello".to_vec()));
        assert!(matches!(
            read_file(&file, &mut budget),
            Err(Refused::OverBudget)
        ));
        std::os::unix::fs::symlink(&file, dir.path().join("link"))?;
        assert!(matches!(
            read_file(&dir.path().join("link"), &mut Budget::default()),
            Err(Refused::Symlink)
        ));
        assert!(matches!(
            read_file(dir.path(), &mut Budget::default()),
            Err(Refused::Kind("a folder"))
        ));
        assert!(matches!(
            read_file(&dir.path().join("none"), &mut Budget::default()),
            Err(Refused::Missing)
        ));
        Ok(())
    }
}
