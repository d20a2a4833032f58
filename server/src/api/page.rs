//! Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.
//!
//! A cursor is opaque to clients (base64url of the last item's key); lists are ordered by
//! that key, so a page stays stable while items are added or removed before it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items a page holds.
pub const MAX_LIMIT: usize = 1000;

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The page a list request asks for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page's size (400 outside 1–1000).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {MAX_LIMIT}."
            ))),
        }
    }

    /// The key after which this page starts (400 for a cursor this API did not give out).
    pub fn after(&self) -> Result<Option<i64>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("`cursor` is not one this API gave out.".into()))
    }

    /// The page of `items` (in any order) this query asks for, ordered by `key` (unique).
    pub fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> i64) -> Result<Page<T>, ApiError> {
        let limit = self.limit()?;
        let after = self.after()?;
        items.sort_by_key(|item| key(item));
        let mut rest: Vec<T> = items
            .into_iter()
            .filter(|item| after.is_none_or(|a| key(item) > a))
            .collect();
        let next_cursor = if rest.len() > limit {
            rest.truncate(limit);
            rest.last()
                .map(|last| URL_SAFE_NO_PAD.encode(key(last).to_string()))
        } else {
            None
        };
        Ok(Page {
            items: rest,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_cursor_to_the_end() -> Result<(), ApiError> {
        let items: Vec<i64> = (1..=25).rev().collect();
        let mut query = PageQuery {
            limit: Some(10),
            cursor: None,
        };
        let mut seen = Vec::new();
        loop {
            let page = query.page(items.clone(), |i| *i)?;
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
        let bad = PageQuery {
            limit: Some(0),
            cursor: None,
        };
        assert!(bad.page(items.clone(), |i| *i).is_err());
        let forged = PageQuery {
            limit: None,
            cursor: Some("not a cursor!".into()),
        };
        assert!(forged.page(items, |i| *i).is_err());
        Ok(())
    }
}
