//! Queries on `api_tokens`: users' bearer tokens for the REST API, found by their SHA-256.

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::api_tokens::ApiToken;

use super::schema::{api_tokens, users};

/// A row of `api_tokens` (the digest stays in the database).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub prefix: String,
    pub read_only: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    /// The list's view of this token at `now`.
    pub fn view(self, now: DateTime<Utc>) -> ApiToken {
        let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        ApiToken {
            id: self.id,
            expired: self.expires_at.is_some_and(|at| at <= now),
            name: self.name,
            prefix: self.prefix,
            read_only: self.read_only,
            created_at: rfc(self.created_at),
            expires_at: self.expires_at.map(rfc),
            last_used_at: self.last_used_at.map(rfc),
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewToken<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub digest: &'a str,
    pub prefix: &'a str,
    pub read_only: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewToken<'_>) -> QueryResult<TokenRow> {
    diesel::insert_into(api_tokens::table)
        .values(new)
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await
}

/// A user's tokens, newest first.
pub async fn of_owner(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::owner_id.eq(owner))
        .order(api_tokens::id.desc())
        .select(TokenRow::as_select())
        .load(conn)
        .await
}

/// Deletes token `id` of `owner`; its name, or `None` when it is not theirs (or gone).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<String>> {
    diesel::delete(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::owner_id.eq(owner)),
    )
    .returning(api_tokens::name)
    .get_result(conn)
    .await
    .optional()
}

/// What a bearer token authenticates as: the token and its owner.
#[derive(Debug, Clone, Queryable)]
pub struct Bearer {
    pub token_id: i64,
    pub token_name: String,
    pub read_only: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_id: i64,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
}

/// The token whose SHA-256 is `digest`, with its owner.
pub async fn by_digest(conn: &mut AsyncPgConnection, digest: &str) -> QueryResult<Option<Bearer>> {
    api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::digest.eq(digest))
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::read_only,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            users::id,
            users::username,
            users::is_admin,
            users::disabled,
        ))
        .first(conn)
        .await
        .optional()
}

/// Records a use of token `id` (the list shows it to the minute, so callers write at most
/// once a minute).
pub async fn touch(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::update(api_tokens::table.filter(api_tokens::id.eq(id)))
        .set(api_tokens::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}
