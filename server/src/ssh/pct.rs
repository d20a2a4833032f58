//! The `pct` commands on a node's shell ([`NodeShell`] methods): `pct list`/`status`/`exec`,
//! and `pct push`/`pull` through a staging file made with `mktemp` on the node.

use std::path::Path;

use super::SshError;
use super::shell::{NodeShell, Output};

/// One row of `pct list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PctEntry {
    /// The container id.
    pub vmid: u32,
    /// `running` / `stopped`.
    pub status: String,
    /// The lock, if any.
    pub lock: Option<String>,
    /// The name (hostname).
    pub name: String,
}

/// Parses `pct list` output.
pub fn parse_pct_list(text: &str) -> Vec<PctEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let vmid = fields.first()?.parse().ok()?;
            let (lock, name) = match fields.as_slice() {
                [_, _, lock, name, ..] => (Some((*lock).to_owned()), (*name).to_owned()),
                [_, _, name] => (None, (*name).to_owned()),
                _ => (None, String::new()),
            };
            Some(PctEntry {
                vmid,
                status: (*fields.get(1)?).to_owned(),
                lock,
                name,
            })
        })
        .collect()
}

impl NodeShell {
    /// `pct list`.
    pub async fn pct_list(&self) -> Result<Vec<PctEntry>, SshError> {
        let out = self.run_ok("pct list", &["pct", "list"], None).await?;
        Ok(parse_pct_list(&String::from_utf8_lossy(&out)))
    }

    /// `pct status VMID`: `running` or `stopped`.
    pub async fn pct_status(&self, vmid: u32) -> Result<String, SshError> {
        let id = vmid.to_string();
        let out = self
            .run_ok("pct status", &["pct", "status", &id], None)
            .await?;
        let text = String::from_utf8_lossy(&out);
        Ok(text
            .trim()
            .strip_prefix("status:")
            .unwrap_or(text.trim())
            .trim()
            .to_owned())
    }

    /// `pct exec VMID -- ARGV...`: the command's own status and output (a failing command is
    /// not an error).
    pub async fn pct_exec(&self, vmid: u32, argv: &[&str]) -> Result<Output, SshError> {
        let id = vmid.to_string();
        let mut args = vec!["pct", "exec", id.as_str(), "--"];
        args.extend_from_slice(argv);
        self.run(&args).await
    }

    /// Copies `data` to `remote` inside the container with `perms` (default 0644): staged in
    /// a `mktemp` file on the node, then `pct push`, then the staging file is removed.
    pub async fn pct_push_bytes(
        &self,
        vmid: u32,
        data: &[u8],
        remote: &str,
        perms: Option<u32>,
    ) -> Result<(), SshError> {
        let staged = self.stage().await?;
        let result = async {
            self.run_ok(
                "upload",
                &["sh", "-c", "cat > \"$1\"", "sh", &staged],
                Some(data),
            )
            .await?;
            let id = vmid.to_string();
            let perms = format!("{:04o}", perms.unwrap_or(0o644));
            self.run_ok(
                "pct push",
                &["pct", "push", &id, &staged, remote, "--perms", &perms],
                None,
            )
            .await
        }
        .await;
        self.unstage(&staged).await;
        result.map(|_| ())
    }

    /// [`pct_push_bytes`](Self::pct_push_bytes) with the content of a local file.
    pub async fn pct_push(
        &self,
        vmid: u32,
        local: &Path,
        remote: &str,
        perms: Option<u32>,
    ) -> Result<(), SshError> {
        let data = tokio::fs::read(local)
            .await
            .map_err(|e| SshError::Local(format!("reading {}: {e}", local.display())))?;
        self.pct_push_bytes(vmid, &data, remote, perms).await
    }

    /// The content of `remote` inside the container (`pct pull` to a staging file, read back).
    pub async fn pct_pull_bytes(&self, vmid: u32, remote: &str) -> Result<Vec<u8>, SshError> {
        let staged = self.stage().await?;
        let result = async {
            let id = vmid.to_string();
            self.run_ok("pct pull", &["pct", "pull", &id, remote, &staged], None)
                .await?;
            self.run_ok("download", &["cat", "--", &staged], None).await
        }
        .await;
        self.unstage(&staged).await;
        result
    }

    /// Copies `remote` out of the container into the local file `local`.
    pub async fn pct_pull(&self, vmid: u32, remote: &str, local: &Path) -> Result<(), SshError> {
        let data = self.pct_pull_bytes(vmid, remote).await?;
        tokio::fs::write(local, data)
            .await
            .map_err(|e| SshError::Local(format!("writing {}: {e}", local.display())))
    }

    /// A fresh private file on the node (`mktemp`).
    async fn stage(&self) -> Result<String, SshError> {
        let out = self
            .run_ok("mktemp", &["mktemp", "/tmp/kiln-transfer.XXXXXXXXXX"], None)
            .await?;
        let path = String::from_utf8_lossy(&out).trim().to_owned();
        if !path.starts_with("/tmp/kiln-transfer.") || path.contains(char::is_whitespace) {
            return Err(SshError::Local(format!(
                "mktemp on the node printed an unexpected path `{path}`"
            )));
        }
        Ok(path)
    }

    /// Removes a staging file (best effort).
    async fn unstage(&self, path: &str) {
        if let Err(e) = self.run(&["rm", "-f", "--", path]).await {
            tracing::warn!(ssh.target = %self.target(), error = %e, "staging file not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pct_list() {
        let text = "VMID       Status     Lock         Name                \n\
                    100        running                 web                 \n\
                    101        stopped    backup       db\n";
        assert_eq!(
            parse_pct_list(text),
            vec![
                PctEntry {
                    vmid: 100,
                    status: "running".into(),
                    lock: None,
                    name: "web".into()
                },
                PctEntry {
                    vmid: 101,
                    status: "stopped".into(),
                    lock: Some("backup".into()),
                    name: "db".into()
                },
            ]
        );
    }
}
