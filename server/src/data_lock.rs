//! `<data dir>/kiln.lock`: who is using a data directory. Every command that runs Kiln on it
//! (`serve`, `migrate`, `user create`, `template test`, `backup`) holds a *shared* `flock` on
//! the file for as long as it runs (taken in [`crate::runtime::Services::start`] and by
//! `backup`); `kiln restore` takes it *exclusively*, so it refuses while anything else runs
//! there and nothing starts while it restores. The kernel drops the lock when the process
//! ends, however it ends: a crash leaves no stale lock behind.
//!
//! Architecture invariant: the lock only guards this machine's data directory; replicas on
//! other machines sharing one external PostgreSQL are not seen (the README says to stop them
//! before a restore).

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name inside the data directory.
pub const FILE: &str = "kiln.lock";

/// A held lock on a data directory (released when dropped).
#[derive(Debug)]
pub struct DataLock {
    /// The open, locked file; unlocked and closed on drop.
    _lock: Flock<File>,
}

impl DataLock {
    /// A shared lock: several Kiln commands may run on one data directory, but not beside a
    /// `kiln restore`.
    pub fn shared(data_dir: &Path) -> anyhow::Result<DataLock> {
        Self::take(data_dir, FlockArg::LockSharedNonblock).map_err(|held| {
            held.unwrap_or_else(|| {
                anyhow::anyhow!(
                    "a `kiln restore` is running on the data directory {}; wait for it to finish",
                    data_dir.display()
                )
            })
        })
    }

    /// The exclusive lock of `kiln restore`: refused while any other Kiln command (a serving
    /// Kiln above all) uses the data directory.
    pub fn exclusive(data_dir: &Path) -> anyhow::Result<DataLock> {
        Self::take(data_dir, FlockArg::LockExclusiveNonblock).map_err(|held| {
            held.unwrap_or_else(|| {
                anyhow::anyhow!(
                    "a Kiln is running on the data directory {} (`kiln serve`, or another kiln \
                     command); stop it first (e.g. `systemctl stop kiln`), then run this again",
                    data_dir.display()
                )
            })
        })
    }

    /// Takes the lock; `Err(None)` when someone else holds it, `Err(Some(..))` on any other
    /// failure.
    fn take(data_dir: &Path, how: FlockArg) -> Result<DataLock, Option<anyhow::Error>> {
        let fail = |e: anyhow::Error| Some(e);
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))
            .map_err(fail)?;
        let path = data_dir.join(FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))
            .map_err(fail)?;
        match Flock::lock(file, how) {
            Ok(lock) => Ok(DataLock { _lock: lock }),
            Err((_, Errno::EWOULDBLOCK)) => Err(None),
            Err((_, errno)) => Err(Some(
                anyhow::Error::from(errno).context(format!("locking {}", path.display())),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_the_exclusive_one() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = DataLock::shared(dir.path())?;
        let second = DataLock::shared(dir.path())?;
        let refused = DataLock::exclusive(dir.path()).map(|_| ());
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("stop it first")),
            "{refused:?}"
        );
        drop((first, second));
        let restore = DataLock::exclusive(dir.path())?;
        let refused = DataLock::shared(dir.path()).map(|_| ());
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("kiln restore")),
            "{refused:?}"
        );
        drop(restore);
        DataLock::shared(dir.path())?;
        Ok(())
    }
}
