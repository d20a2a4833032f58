//! Queries on `alert_channels`: where a user's notifications go. Scoped to the owner, except
//! [`channel`] with `None`, the dispatcher's look-up.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::alerts::{Channel, ChannelKind, Delivery};

use super::schema::alert_channels;

/// A row of `alert_channels`; `url_sealed` and `secret_sealed` are ciphertext (`crypto`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alert_channels)]
pub struct ChannelRow {
    pub id: i64,
    pub owner_id: i64,
    pub kind: String,
    pub name: String,
    pub url_sealed: Vec<u8>,
    pub url_hint: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub enabled: bool,
}

impl ChannelRow {
    /// The associated data binding a channel's URL to its row.
    pub fn url_context(id: i64) -> String {
        format!("alert_channels.url:{id}")
    }

    /// The associated data binding a webhook's signing key to its row.
    pub fn secret_context(id: i64) -> String {
        format!("alert_channels.secret:{id}")
    }

    pub fn kind(&self) -> Option<ChannelKind> {
        ChannelKind::parse(&self.kind)
    }

    pub fn to_channel(&self, last: Option<Delivery>) -> Option<Channel> {
        Some(Channel {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind()?,
            url_hint: self.url_hint.clone(),
            enabled: self.enabled,
            last,
        })
    }
}

pub async fn channels(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<ChannelRow>> {
    alert_channels::table
        .filter(alert_channels::owner_id.eq(owner))
        .order(alert_channels::name.asc())
        .select(ChannelRow::as_select())
        .load(conn)
        .await
}

pub async fn channel(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    id: i64,
) -> QueryResult<Option<ChannelRow>> {
    let mut query = alert_channels::table
        .filter(alert_channels::id.eq(id))
        .select(ChannelRow::as_select())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(alert_channels::owner_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// Inserts a channel with its sealed values still empty (they are bound to the new id); `None`
/// when the owner already has a channel of that name.
pub async fn insert_channel(
    conn: &mut AsyncPgConnection,
    owner: i64,
    kind: ChannelKind,
    name: &str,
    url_hint: &str,
) -> QueryResult<Option<ChannelRow>> {
    diesel::insert_into(alert_channels::table)
        .values((
            alert_channels::owner_id.eq(owner),
            alert_channels::kind.eq(kind.as_str()),
            alert_channels::name.eq(name),
            alert_channels::url_sealed.eq(Vec::<u8>::new()),
            alert_channels::url_hint.eq(url_hint),
        ))
        .on_conflict_do_nothing()
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_channel_secrets(
    conn: &mut AsyncPgConnection,
    id: i64,
    url_sealed: &[u8],
    secret_sealed: Option<&[u8]>,
) -> QueryResult<()> {
    diesel::update(alert_channels::table.filter(alert_channels::id.eq(id)))
        .set((
            alert_channels::url_sealed.eq(url_sealed),
            alert_channels::secret_sealed.eq(secret_sealed),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_channel_enabled(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    enabled: bool,
) -> QueryResult<Option<ChannelRow>> {
    diesel::update(
        alert_channels::table
            .filter(alert_channels::id.eq(id))
            .filter(alert_channels::owner_id.eq(owner)),
    )
    .set((
        alert_channels::enabled.eq(enabled),
        alert_channels::updated_at.eq(diesel::dsl::now),
    ))
    .returning(ChannelRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn delete_channel(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<ChannelRow>> {
    diesel::delete(
        alert_channels::table
            .filter(alert_channels::id.eq(id))
            .filter(alert_channels::owner_id.eq(owner)),
    )
    .returning(ChannelRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn count_channels(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<i64> {
    alert_channels::table
        .filter(alert_channels::owner_id.eq(owner))
        .count()
        .get_result(conn)
        .await
}
