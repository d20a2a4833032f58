//! Monitoring (issue 12): the monitor's samples at the poll cadence against a lab node
//! (counters as rates, a restart's reset, members' load), rollups over known inputs (min,
//! avg, max; run again; back-filled buckets kept), retention dropping whole partitions, a
//! node going unreachable and coming back (its watch, the observations, backoff), the chart
//! series for every range and who may read them, and gaps back-filled from the node's RRD.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kiln_app::ssr::MetricsBackend;
use kiln_server::db::metrics::{self as q, Bucket, RawSample, Tier};
use kiln_server::lab::RuntimeKind;
use kiln_server::monitor::{Monitor, MonitorOptions, MonitorService, Retention};
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::AppError;
use kiln_shared::metrics::{Field, Range, Subject};

use crate::containers::{Setup, actor, setup_paused_with};
use crate::lab_fixture::{R, TestLab, container};

fn options() -> MonitorOptions {
    MonitorOptions {
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        maintain_every: Duration::from_secs(3_600),
        retention: Retention::default(),
        backfill: false,
    }
}

/// A container made and started on the lab directly.
async fn running(lab: &TestLab, vmid: u32) -> R {
    let client = lab.client()?;
    let upid = client.lxc_create(lab.node(), &container(vmid)).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    let upid = client.lxc_start(lab.node(), vmid).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    Ok(())
}

async fn scratch() -> R<Setup> {
    setup_paused_with(|o| o.runtime = RuntimeKind::Scratch).await
}

/// The raw samples of guest `vmid` of `node`, oldest first: (at, cpu, netin).
async fn raw_of(s: &Setup, vmid: i32) -> R<Vec<(DateTime<Utc>, Option<f32>, Option<f32>)>> {
    use diesel::QueryableByName;
    use diesel::sql_types::{Float4, Nullable, Timestamptz};
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Timestamptz)]
        at: DateTime<Utc>,
        #[diesel(sql_type = Nullable<Float4>)]
        cpu: Option<f32>,
        #[diesel(sql_type = Nullable<Float4>)]
        netin: Option<f32>,
    }
    let mut conn = s.app.state.db.get().await?;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT r.at, r.cpu, r.netin FROM metric_raw r JOIN metric_series s ON s.id = r.series_id
         WHERE s.node_id = $1 AND s.vmid = $2 AND s.kind = 'lxc' ORDER BY r.at",
    )
    .bind::<diesel::sql_types::BigInt, _>(s.node_id)
    .bind::<diesel::sql_types::Integer, _>(vmid)
    .load(&mut conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.at, r.cpu, r.netin)).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn polls_store_samples_at_the_cadence_with_rates_and_loads() -> R {
    let s = scratch().await?;
    running(&s.lab, 301).await?;
    running(&s.lab, 302).await?;
    let monitor = Monitor::new(s.app.state.clone(), options());
    let mut heard = s.app.state.observations.subscribe();
    for _ in 0..3 {
        let seen = monitor.poll_all().await?;
        assert_eq!(seen.len(), 1);
        // Two seconds apart: the lab's counters move with whole seconds of uptime.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
    }
    let samples = raw_of(&s, 301).await?;
    assert_eq!(samples.len(), 3, "one sample per poll");
    assert!(
        samples
            .iter()
            .all(|(_, cpu, _)| cpu.is_some_and(|c| c > 0.0))
    );
    assert_eq!(samples[0].2, None, "no rate before a second poll");
    for (_, _, netin) in &samples[1..] {
        // The lab's container receives 1,500 bytes per second of uptime (counted in whole
        // seconds: ±1 s over the ~2 s between polls).
        let rate = netin.ok_or("a rate")?;
        assert!((600.0..=2_400.0).contains(&rate), "netin rate {rate}");
    }
    assert_eq!(raw_of(&s, 302).await?.len(), 3);

    // The member's series has its load average.
    let mut conn = s.app.state.db.get().await?;
    let member = q::series_id(
        &mut conn,
        &q::SeriesKey {
            node_id: s.node_id,
            kind: "member",
            vmid: 0,
            member: s.lab.node().to_owned(),
        },
    )
    .await?
    .ok_or("member series")?;
    let now = Utc::now();
    let slots = q::read_slots(
        &mut conn,
        Tier::Raw,
        member,
        now - chrono::Duration::minutes(5),
        now,
        10,
    )
    .await?;
    assert!(!slots.is_empty());
    assert!(slots.iter().all(|slot| slot.v[21].is_some()), "load avg");
    drop(conn);

    // What was published: three observations of the node, guests with their previous state.
    let mut got = Vec::new();
    while let Ok(o) = heard.try_recv() {
        got.push(o);
    }
    assert_eq!(got.len(), 3);
    let last = got[2].seen.as_ref().map_err(|e| e.clone())?;
    let g = last.guests.iter().find(|g| g.vmid == 301).ok_or("301")?;
    assert_eq!(g.status, "running");
    assert_eq!(g.was.as_deref(), Some("running"));
    assert!(g.netin.is_some());
    assert_eq!(last.members.len(), 1);
    assert!(last.members[0].load.is_some());

    // A restart: the sample after it has no rate (its counters began again).
    let client = s.lab.client()?;
    let upid = client.lxc_stop(s.lab.node(), 301).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    monitor.poll_all().await?;
    let upid = client.lxc_start(s.lab.node(), 301).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    monitor.poll_all().await?;
    let samples = raw_of(&s, 301).await?;
    assert_eq!(samples.len(), 4, "a stopped guest has no sample");
    assert_eq!(samples[3].2, None, "no rate across a restart");
    s.finish().await
}

fn t(secs: i64) -> R<DateTime<Utc>> {
    Ok(Utc.timestamp_opt(secs, 0).single().ok_or("time")?)
}

#[tokio::test(flavor = "multi_thread")]
async fn rollups_keep_min_avg_max_and_run_again_safely() -> R {
    let s = scratch().await?;
    let monitor = Monitor::new(s.app.state.clone(), options());
    let mut conn = s.app.state.db.get().await?;
    let key = q::SeriesKey {
        node_id: s.node_id,
        kind: "lxc",
        vmid: 900,
        member: String::new(),
    };
    let ids = q::series_ids(&mut conn, std::slice::from_ref(&key)).await?;
    let id = ids[0];
    // Two minutes, an hour ago: cpu 0.1, 0.2, 0.3 in the first; 0.5 in the second.
    let base = (Utc::now().timestamp() / 3600) * 3600 - 3600;
    let raw = |at: i64, cpu: f32, mem: i64| -> R<RawSample> {
        Ok(RawSample {
            series_id: id,
            at: t(at)?,
            cpu: Some(cpu),
            mem: Some(mem),
            maxmem: Some(1_000),
            ..RawSample::default()
        })
    };
    let samples = vec![
        raw(base, 0.1, 100)?,
        raw(base + 10, 0.2, 200)?,
        raw(base + 20, 0.3, 600)?,
        raw(base + 60, 0.5, 500)?,
    ];
    kiln_server::db::metrics::ensure_partition(&mut conn, Tier::Raw, t(base)?).await?;
    assert_eq!(q::insert_raw(&mut conn, &samples).await?, 4);
    drop(conn);
    let done = monitor.maintain(Utc::now()).await?;
    assert!(done.rolled[0] >= 2, "{done:?}");
    let mut conn = s.app.state.db.get().await?;
    let minutes = q::read_slots(&mut conn, Tier::Minute, id, t(base)?, t(base + 120)?, 60).await?;
    assert_eq!(minutes.len(), 2);
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-4);
    assert!(close(minutes[0].v[0], 0.2), "avg {:?}", minutes[0].v[0]);
    assert!(close(minutes[0].v[1], 0.1), "min");
    assert!(close(minutes[0].v[2], 0.3), "max");
    assert!(close(minutes[0].v[3], 300.0), "mem avg");
    assert!(close(minutes[0].v[5], 600.0), "mem max");
    assert!(close(minutes[1].v[0], 0.5));
    // The hour: weighted by samples (3 × 0.2 + 1 × 0.5) / 4.
    let hours = q::read_slots(&mut conn, Tier::Hour, id, t(base)?, t(base + 3600)?, 3600).await?;
    assert_eq!(hours.len(), 1);
    assert!(close(hours[0].v[0], 0.275), "hour avg {:?}", hours[0].v[0]);
    assert!(close(hours[0].v[1], 0.1) && close(hours[0].v[2], 0.5));
    assert!(close(hours[0].v[24], 1_000.0), "maxmem");

    // Running the rollup again over the same time changes nothing.
    q::roll_up(&mut conn, Tier::Minute, t(base)?, t(base + 3600)?).await?;
    q::roll_up(&mut conn, Tier::Hour, t(base)?, t(base + 3600)?).await?;
    let again = q::read_slots(&mut conn, Tier::Hour, id, t(base)?, t(base + 3600)?, 3600).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].v, hours[0].v);

    // A back-filled minute (a full bucket) is not replaced by a rollup with fewer samples,
    // and is replaced by one with more.
    let mut values = [None; 24];
    values[0] = Some(0.9);
    let filled = Bucket {
        series_id: id,
        at: t(base + 60)?,
        n: 6,
        values,
        maxmem: Some(1_000),
        maxdisk: None,
    };
    q::insert_buckets(&mut conn, Tier::Minute, &[filled]).await?;
    q::roll_up(&mut conn, Tier::Minute, t(base)?, t(base + 3600)?).await?;
    let minutes = q::read_slots(&mut conn, Tier::Minute, id, t(base)?, t(base + 120)?, 60).await?;
    assert!(close(minutes[1].v[0], 0.9), "the back-filled minute stays");
    let more: Vec<RawSample> = (0..7)
        .map(|i| raw(base + 61 + i, 0.4, 100))
        .collect::<R<_>>()?;
    q::insert_raw(&mut conn, &more).await?;
    q::roll_up(&mut conn, Tier::Minute, t(base)?, t(base + 3600)?).await?;
    let minutes = q::read_slots(&mut conn, Tier::Minute, id, t(base)?, t(base + 120)?, 60).await?;
    assert!(
        close(minutes[1].v[0], 0.4125),
        "eight real samples win: {:?}",
        minutes[1].v[0]
    );
    drop(conn);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_drops_whole_partitions() -> R {
    let s = scratch().await?;
    let retention = Retention {
        raw: Duration::from_secs(48 * 3600),
        ..Retention::default()
    };
    let monitor = Monitor::new(
        s.app.state.clone(),
        MonitorOptions {
            retention,
            ..options()
        },
    );
    let now = Utc::now();
    let mut conn = s.app.state.db.get().await?;
    let old = q::ensure_partition(&mut conn, Tier::Raw, now - chrono::Duration::days(3)).await?;
    let kept = q::ensure_partition(&mut conn, Tier::Raw, now - chrono::Duration::days(1)).await?;
    let old_minutes =
        q::ensure_partition(&mut conn, Tier::Minute, now - chrono::Duration::days(40)).await?;
    drop(conn);
    let done = monitor.maintain(now).await?;
    assert!(done.dropped.contains(&old), "{done:?}");
    assert!(done.dropped.contains(&old_minutes), "{done:?}");
    let mut conn = s.app.state.db.get().await?;
    let names: Vec<String> = q::partitions(&mut conn, Tier::Raw)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&kept) && !names.contains(&old), "{names:?}");
    // Today's and tomorrow's partitions exist for every tier.
    for tier in Tier::ALL {
        assert!(q::partitions(&mut conn, tier).await?.len() >= 2, "{tier:?}");
    }
    drop(conn);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_node_is_watched_and_comes_back() -> R {
    let s = scratch().await?;
    running(&s.lab, 310).await?;
    let monitor = Monitor::new(s.app.state.clone(), options());
    let service = MonitorService::new(s.app.state.clone());
    monitor.poll_all().await?;
    let watches = service.watches(&s.actor).await?;
    assert_eq!(watches.len(), 1);
    assert!(watches[0].reachable);
    let seen_at = watches[0].last_seen.clone().ok_or("last seen")?;

    s.lab.handle.set_unreachable(true);
    let first = monitor.poll_all().await?;
    assert!(first[0].seen.is_err());
    let since = first[0].unreachable_since.ok_or("since")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = monitor.poll_all().await?;
    assert_eq!(
        second[0].unreachable_since,
        Some(since),
        "the first failure's time stays"
    );
    let w = &service.watches(&s.actor).await?[0];
    assert!(!w.reachable);
    assert_eq!(
        w.last_seen.as_deref(),
        Some(seen_at.as_str()),
        "data from before"
    );
    let banner = w.banner(|t| t.to_owned()).ok_or("a banner")?;
    assert!(
        banner.starts_with("node lab unreachable since "),
        "{banner}"
    );
    assert!(banner.contains("showing data from"), "{banner}");

    s.lab.handle.set_unreachable(false);
    let back = monitor.poll_all().await?;
    assert!(back[0].seen.is_ok());
    assert_eq!(back[0].unreachable_since, None);
    let w = &service.watches(&s.actor).await?[0];
    assert!(w.reachable && w.banner(|t| t.to_owned()).is_none());

    // Another user sees nothing of it.
    let other = actor(&s.app, "stranger").await?;
    assert!(service.watches(&other).await?.is_empty());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_node_is_asked_less_often() -> R {
    let s = scratch().await?;
    let monitor = std::sync::Arc::new(Monitor::new(s.app.state.clone(), options()));
    s.lab.handle.set_unreachable(true);
    monitor.poll_all().await?;
    monitor.poll_all().await?;
    monitor.poll_all().await?;
    // Three failures: the next poll is due only after 8 intervals (1.6 s).
    let total = || s.lab.handle.requests()["total"].as_u64().unwrap_or(0);
    let before = total();
    s.lab.handle.set_unreachable(false);
    for _ in 0..4 {
        Monitor::poll_due(&monitor).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = total();
    assert_eq!(during, before, "backing off");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    Monitor::poll_due(&monitor).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(total() > during, "asked again");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_read_every_range_for_their_owner_only() -> R {
    let mut s = scratch().await?;
    s.start_workers();
    let created = s
        .service()
        .create(&s.actor, crate::containers::request(s.node_id, "metered"))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let monitor = Monitor::new(s.app.state.clone(), options());
    monitor.poll_all().await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    monitor.poll_all().await?;
    monitor.maintain(Utc::now()).await?;
    let service = MonitorService::new(s.app.state.clone());
    for range in Range::ALL {
        let series = service
            .series(&s.actor, Subject::Container(created.id), range)
            .await?;
        assert_eq!(series.len(), range.slots(), "{range:?}");
        assert_eq!(series.step, range.step());
        assert!(series.line(Field::Cpu).is_some() && series.line(Field::Load).is_none());
        if range == Range::Hour {
            assert!(series.has_data(), "the last hour has the polls");
            let cpu = series.line(Field::Cpu).ok_or("cpu")?;
            assert!(cpu.avg.iter().filter(|v| v.is_some()).count() >= 1);
            // Older slots are gaps.
            assert_eq!(cpu.avg[0], None);
        }
        let member = service
            .series(
                &s.actor,
                Subject::Member {
                    node_id: s.node_id,
                    member: s.lab.node().to_owned(),
                },
                range,
            )
            .await?;
        assert!(member.line(Field::Load).is_some());
        if range == Range::Hour {
            assert!(member.has_data());
        }
    }
    let other = actor(&s.app, "stranger").await?;
    let denied = service
        .series(&other, Subject::Container(created.id), Range::Day)
        .await;
    assert!(matches!(denied, Err(AppError::NotFound(_))), "{denied:?}");
    let denied = service
        .series(
            &other,
            Subject::Member {
                node_id: s.node_id,
                member: s.lab.node().to_owned(),
            },
            Range::Day,
        )
        .await;
    assert!(matches!(denied, Err(AppError::NotFound(_))), "{denied:?}");
    let bad = service
        .series(
            &s.actor,
            Subject::Member {
                node_id: s.node_id,
                member: "../x".into(),
            },
            Range::Day,
        )
        .await;
    assert!(matches!(bad, Err(AppError::Invalid(_))), "{bad:?}");

    // Sparklines: the container's CPU over the last hour.
    let vmid = u32::try_from(row.vmid.ok_or("vmid")?)?;
    let lines = service
        .sparklines(&[(s.node_id, vmid), (s.node_id, 999)], Utc::now())
        .await?;
    let line = lines.get(&(s.node_id, vmid)).ok_or("a sparkline")?;
    assert_eq!(line.len(), 60);
    assert!(line[59].is_some() || line[58].is_some());
    assert!(!lines.contains_key(&(s.node_id, 999)));
    // The dashboard's cards carry them.
    let board = s
        .service()
        .dashboard(&s.actor, &kiln_shared::inventory::Filter::default())
        .await?;
    let card = board
        .rows
        .iter()
        .find(|r| r.id == Some(created.id))
        .ok_or("card")?;
    assert!(
        card.spark.as_ref().is_some_and(|l| l.len() == 60),
        "a sparkline"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gap_is_back_filled_from_the_node_rrd() -> R {
    // Preloaded containers have been running for minutes to weeks: the node's RRD has the
    // last hour of each, Kiln has nothing yet.
    let s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.preload = 6;
    })
    .await?;
    let monitor = Monitor::new(s.app.state.clone(), options());
    let written = monitor.backfill_now(s.node_id).await?;
    assert!(written > 0, "buckets from the RRD");
    let client = s.lab.client()?;
    let guests = client.cluster_resources_vm().await?;
    let up = guests
        .iter()
        .find(|g| g.status.as_deref() == Some("running") && g.uptime.unwrap_or(0) > 1_800)
        .ok_or("a container up for half an hour")?;
    let vmid = up.vmid.ok_or("vmid")?;
    let mut conn = s.app.state.db.get().await?;
    let id = q::series_id(
        &mut conn,
        &q::SeriesKey {
            node_id: s.node_id,
            kind: "lxc",
            vmid: i32::try_from(vmid)?,
            member: String::new(),
        },
    )
    .await?
    .ok_or("series")?;
    let now = Utc::now();
    let minutes = q::read_slots(
        &mut conn,
        Tier::Minute,
        id,
        now - chrono::Duration::minutes(70),
        now,
        60,
    )
    .await?;
    assert!(minutes.len() >= 20, "{} minutes back-filled", minutes.len());
    assert!(minutes.iter().all(|m| m.v[0].is_some()));
    drop(conn);
    // The hour's chart shows them where no raw sample exists.
    let service = MonitorService::new(s.app.state.clone());
    let series = service
        .read(Some(id), Range::Hour, &Field::GUEST, now, None)
        .await?;
    let cpu = series.line(Field::Cpu).ok_or("cpu")?;
    assert!(cpu.avg.iter().filter(|v| v.is_some()).count() > 100);
    // Running it again writes the same buckets (kept, not doubled).
    monitor.backfill_now(s.node_id).await?;
    let mut conn = s.app.state.db.get().await?;
    let again = q::read_slots(
        &mut conn,
        Tier::Minute,
        id,
        now - chrono::Duration::minutes(70),
        now,
        60,
    )
    .await?;
    assert_eq!(again.len(), minutes.len());
    drop(conn);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_keep_working_from_the_last_known_state_while_a_node_is_away() -> R {
    let mut s = scratch().await?;
    s.start_workers();
    let created = s
        .service()
        .create(&s.actor, crate::containers::request(s.node_id, "away"))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let monitor = Monitor::new(s.app.state.clone(), options());
    monitor.poll_all().await?;
    // The poll recorded the container's last known state (no dashboard was opened).
    let seen = s.settled(created.id, 5).await?;
    assert!(seen.seen_at.is_some() && seen.power.as_deref() == Some("running"));
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let page = s
        .app
        .get(&format!("/containers/{}", created.id), Some(&session))
        .await?;
    assert!(!page.body.contains(r#"data-test="node-offline""#));

    s.lab.handle.set_unreachable(true);
    monitor.poll_all().await?;
    // The container's page: its last known state, a banner, power actions disabled.
    let detail = s.service().detail(&s.actor, created.id).await?;
    let watch = detail.node_watch.ok_or("the node's watch")?;
    assert!(!watch.reachable && watch.unreachable_since.is_some());
    let page = s
        .app
        .get(&format!("/containers/{}", created.id), Some(&session))
        .await?;
    assert_eq!(page.status, axum::http::StatusCode::OK);
    assert!(page.body.contains(r#"data-test="node-offline""#), "banner");
    assert!(
        page.body.contains("node lab unreachable since"),
        "banner text"
    );
    assert!(page.body.contains("showing data from"));
    assert!(
        page.body
            .contains(r#"data-test="action-shutdown" disabled"#)
            || page
                .body
                .contains(r#"disabled="" data-test="action-shutdown""#)
            || page
                .body
                .contains(r#"data-test="action-shutdown" disabled="""#),
        "power actions disabled"
    );
    // The dashboard: the same banner, the row with its last known state.
    let board = s.app.get("/", Some(&session)).await?;
    assert!(
        board.body.contains("node lab unreachable since"),
        "dashboard banner"
    );
    assert!(board.body.contains("away"));
    // The nodes page: when it was last seen.
    let nodes = s.app.get("/nodes", Some(&session)).await?;
    assert!(
        nodes.body.contains("node lab unreachable since"),
        "node card"
    );

    s.lab.handle.set_unreachable(false);
    monitor.poll_all().await?;
    s.app.state.node_clients.forget_resources(s.node_id);
    s.app.state.inventories.forget(s.actor.user_id);
    let page = s
        .app
        .get(&format!("/containers/{}", created.id), Some(&session))
        .await?;
    assert!(
        !page.body.contains(r#"data-test="node-offline""#),
        "the banner goes by itself"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_latency_and_an_offline_member_are_told_apart() -> R {
    let s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.nodes = Some(2);
    })
    .await?;
    let monitor = Monitor::new(
        s.app.state.clone(),
        MonitorOptions {
            timeout: Duration::from_millis(800),
            ..options()
        },
    );
    let service = MonitorService::new(s.app.state.clone());
    // Every answer a 500: the node counts as unreachable, with the node's words.
    s.lab.handle.set_faults(kiln_server::lab::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let seen = monitor.poll_all().await?;
    assert!(seen[0].seen.is_err());
    let w = &service.watches(&s.actor).await?[0];
    assert!(
        !w.reachable
            && w.error
                .as_deref()
                .is_some_and(|e| e.contains("500") || e.contains("Internal")),
        "{w:?}"
    );
    // Slower than the poll's timeout: unreachable too, saying so.
    s.lab.handle.set_faults(kiln_server::lab::Faults {
        latency_ms: 1_500,
        ..Default::default()
    });
    let seen = monitor.poll_all().await?;
    let error = seen[0].seen.as_ref().err().cloned().unwrap_or_default();
    assert!(error.contains("no answer within"), "{error}");
    // One member behind the entry point does not answer (596): the node answers, that
    // member is offline and gets no sample, the other one does.
    s.lab.handle.set_faults(kiln_server::lab::Faults {
        node_596: ["pve2".to_owned()].into_iter().collect(),
        ..Default::default()
    });
    let seen = monitor.poll_all().await?;
    let answer = seen[0].seen.as_ref().map_err(|e| e.clone())?;
    let offline: Vec<&str> = answer
        .members
        .iter()
        .filter(|m| !m.online)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(offline, ["pve2"]);
    assert!(service.watches(&s.actor).await?[0].reachable);
    let series = service
        .series(
            &s.actor,
            Subject::Member {
                node_id: s.node_id,
                member: "pve1".into(),
            },
            Range::Hour,
        )
        .await?;
    assert!(series.has_data());
    let series = service
        .series(
            &s.actor,
            Subject::Member {
                node_id: s.node_id,
                member: "pve2".into(),
            },
            Range::Hour,
        )
        .await?;
    assert!(!series.has_data(), "an offline member is a gap");
    s.finish().await
}
