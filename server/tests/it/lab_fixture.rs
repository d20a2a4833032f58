//! A lab node in a private directory, and real `proxmox::Client`s pointed at it — shared by
//! `client_lab`, `client_lab_errors` and `nodes`.

use std::path::PathBuf;
use std::time::Duration;

use kiln_server::lab::{self, LabHandle, LabOptions};
use kiln_server::proxmox::{Auth, Client, ClientConfig, Tuning};
use kiln_shared::pve::LxcCreate;

pub type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The Debian template every lab serves.
pub const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// Waiting for a task in these tests (the lab runs them instantly with speed 0).
pub const TASK_TIMEOUT: Duration = Duration::from_secs(10);

/// A running lab and the directory it keeps its certificate and state in.
pub struct TestLab {
    pub handle: LabHandle,
    pub dir: PathBuf,
}

/// A fresh directory name under the system's temp dir (created by the lab).
pub fn temp_dir() -> PathBuf {
    let suffix: String = kiln_server::auth::tokens::random_token()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    std::env::temp_dir().join(format!("kiln-lab-client-{suffix}"))
}

impl TestLab {
    /// A lab with instant tasks (speed 0) in a new directory.
    pub async fn start(configure: impl FnOnce(&mut LabOptions)) -> R<TestLab> {
        Self::start_in(temp_dir(), configure).await
    }

    /// A lab on `dir` (reusing its certificate and state when present).
    pub async fn start_in(dir: PathBuf, configure: impl FnOnce(&mut LabOptions)) -> R<TestLab> {
        let mut opts = LabOptions::new(&dir);
        opts.speed = 0.0;
        configure(&mut opts);
        let handle = lab::start(opts).await?;
        Ok(TestLab { handle, dir })
    }

    /// The first node's name.
    pub fn node(&self) -> &str {
        self.handle
            .nodes
            .first()
            .map(String::as_str)
            .unwrap_or("pve")
    }

    /// The root token as `Auth::Token`.
    pub fn root_token(&self) -> Auth {
        let (id, secret) = self
            .handle
            .token
            .split_once('=')
            .unwrap_or((self.handle.token.as_str(), ""));
        Auth::Token {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// `root@pam` with the lab's password.
    pub fn root_password(&self) -> Auth {
        Auth::Password {
            username: "root@pam".into(),
            password: self.handle.password.clone(),
            otp: None,
        }
    }

    /// Where and how to reach this lab, pinned to its certificate.
    pub fn config(&self, auth: Auth) -> ClientConfig {
        ClientConfig {
            host: self.handle.addr.ip().to_string(),
            port: self.handle.addr.port(),
            fingerprint: self.handle.fingerprint.clone(),
            auth,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// A client with the root token and fast retries.
    pub fn client(&self) -> R<Client> {
        Ok(Client::with_tuning(self.config(self.root_token()), fast())?)
    }

    /// Stops the lab and removes its directory.
    pub async fn finish(self) -> R {
        self.handle.shutdown().await?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }

    /// Stops the lab, keeping its directory; returns it.
    pub async fn stop(self) -> R<PathBuf> {
        self.handle.shutdown().await?;
        Ok(self.dir)
    }
}

/// Retries 10 ms apart (instead of 200 ms, 800 ms).
pub fn fast() -> Tuning {
    Tuning {
        retry_base_delay: Duration::from_millis(10),
        ..Tuning::default()
    }
}

/// A small DHCP container on `local-lvm`.
pub fn container(vmid: u32) -> LxcCreate {
    LxcCreate {
        vmid,
        ostemplate: DEBIAN.into(),
        hostname: format!("ct{vmid}"),
        rootfs: "local-lvm:8".into(),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        unprivileged: Some(true),
        features: Some("nesting=1".into()),
        tags: Some("kiln;test".into()),
        ..LxcCreate::default()
    }
}

/// Removes a directory left by a lab (best effort).
pub fn remove_dir(dir: PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
}
