//! PLACEHOLDER until the image builder lands (replaced on merge).
#![allow(missing_docs, clippy::unused_async)]
use std::path::{Path, PathBuf};
pub const DEBIAN_12: &str = "debian-12-standard_12.7-1_amd64.tar.zst";
pub fn cache_dir() -> PathBuf {
    std::env::var_os("KILN_LAB_IMAGE_DIR").map_or_else(
        || PathBuf::from("/var/cache/kiln/lab-images"),
        PathBuf::from,
    )
}
pub fn built(file: &str) -> Option<PathBuf> {
    if file != DEBIAN_12 {
        return None;
    }
    let p = cache_dir().join(file);
    p.is_file().then_some(p)
}
pub fn debian_archive() -> anyhow::Result<String> {
    Ok("http://deb.debian.org/debian".into())
}
pub async fn unpack(image: &Path, rootfs: &Path, idmap: Option<(u32, u32)>) -> Result<(), String> {
    let _ = (image, rootfs, idmap);
    Err("not yet".into())
}
pub async fn build(force: bool, progress: &mut (dyn FnMut(&str) + Send)) -> anyhow::Result<PathBuf> {
    let _ = (force, progress);
    anyhow::bail!("not yet")
}
