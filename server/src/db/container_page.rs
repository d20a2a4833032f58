//! The reads behind a container's page that the creation does not need: a filtered page of
//! its events, newest first, and the kinds and phases its events have (the filter's choices).
//! Scoped by the service (owner or admin) before they run.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::containers::EventRow;
use super::schema::container_events;

/// Up to `limit` events of container `id`, newest first: only of `kind` and `phase` when
/// given, only numbered below `before` when given.
pub async fn events_newest_first(
    conn: &mut AsyncPgConnection,
    id: i64,
    kind: Option<&str>,
    phase: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    use container_events as ce;
    let mut query = ce::table
        .filter(ce::container_id.eq(id))
        .order(ce::seq.desc())
        .limit(limit)
        .select(EventRow::as_select())
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(ce::kind.eq(kind));
    }
    if let Some(phase) = phase {
        query = query.filter(ce::phase.eq(phase));
    }
    if let Some(before) = before {
        query = query.filter(ce::seq.lt(before));
    }
    query.load(conn).await
}

/// The distinct kinds and the distinct phases of container `id`'s events, sorted.
pub async fn event_words(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    use container_events as ce;
    let kinds = ce::table
        .filter(ce::container_id.eq(id))
        .select(ce::kind)
        .distinct()
        .order(ce::kind.asc())
        .load(conn)
        .await?;
    let phases = ce::table
        .filter(ce::container_id.eq(id))
        .select(ce::phase)
        .distinct()
        .order(ce::phase.asc())
        .load(conn)
        .await?;
    Ok((kinds, phases))
}
