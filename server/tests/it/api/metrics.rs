//! `/api/v1/containers/{id}/metrics` and `/api/v1/nodes/{id}/metrics`: the `Series` of each
//! range (slots a step apart, one line per field, gaps as `null`), the owner's only (404 for
//! anyone else), and a range or member the rules refuse (422 by name).

use axum::http::{Method, StatusCode};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use kiln_shared::metrics::{Field, Range, Series};

use super::{actor, call, expect_error, json, user_with_token};
use crate::harness::{TestApp, TestResult};

/// A container row of user `owner` on `node` (no Proxmox behind it); its id.
async fn insert_container(
    app: &TestApp,
    owner: i64,
    node: i64,
) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    use kiln_server::db::schema::containers;
    let mut conn = app.state.db.get().await?;
    Ok(diesel::insert_into(containers::table)
        .values((
            containers::node_id.eq(node),
            containers::owner_id.eq(owner),
            containers::vmid.eq(120),
            containers::hostname.eq("web"),
        ))
        .returning(containers::id)
        .get_result(&mut conn)
        .await?)
}

/// Checks a series answer: its range, a slot per step, the subject's fields in order.
fn check_series(body: &str, range: Range, fields: &[Field]) -> TestResult {
    let series: Series = serde_json::from_str(body)?;
    assert_eq!(series.range, range);
    assert_eq!(series.step, range.step());
    let got: Vec<Field> = series.lines.iter().map(|l| l.field).collect();
    assert_eq!(got, fields);
    for line in &series.lines {
        assert_eq!(line.avg.len(), range.slots(), "{range:?}");
        assert_eq!(line.min.len(), range.slots());
        assert_eq!(line.max.len(), range.slots());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn histories_answer_every_range_for_their_owner_only() -> TestResult {
    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;
    let ada_id = actor(&app, "ada").await?.user_id;
    let node = app.insert_node(ada_id, "pve1").await?;
    let ct = insert_container(&app, ada_id, node).await?;
    let ct_path = format!("/api/v1/containers/{ct}/metrics");
    let node_path = format!("/api/v1/nodes/{node}/metrics");

    for path in [&ct_path, &node_path] {
        let reply = call(&app, Method::GET, path, None, None).await?;
        expect_error(&reply, 401, "unauthorized")?;
    }

    // Every range; none is the last hour.
    for range in Range::ALL {
        let r = range.as_str();
        let reply = call(
            &app,
            Method::GET,
            &format!("{ct_path}?range={r}"),
            Some(&ada),
            None,
        )
        .await?;
        assert_eq!(reply.status, StatusCode::OK, "{r}: {}", reply.body);
        check_series(&reply.body, range, &Field::GUEST)?;
        let reply = call(
            &app,
            Method::GET,
            &format!("{node_path}?member=pve1&range={r}"),
            Some(&ada),
            None,
        )
        .await?;
        assert_eq!(reply.status, StatusCode::OK, "{r}: {}", reply.body);
        check_series(&reply.body, range, &Field::MEMBER)?;
    }
    let reply = call(&app, Method::GET, &ct_path, Some(&ada), None).await?;
    check_series(&reply.body, Range::Hour, &Field::GUEST)?;
    // Nothing was recorded: every slot is a gap.
    let series: Series = serde_json::from_str(&reply.body)?;
    assert!(
        series
            .lines
            .iter()
            .all(|l| l.avg.iter().all(Option::is_none))
    );
    assert_eq!(json(&reply)?["range"], "Hour");

    // What the rules refuse, by name.
    for (path, field) in [
        (format!("{ct_path}?range=2h"), "range"),
        (format!("{node_path}?member=pve1&range=week"), "range"),
        (node_path.clone(), "member"),
        (format!("{node_path}?member=a/b"), "member"),
    ] {
        let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
        let body = expect_error(&reply, 422, "invalid")?;
        assert!(body["error"]["fields"][field].is_string(), "{path}: {body}");
    }

    // Another user's container or node, or none at all: 404.
    for path in [ct_path.clone(), format!("{node_path}?member=pve1")] {
        let reply = call(&app, Method::GET, &path, Some(&bob), None).await?;
        expect_error(&reply, 404, "not_found")?;
    }
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/containers/999999/metrics",
        Some(&ada),
        None,
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/containers/x/metrics",
        Some(&ada),
        None,
    )
    .await?;
    expect_error(&reply, 400, "bad_request")?;
    app.cleanup().await
}
