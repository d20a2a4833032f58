//! Charts and exports of a resource history: the container page's Metrics tab and the node
//! page for every range (the range picker marks the one shown, the exports link to it), the
//! CSV and JSON downloads of a container's and a node member's series (one row per slot, the
//! `time` column then avg/min/max per field, an attachment), and who may read them (the owner;
//! anyone else 404; a range or member the rules refuse 422). Samples are recorded by the
//! monitor itself (two polls of the lab, then its maintenance), so the last hour has values
//! and older slots are gaps.

use std::time::Duration;

use axum::http::{StatusCode, header};
use chrono::Utc;
use kiln_server::lab::RuntimeKind;
use kiln_server::monitor::{Monitor, MonitorOptions, Retention};
use kiln_shared::metrics::{Field, Range, Series};

use crate::containers::{Setup, actor, request, setup};
use crate::harness::{PASSWORD, Reply};
use crate::lab_fixture::R;

/// Records the setup's node twice, a second apart, and rolls the samples up.
async fn record(s: &Setup) -> R {
    let monitor = Monitor::new(
        s.app.state.clone(),
        MonitorOptions {
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(3),
            maintain_every: Duration::from_secs(3_600),
            retention: Retention::default(),
            backfill: false,
        },
    );
    monitor.poll_all().await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    monitor.poll_all().await?;
    monitor.maintain(Utc::now()).await?;
    Ok(())
}

/// The `data-test` names of the charts on a page, in order.
fn charts_of(body: &str) -> Vec<&str> {
    body.match_indices("<figure data-test=\"")
        .filter_map(|(at, m)| body[at + m.len()..].split('"').next())
        .collect()
}

/// A ready plain container of the setup's actor; its id.
async fn ready(s: &Setup, hostname: &str) -> R<i64> {
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, hostname))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    Ok(created.id)
}

fn header_of(reply: &Reply, name: header::HeaderName) -> &str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Checks a CSV export of `fields` over `range`: the header, one row per slot, the times
/// a step apart.
fn check_csv(reply: &Reply, range: Range, fields: &[Field], stem: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(header_of(reply, header::CONTENT_TYPE).starts_with("text/csv"));
    assert_eq!(
        header_of(reply, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{stem}-{}.csv\"", range.as_str())
    );
    let mut lines = reply.body.lines();
    let head: Vec<String> = std::iter::once("time".to_owned())
        .chain(fields.iter().flat_map(|f| {
            let n = f.as_str();
            [format!("{n}_avg"), format!("{n}_min"), format!("{n}_max")]
        }))
        .collect();
    assert_eq!(lines.next(), Some(head.join(",").as_str()));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), range.slots(), "{range:?}");
    let time = |row: &str| {
        row.split(',')
            .next()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let (first, second) = (time(rows[0]), time(rows[1]));
    assert_eq!(
        second.zip(first).map(|(b, a)| b - a),
        Some(range.step()),
        "{range:?}"
    );
    assert!(rows.iter().all(|r| r.split(',').count() == head.len()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_containers_metrics_tab_and_exports_answer_every_range_for_its_owner_only() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let id = ready(&s, "metrics-1").await?;
    let owner = s.app.login("creator", PASSWORD).await?;

    for range in Range::ALL {
        let r = range.as_str();
        let page = s
            .app
            .get(
                &format!("/containers/{id}?tab=metrics&range={r}"),
                Some(&owner),
            )
            .await?;
        assert_eq!(page.status, StatusCode::OK, "{r}: {}", page.body);
        let body = &page.body;
        assert!(
            body.contains(&format!("data-test=\"metrics\" data-range=\"{r}\"")),
            "{r}"
        );
        assert!(
            body.contains(&format!(
                "href=\"/containers/{id}?tab=metrics&amp;range={r}\" data-test=\"range-{r}\" title=\"{}\" aria-current=\"page\"",
                range.label()
            )),
            "{r}: the current range is marked"
        );
        for other in Range::ALL.into_iter().filter(|o| *o != range) {
            let link = format!(
                "data-test=\"range-{}\" title=\"{}\">",
                other.as_str(),
                other.label()
            );
            assert!(body.contains(&link), "{r}: {link} is not marked");
        }
        assert!(body.contains(&format!("/containers/{id}/metrics.csv?range={r}")));
        assert!(body.contains(&format!("/containers/{id}/metrics.json?range={r}")));
        // Nothing recorded yet: the empty state, no chart.
        assert!(body.contains("data-test=\"metrics-empty\""), "{r}");
        assert!(charts_of(body).is_empty());

        let csv = s
            .app
            .get(
                &format!("/containers/{id}/metrics.csv?range={r}"),
                Some(&owner),
            )
            .await?;
        check_csv(&csv, range, &Field::GUEST, &format!("kiln-ct-{id}"));

        let json = s
            .app
            .get(
                &format!("/containers/{id}/metrics.json?range={r}"),
                Some(&owner),
            )
            .await?;
        assert_eq!(json.status, StatusCode::OK);
        assert!(header_of(&json, header::CONTENT_DISPOSITION).starts_with("attachment;"));
        let series: Series = serde_json::from_str(&json.body)?;
        assert_eq!(series.range, range);
        assert_eq!(series.len(), range.slots());
        assert_eq!(series.step, range.step());
    }

    // Recorded: the last hour's charts, with the rule and readout the hover uses, and values
    // in the export's last rows.
    record(&s).await?;
    let page = s
        .app
        .get(
            &format!("/containers/{id}?tab=metrics&range=1h"),
            Some(&owner),
        )
        .await?;
    assert_eq!(
        charts_of(&page.body),
        [
            "chart-cpu",
            "chart-mem",
            "chart-disk",
            "chart-net",
            "chart-io"
        ]
    );
    for part in [
        "data-test=\"chart-line\"",
        "data-rule=\"\"",
        "data-readout=\"\"",
        "<title>CPU of metrics-1 over 1 hour</title>",
        "data-labels=\"Used|Limit\"",
    ] {
        assert!(page.body.contains(part), "{part}");
    }
    assert!(!page.body.contains("data-test=\"metrics-empty\""));
    let csv = s
        .app
        .get(
            &format!("/containers/{id}/metrics.csv?range=1h"),
            Some(&owner),
        )
        .await?;
    check_csv(&csv, Range::Hour, &Field::GUEST, &format!("kiln-ct-{id}"));
    let rows: Vec<&str> = csv.body.lines().skip(1).collect();
    let cpu = |row: &str| row.split(',').nth(1).unwrap_or_default().to_owned();
    assert!(
        rows.iter().rev().take(3).any(|r| !cpu(r).is_empty()),
        "the last slots have a CPU value"
    );
    assert!(
        rows[0].split(',').skip(1).all(str::is_empty),
        "an hour ago is a gap"
    );
    for range in Range::ALL {
        let page = s
            .app
            .get(
                &format!("/containers/{id}?tab=metrics&range={}", range.as_str()),
                Some(&owner),
            )
            .await?;
        assert_eq!(page.status, StatusCode::OK, "{range:?}");
        let charts = charts_of(&page.body);
        assert!(
            charts.len() == 5 || page.body.contains("data-test=\"metrics-empty\""),
            "{range:?}: {charts:?}"
        );
    }

    // The same series through the server function.
    let reply = s
        .app
        .call(
            "container_metrics",
            &[("id", &id.to_string()), ("range", "7d")],
            Some(&owner),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let series: Series = serde_json::from_str(&reply.body)?;
    assert_eq!(series.range, Range::Week);

    // A range the rules refuse; an unknown word on the page falls back to the hour.
    let bad = s
        .app
        .get(
            &format!("/containers/{id}/metrics.csv?range=2h"),
            Some(&owner),
        )
        .await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let page = s
        .app
        .get(
            &format!("/containers/{id}?tab=metrics&range=2h"),
            Some(&owner),
        )
        .await?;
    assert!(page.body.contains("data-range=\"1h\""));
    let default = s
        .app
        .get(&format!("/containers/{id}/metrics.csv"), Some(&owner))
        .await?;
    check_csv(
        &default,
        Range::Hour,
        &Field::GUEST,
        &format!("kiln-ct-{id}"),
    );

    // Another user: 404 everywhere; signed out: sent to sign in.
    actor(&s.app, "stranger").await?;
    let stranger = s.app.login("stranger", PASSWORD).await?;
    for path in [
        format!("/containers/{id}/metrics.csv"),
        format!("/containers/{id}/metrics.json?range=30d"),
        format!("/containers/{id}?tab=metrics"),
        "/containers/nope/metrics.csv".to_owned(),
    ] {
        let reply = s.app.get(&path, Some(&stranger)).await?;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    let reply = s
        .app
        .call(
            "container_metrics",
            &[("id", &id.to_string()), ("range", "1h")],
            Some(&stranger),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let signed_out = s
        .app
        .get(&format!("/containers/{id}/metrics.csv"), None)
        .await?;
    assert!(signed_out.status.is_redirection(), "{}", signed_out.status);
    assert!(
        signed_out
            .location()
            .is_some_and(|l| l.starts_with("/login?next=")),
        "{:?}",
        signed_out.location()
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_page_shows_its_members_history_for_every_range_and_exports_it() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let owner = s.app.login("creator", PASSWORD).await?;
    let node = s.node_id;
    let member = s.lab.node().to_owned();

    record(&s).await?;
    let list = s.app.get("/nodes", Some(&owner)).await?;
    assert!(
        list.body.contains("data-test=\"sparkline\""),
        "the member's CPU over the hour"
    );
    assert!(
        list.body.contains(&format!("href=\"/nodes/{node}\"")),
        "cards link to the page"
    );

    for range in Range::ALL {
        let r = range.as_str();
        let page = s
            .app
            .get(&format!("/nodes/{node}?range={r}"), Some(&owner))
            .await?;
        assert_eq!(page.status, StatusCode::OK, "{r}: {}", page.body);
        let body = &page.body;
        assert!(
            body.contains("data-test=\"node-name\" class=\"page-title\">lab<"),
            "{body}"
        );
        assert!(body.contains(&format!("data-test=\"member\" data-member=\"{member}\"")));
        assert!(body.contains(&format!(
            "data-test=\"member-history\" data-member=\"{member}\""
        )));
        assert!(body.contains(&format!("data-test=\"metrics\" data-range=\"{r}\"")));
        assert!(body.contains(&format!(
            "href=\"/nodes/{node}?range={r}\" data-test=\"range-{r}\" title=\"{}\" aria-current=\"page\"",
            range.label()
        )));
        assert!(body.contains(&format!(
            "/nodes/{node}/metrics.csv?member={member}&amp;range={r}"
        )));
        let charts = charts_of(body);
        if range == Range::Hour {
            assert_eq!(
                charts,
                ["chart-cpu", "chart-mem", "chart-disk", "chart-load"]
            );
        } else {
            assert!(
                charts.len() == 4 || body.contains("data-test=\"metrics-empty\""),
                "{r}: {charts:?}"
            );
        }

        let csv = s
            .app
            .get(
                &format!("/nodes/{node}/metrics.csv?member={member}&range={r}"),
                Some(&owner),
            )
            .await?;
        check_csv(
            &csv,
            range,
            &Field::MEMBER,
            &format!("kiln-node-{node}-{member}"),
        );
        let json = s
            .app
            .get(
                &format!("/nodes/{node}/metrics.json?member={member}&range={r}"),
                Some(&owner),
            )
            .await?;
        let series: Series = serde_json::from_str(&json.body)?;
        assert_eq!((series.range, series.len()), (range, range.slots()));
        assert!(series.line(Field::Load).is_some());
    }

    for (query, status) in [
        ("range=1h", StatusCode::UNPROCESSABLE_ENTITY),
        ("member=a%2Fb", StatusCode::UNPROCESSABLE_ENTITY),
        ("member=x&range=1w", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let reply = s
            .app
            .get(&format!("/nodes/{node}/metrics.csv?{query}"), Some(&owner))
            .await?;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
    }

    actor(&s.app, "stranger").await?;
    let stranger = s.app.login("stranger", PASSWORD).await?;
    let reply = s
        .app
        .get(
            &format!("/nodes/{node}/metrics.json?member={member}"),
            Some(&stranger),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let page = s
        .app
        .get(&format!("/nodes/{node}"), Some(&stranger))
        .await?;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    s.finish().await
}
