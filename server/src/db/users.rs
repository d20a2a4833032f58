//! Queries on `users`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use kiln_shared::auth::{CurrentUser, UserSummary};

use super::schema::users;
use diesel_async::AsyncPgConnection;

/// How times are shown in the UI.
const DISPLAY_TIME: &str = "%Y-%m-%d %H:%M UTC";

/// A row of `users`. The hash never leaves the server.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&UserRow> for CurrentUser {
    fn from(row: &UserRow) -> Self {
        CurrentUser {
            id: row.id,
            username: row.username.clone(),
            is_admin: row.is_admin,
        }
    }
}

impl From<UserRow> for UserSummary {
    fn from(row: UserRow) -> Self {
        UserSummary {
            id: row.id,
            username: row.username,
            is_admin: row.is_admin,
            disabled: row.disabled,
            created_at: row.created_at.format(DISPLAY_TIME).to_string(),
            last_login_at: row
                .last_login_at
                .map(|t| t.format(DISPLAY_TIME).to_string()),
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
}

pub async fn any_exist(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id)))
        .get_result(conn)
        .await
}

pub async fn by_username(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(name))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<UserRow>> {
    users::table
        .order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)
        .await
}

/// Inserts a user; `None` when the name is taken.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    user: &NewUser<'_>,
) -> QueryResult<Option<UserRow>> {
    diesel::insert_into(users::table)
        .values(user)
        .on_conflict(users::username)
        .do_nothing()
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_password(conn: &mut AsyncPgConnection, id: i64, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(diesel::dsl::now),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

pub async fn set_disabled(
    conn: &mut AsyncPgConnection,
    id: i64,
    disabled: bool,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::disabled.eq(disabled),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

pub async fn touch_login(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// The enabled administrators' ids, locked until the transaction ends: two transactions that
/// each disable an administrator run one after the other, and the second sees the first's
/// change — so the last enabled administrator cannot be disabled by a race.
pub async fn lock_active_admins(conn: &mut AsyncPgConnection) -> QueryResult<Vec<i64>> {
    users::table
        .filter(users::is_admin.eq(true))
        .filter(users::disabled.eq(false))
        .select(users::id)
        .order(users::id.asc())
        .for_update()
        .load(conn)
        .await
}
