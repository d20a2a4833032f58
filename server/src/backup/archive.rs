//! The backup file: a gzip-compressed tar of three entries (see [`super`]), written to a
//! temporary file (mode 600) beside the target and linked into place only when complete, so a
//! failed backup leaves nothing and an existing file is never overwritten.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use zeroize::Zeroizing;

use super::Manifest;

pub const MANIFEST: &str = "manifest.json";
pub const DATABASE: &str = "database.pgdump";
pub const KEY: &str = "secret.key";

/// The largest manifest or key entry read (both are a few hundred bytes).
const SMALL_ENTRY_MAX: u64 = 64 * 1024;

/// Writes the archive to `file`; `dump` writes the database dump to the path it is given.
/// Returns the archive's size.
pub async fn write<F, Fut>(
    file: &Path,
    manifest: &Manifest,
    key: &str,
    dump: F,
) -> anyhow::Result<u64>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if file.exists() {
        bail!(
            "{} exists already: choose a new name (a backup never overwrites a file)",
            file.display()
        );
    }
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".kiln-backup-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write into {}", parent.display()))?;
    let dump_path = work.path().join(DATABASE);
    dump(dump_path.clone()).await?;
    let manifest_json = serde_json::to_vec_pretty(manifest)?;
    let key = Zeroizing::new(format!("{}\n", key.trim()));
    let target = file.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        // tempfile creates it with mode 600.
        let out = tempfile::Builder::new()
            .prefix(".kiln-backup-")
            .suffix(".partial")
            .tempfile_in(&parent)
            .with_context(|| format!("cannot write into {}", parent.display()))?;
        let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
        append_bytes(&mut tar, MANIFEST, &manifest_json)?;
        append_bytes(&mut tar, KEY, key.as_bytes())?;
        let mut db = File::open(&dump_path)
            .with_context(|| format!("reading the dump {}", dump_path.display()))?;
        let mut header = header(db.metadata()?.len());
        tar.append_data(&mut header, DATABASE, &mut db)?;
        let out = tar.into_inner()?.finish()?;
        out.as_file().sync_all()?;
        let bytes = out.as_file().metadata()?.len();
        out.persist_noclobber(&target)
            .map_err(|e| anyhow::anyhow!("writing {}: {}", target.display(), e.error))?;
        drop(work);
        Ok(bytes)
    })
    .await
    .context("the backup writer stopped")?
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(chrono::Utc::now().timestamp().max(0).unsigned_abs());
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append_bytes(
    tar: &mut tar::Builder<GzEncoder<tempfile::NamedTempFile>>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut header = header(bytes.len() as u64);
    tar.append_data(&mut header, name, bytes)?;
    Ok(())
}

/// A backup read back: the manifest and key in memory, the dump in a private temporary
/// directory (removed when this is dropped).
pub struct Unpacked {
    pub manifest: Manifest,
    pub key: Zeroizing<String>,
    /// The dump file, inside `_dir`.
    pub dump: PathBuf,
    /// Holds the dump (mode 700).
    _dir: tempfile::TempDir,
}

/// Reads `file`, checking it holds exactly what a backup holds.
pub fn read(file: &Path) -> anyhow::Result<Unpacked> {
    let not_a_backup =
        |why: &str| anyhow::anyhow!("{} is not a Kiln backup ({why})", file.display());
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("kiln-restore-")
        .tempdir()
        .context("creating a temporary directory for the dump")?;
    let dump = dir.path().join(DATABASE);
    let (mut manifest, mut key, mut has_dump) = (None, None, false);
    let mut archive = tar::Archive::new(GzDecoder::new(input));
    for entry in archive
        .entries()
        .map_err(|_| not_a_backup("not a .tar.gz"))?
    {
        let mut entry = entry.map_err(|e| not_a_backup(&format!("damaged: {e}")))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        match name.as_str() {
            MANIFEST => {
                let text = small(&mut entry, &not_a_backup)?;
                manifest = Some(
                    serde_json::from_str::<Manifest>(&text)
                        .map_err(|e| not_a_backup(&format!("its manifest: {e}")))?,
                );
            }
            KEY => key = Some(small(&mut entry, &not_a_backup)?),
            DATABASE => {
                let mut out =
                    File::create(&dump).with_context(|| format!("writing {}", dump.display()))?;
                std::io::copy(&mut entry, &mut out)
                    .map_err(|e| not_a_backup(&format!("damaged: {e}")))?;
                has_dump = true;
            }
            _ => return Err(not_a_backup(&format!("unexpected entry {name:?}"))),
        }
    }
    match (manifest, key, has_dump) {
        (Some(manifest), Some(key), true) => Ok(Unpacked {
            manifest,
            key,
            dump,
            _dir: dir,
        }),
        _ => Err(not_a_backup(&format!(
            "it needs {MANIFEST}, {KEY} and {DATABASE}"
        ))),
    }
}

fn small(
    entry: &mut impl Read,
    not_a_backup: &dyn Fn(&str) -> anyhow::Error,
) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    entry
        .take(SMALL_ENTRY_MAX)
        .read_to_string(&mut text)
        .map_err(|e| not_a_backup(&format!("damaged: {e}")))?;
    Ok(text)
}
