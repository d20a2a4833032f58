//! Shared package buckets: create, edit, duplicate names, unknown ids, bulk delete, and the
//! templates holding a copy (which keep it when the bucket goes).

use axum::http::StatusCode;
use kiln_shared::catalog::Bucket;
use kiln_shared::templates::{Manager, Package, PackageBucket};
use serde_json::{Value, json};

use super::{R, actions, app_with_user, detail_ok, field_error, sample, save_ok};
use crate::harness::{Reply, TestApp};

async fn save_bucket(
    app: &TestApp,
    session: &str,
    id: Option<i64>,
    name: &str,
    texts: Value,
) -> R<Reply> {
    let input =
        json!({ "name": name, "description": format!("the {name} bucket"), "texts": texts });
    app.call_json(
        "save_bucket",
        &json!({ "id": id, "input": input }),
        Some(session),
    )
    .await
}

async fn saved(reply: Reply) -> R<Bucket> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

async fn list(app: &TestApp, session: &str) -> R<Vec<Bucket>> {
    let reply = app.call("list_buckets", &[], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_are_created_edited_and_deleted() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    // Two templates hold a copy of `toolbox` (one per manager), one of `base`.
    let mut one = sample("t-one");
    one.packages.push(PackageBucket {
        name: "toolbox".into(),
        manager: Manager::Apt,
        packages: vec![Package::Plain("jq".into())],
    });
    let mut two = sample("t-two");
    two.packages = vec![PackageBucket {
        name: "toolbox".into(),
        manager: Manager::Npm,
        packages: vec![Package::Plain("typescript@5.0.0".into())],
    }];
    save_ok(&app, &ada, None, &one).await?;
    save_ok(&app, &ada, None, &two).await?;

    let toolbox = saved(
        save_bucket(
            &app,
            &ada,
            None,
            "toolbox",
            json!([["npm", "typescript"], ["apt", "# tools\njq\ncurl"]]),
        )
        .await?,
    )
    .await?;
    assert_eq!(toolbox.used_by, ["t-one", "t-two"]);
    let managers: Vec<Manager> = toolbox.lists.iter().map(|l| l.manager).collect();
    assert_eq!(
        managers,
        [Manager::Apt, Manager::Npm],
        "in Manager::ALL order"
    );
    assert_eq!(toolbox.package_count(), 3);
    let extras = saved(
        save_bucket(
            &app,
            &ada,
            None,
            "extras",
            json!([["pip", "requests>=2.28,<3.0"]]),
        )
        .await?,
    )
    .await?;
    assert!(extras.used_by.is_empty());

    // Duplicate names, on create and on rename; an unknown id.
    let reply = save_bucket(&app, &ada, None, "toolbox", json!([["apt", "vim"]])).await?;
    field_error(&reply, "name")?;
    let reply = save_bucket(
        &app,
        &ada,
        Some(extras.id),
        "toolbox",
        json!([["apt", "vim"]]),
    )
    .await?;
    field_error(&reply, "name")?;
    let reply = save_bucket(&app, &ada, Some(i64::MAX), "ghost", json!([["apt", "vim"]])).await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    // Edit: new lists, same id.
    let edited = saved(
        save_bucket(
            &app,
            &ada,
            Some(toolbox.id),
            "toolbox",
            json!([["custom", "bun|command -v bun|npm i -g bun|120"]]),
        )
        .await?,
    )
    .await?;
    assert_eq!(edited.id, toolbox.id);
    assert_eq!(
        edited.lists,
        [PackageBucket {
            name: "toolbox".into(),
            manager: Manager::Custom,
            packages: vec![Package::Custom {
                name: "bun".into(),
                check: "command -v bun".into(),
                install: "npm i -g bun".into(),
                timeout_secs: Some(120),
            }],
        }]
    );
    let names: Vec<String> = list(&app, &ada)
        .await?
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["extras", "toolbox"]);

    // Bulk delete: only existing ids count; templates keep their copies.
    let reply = app
        .call_json(
            "delete_buckets",
            &json!({ "ids": [toolbox.id, extras.id, i64::MAX] }),
            Some(&ada),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(serde_json::from_str::<u32>(&reply.body)?, 2);
    assert!(list(&app, &ada).await?.is_empty());
    assert_eq!(
        detail_ok(&app, &ada, "t-one").await?.template.packages,
        one.packages
    );

    let log = actions(&app).await?;
    for action in ["bucket.create", "bucket.save", "bucket.delete"] {
        assert!(log.contains(&action.to_owned()), "{action} in {log:?}");
    }
    app.cleanup().await
}
