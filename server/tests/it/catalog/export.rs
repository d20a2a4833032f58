//! The export download: a gzip tar of `<slug>/...` that unpacks into a folder reading back
//! as the same template, self-contained even for a template read with
//! `TEMPLATE_CONFIG_PATH`; unknown slugs and signed-out visitors refused.

use std::io::Read;
use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kiln_server::templates::parse_folder;
use kiln_shared::templates::{
    FileContent, Manager, Package, PackageBucket, Policy, Severity, Template, TemplateFile,
};

use super::{R, app_with_user, detail_ok, fixtures, sample, save_ok, sync_now};
use crate::harness::{Reply, TestApp};

async fn download(app: &TestApp, session: Option<&str>, slug: &str) -> R<Reply> {
    app.get(&format!("/templates/{slug}/export.tar.gz"), session)
        .await
}

/// Unpacks a `.tar.gz` into `dir`; returns the entry paths.
fn unpack(bytes: &[u8], dir: &Path) -> R<Vec<String>> {
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries()? {
        let mut entry = entry?;
        names.push(entry.path()?.to_string_lossy().into_owned());
        entry.unpack_in(dir)?;
    }
    Ok(names)
}

/// A template using everything the folder format holds.
fn full(slug: &str) -> Template {
    let mut t = sample(slug);
    t.readme = Some("# Full\n\nEverything.\n".into());
    t.extra = vec![("MY_KEY".into(), "a value with \"quotes\"".into())];
    t.nesting = true;
    t.keyctl = true;
    t.packages.push(PackageBucket {
        name: "tools".into(),
        manager: Manager::Custom,
        packages: vec![Package::Custom {
            name: "bun".into(),
            check: "command -v bun".into(),
            install: "npm install -g bun".into(),
            timeout_secs: Some(300),
        }],
    });
    t.files.push(TemplateFile {
        name: "logo.png".into(),
        target_dir: "/var/www/html".into(),
        policy: Policy::Backup,
        content: FileContent::Base64("iVBORw0KGgoAAAANSUhEUg==".into()),
    });
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn export_round_trips_through_a_folder() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let template = full("full-export");
    save_ok(&app, &ada, None, &template).await?;

    let reply = download(&app, Some(&ada), "full-export").await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/gzip"[..])
    );
    assert_eq!(
        reply
            .headers
            .get(header::CONTENT_DISPOSITION)
            .map(|v| v.as_bytes()),
        Some(&b"attachment; filename=\"full-export.tar.gz\""[..])
    );
    let out = tempfile::tempdir()?;
    let names = unpack(&reply.bytes, out.path())?;
    assert!(
        names.iter().all(|n| n.starts_with("full-export")),
        "{names:?}"
    );
    for expected in [
        "full-export/template.conf",
        "full-export/README.md",
        "full-export/container-configs/scripts/10-setup.sh",
        "full-export/container-configs/packages/tools.custom",
        "full-export/container-configs/files/logo.png.policy",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let (parsed, findings) = parse_folder(&out.path().join("full-export"));
    assert_eq!(parsed.as_ref(), Some(&template));
    assert!(
        findings.iter().all(|f| f.severity != Severity::Error),
        "{findings:?}"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exported_folder_is_self_contained() -> R {
    // `shared-configs` reads its container-configs from `common/from-shared`.
    let dirs = vec![fixtures()];
    let (app, ada) = app_with_user(move |c| c.template_dirs = dirs).await?;
    sync_now(&app, &ada).await?;
    let stored = detail_ok(&app, &ada, "shared-configs").await?.template;
    assert!(stored.config_path.is_some());
    assert_eq!(stored.scripts.len(), 1);

    let reply = download(&app, Some(&ada), "shared-configs").await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let out = tempfile::tempdir()?;
    unpack(&reply.bytes, out.path())?;
    let (parsed, findings) = parse_folder(&out.path().join("shared-configs"));
    let expected = Template {
        config_path: None,
        ..stored
    };
    assert_eq!(parsed, Some(expected));
    assert!(findings.is_empty(), "{findings:?}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn export_refusals() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    save_ok(&app, &ada, None, &sample("mine")).await?;
    for slug in ["no-such", "Not_A_Slug"] {
        let reply = download(&app, Some(&ada), slug).await?;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{slug}: {}",
            reply.body
        );
    }
    let reply = download(&app, None, "mine").await?;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(
        reply.location(),
        Some("/login?next=/templates/mine/export.tar.gz")
    );

    // The archive is not compressed a second time.
    let req = Request::get("/templates/mine/export.tar.gz")
        .header(header::COOKIE, format!("kiln_session={ada}"))
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .body(Body::empty())?;
    let reply = app.send_from([192, 0, 2, 1], req).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers.get(header::CONTENT_ENCODING), None);
    let mut text = String::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&reply.bytes[..]));
    let mut conf = archive
        .entries()?
        .filter_map(Result::ok)
        .find(|e| e.path().is_ok_and(|p| p.ends_with("template.conf")))
        .ok_or("no template.conf")?;
    conf.read_to_string(&mut text)?;
    assert!(text.contains("TEMPLATE_APP=\"mine app\""), "{text}");
    app.cleanup().await
}
