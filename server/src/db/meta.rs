//! Queries on `app_meta`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::app_meta;

pub async fn get(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<Vec<u8>>> {
    app_meta::table
        .find(key)
        .select(app_meta::value)
        .first(conn)
        .await
        .optional()
}

pub async fn put(conn: &mut AsyncPgConnection, key: &str, value: &[u8]) -> QueryResult<()> {
    diesel::insert_into(app_meta::table)
        .values((app_meta::key.eq(key), app_meta::value.eq(value)))
        .on_conflict(app_meta::key)
        .do_update()
        .set(app_meta::value.eq(value))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Inserts `value` unless `key` already has one; returns whether it was inserted (the first of
/// two racing writers wins, the other reads the winner's value back).
pub async fn insert_if_absent(
    conn: &mut AsyncPgConnection,
    key: &str,
    value: &[u8],
) -> QueryResult<bool> {
    diesel::insert_into(app_meta::table)
        .values((app_meta::key.eq(key), app_meta::value.eq(value)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|rows| rows == 1)
}
