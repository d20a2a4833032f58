//! Export as a download: a stored template written as a self-contained folder (its
//! `container-configs/` inside, whatever `TEMPLATE_CONFIG_PATH` it was read with) and packed
//! as a gzip tar whose entries are `<slug>/template.conf`, `<slug>/container-configs/...`.
//! Unpacked into a template root, it reads back as the same template.
//!
//! Blocking file I/O: call it off the async runtime.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_shared::templates::Template;
use tempfile::TempDir;

/// A template written out to `<temp dir>/<slug>/`, removed when dropped.
#[derive(Debug)]
pub struct Export {
    /// Holds the folder; deleting it is its `Drop`.
    dir: TempDir,
    /// The folder's name inside `dir` and the archive's top-level directory.
    slug: String,
}

impl Export {
    /// Writes `template` with `config_path` cleared, so the folder is self-contained.
    /// `InvalidInput` when the folder format cannot hold it (see [`super::write_folder`]).
    pub fn prepare(mut template: Template) -> io::Result<Export> {
        template.config_path = None;
        let dir = tempfile::tempdir()?;
        super::write_folder(&template, &dir.path().join(&template.slug))?;
        Ok(Export {
            dir,
            slug: template.slug,
        })
    }

    /// The archive's file name: `<slug>.tar.gz`.
    pub fn file_name(&self) -> String {
        format!("{}.tar.gz", self.slug)
    }

    /// Writes the gzip tar of the folder to `out`.
    pub fn write_tar_gz(&self, out: impl Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
        tar.append_dir_all(&self.slug, self.dir.path().join(&self.slug))?;
        tar.into_inner()?.finish()?.flush()
    }
}
