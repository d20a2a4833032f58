//! `AuthService`: the server side of sign-in, setup, sign-out, passwords and user
//! administration — the implementation of the app's `Backend` trait.
//!
//! Every state-changing action writes one `audit_log` row (including refused sign-ins).

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use kiln_app::ssr::{Backend, RequestCtx, SetCookie};
use kiln_shared::AppError;
use kiln_shared::auth::{CurrentUser, UserSummary};
use serde_json::json;

use crate::app_state::AppState;
use crate::auth::{cookie, password};
use crate::db::audit::{self, Entry, Outcome};
use crate::db::users::{self, NewUser};
use crate::errors;

#[derive(Clone, Debug)]
pub struct AuthService {
    /// Pools, stores and configuration.
    state: AppState,
}

impl AuthService {
    pub fn new(state: AppState) -> Self {
        AuthService { state }
    }

    async fn conn(&self) -> Result<crate::db::DbConn, AppError> {
        self.state.conn().await
    }

    async fn audit(&self, entry: Entry<'_>) {
        audit::record_logged(&self.state.db, entry).await;
    }

    /// The session cookie (`__Host-kiln_session` when `Secure`; see `auth::cookie`).
    fn cookie(&self, ctx: &RequestCtx, value: &str, max_age: u64) -> SetCookie {
        let secure = cookie::is_secure(self.state.config.cookie_secure, ctx.https);
        cookie::session(secure, value, max_age)
    }

    /// Opens a session and returns its cookie.
    async fn open_session(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
    ) -> Result<SetCookie, AppError> {
        let id = self
            .state
            .sessions
            .create(user)
            .await
            .map_err(|e| errors::redis("creating a session", e))?;
        Ok(self.cookie(ctx, &id, self.state.sessions.absolute().as_secs()))
    }

    async fn hash(password: &str) -> Result<String, AppError> {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(|e| errors::internal("hashing a password", e))?
            .map_err(|e| errors::internal("hashing a password", e))
    }

    async fn verify(password: &str, hash: Option<String>) -> Result<bool, AppError> {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => password::verify(&password, &hash),
            None => {
                password::verify_dummy(&password);
                false
            }
        })
        .await
        .map_err(|e| errors::internal("verifying a password", e))
    }

    fn require_admin(actor: &CurrentUser) -> Result<(), AppError> {
        if actor.is_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "Only an administrator can do this.".into(),
            ))
        }
    }

    /// Gives the first administrator the lab node `./kiln.sh up` started, as their default
    /// node. Best effort: Kiln works without it.
    async fn register_lab_node(&self, user: &CurrentUser) {
        let Some(lab) = self.state.config.lab_node.clone() else {
            return;
        };
        let input = kiln_shared::nodes::NodeInput {
            name: "lab".into(),
            host: lab.host,
            port: lab.port,
            is_cluster: false,
            fingerprint: lab.fingerprint,
            token_id: lab.token_id,
            token_secret: lab.token_secret.0,
        };
        match crate::nodes::NodeService::new(self.state.clone())
            .add_lab_node(user, input)
            .await
        {
            Ok(node) => tracing::info!(node.name = %node.name, "registered the lab node"),
            Err(e) => tracing::warn!(error = %e, "could not register the lab node"),
        }
    }

    /// Creates a user from the command line (`kiln user create`), audited as the system.
    pub async fn create_user_cli(
        &self,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError> {
        let hash = Self::hash(password).await?;
        let mut conn = self.conn().await?;
        let row = users::insert(
            &mut conn,
            &NewUser {
                username,
                password_hash: &hash,
                is_admin,
            },
        )
        .await
        .map_err(|e| errors::db("creating a user", e))?
        .ok_or_else(|| AppError::invalid("username", "That username is taken."))?;
        self.state.has_users.store(true, Ordering::Release);
        self.audit(Entry {
            actor_name: Some("cli"),
            target: Some(username),
            detail: json!({ "is_admin": is_admin }),
            ..Entry::new("user.create")
        })
        .await;
        Ok(row.into())
    }
}

#[async_trait]
impl Backend for AuthService {
    async fn needs_setup(&self) -> Result<bool, AppError> {
        self.state
            .has_users()
            .await
            .map(|has| !has)
            .map_err(|e| errors::db("checking for users", e))
    }

    async fn setup_admin(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError> {
        use diesel_async::AsyncConnection;
        use diesel_async::RunQueryDsl;

        let hash = Self::hash(password).await?;
        let mut conn = self.conn().await?;
        let conn: &mut diesel_async::AsyncPgConnection = &mut conn;
        let created = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                // Serialises concurrent first-run submissions: only one can create the admin.
                diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *conn)
                    .await?;
                if users::any_exist(conn).await? {
                    return Ok(None);
                }
                users::insert(
                    conn,
                    &NewUser {
                        username,
                        password_hash: &hash,
                        is_admin: true,
                    },
                )
                .await
            })
            .await
            .map_err(|e| errors::db("creating the first administrator", e))?;
        let Some(row) = created else {
            self.state.has_users.store(true, Ordering::Release);
            return Err(AppError::Conflict(
                "Kiln is already set up. Sign in instead.".into(),
            ));
        };
        self.state.has_users.store(true, Ordering::Release);
        let user = CurrentUser::from(&row);
        tracing::info!(user.name = %user.username, "first administrator created");
        self.register_lab_node(&user).await;
        self.audit(Entry {
            actor_id: Some(user.id),
            actor_name: Some(&user.username),
            target: Some(&user.username),
            source_ip: Some(&ctx.client_ip),
            ..Entry::new("setup.admin")
        })
        .await;
        self.open_session(ctx, &user).await
    }

    async fn login(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError> {
        let ip = ctx.client_ip.as_str();
        let limit = self
            .state
            .limiter
            .check(username, ip)
            .await
            .map_err(|e| errors::redis("checking sign-in limits", e))?;
        if let Err(retry_after_secs) = limit {
            tracing::warn!(user.name = %username, client.ip = %ip, "sign-in refused: too many wrong passwords");
            self.audit(Entry {
                actor_name: Some(username),
                source_ip: Some(ip),
                outcome: Outcome::Denied,
                detail: json!({ "reason": "rate_limited" }),
                ..Entry::new("login")
            })
            .await;
            return Err(AppError::RateLimited { retry_after_secs });
        }
        let mut conn = self.conn().await?;
        let row = users::by_username(&mut conn, username)
            .await
            .map_err(|e| errors::db("looking up a user", e))?;
        drop(conn);
        let ok = Self::verify(password, row.as_ref().map(|r| r.password_hash.clone())).await?;
        let row = match row {
            Some(row) if ok => row,
            _ => {
                self.state
                    .limiter
                    .record_failure(username, ip)
                    .await
                    .map_err(|e| errors::redis("counting a failed sign-in", e))?;
                tracing::info!(user.name = %username, client.ip = %ip, "sign-in failed: wrong username or password");
                self.audit(Entry {
                    actor_name: Some(username),
                    source_ip: Some(ip),
                    outcome: Outcome::Failed,
                    ..Entry::new("login")
                })
                .await;
                return Err(AppError::LoginFailed);
            }
        };
        if row.disabled {
            self.audit(Entry {
                actor_id: Some(row.id),
                actor_name: Some(username),
                source_ip: Some(ip),
                outcome: Outcome::Denied,
                detail: json!({ "reason": "disabled" }),
                ..Entry::new("login")
            })
            .await;
            return Err(AppError::Forbidden(
                "This account is disabled. Ask an administrator.".into(),
            ));
        }
        // Rotate: whatever session the browser had before ends now.
        if let (Some(old), Some(old_user)) = (&ctx.session_id, &ctx.user) {
            let _ = self.state.sessions.delete(old, old_user.id).await;
        }
        let user = CurrentUser::from(&row);
        let cookie = self.open_session(ctx, &user).await?;
        if let Err(e) = self.state.limiter.clear_user(username).await {
            tracing::warn!(error = %e, "clearing sign-in failures failed");
        }
        if let Ok(mut conn) = self.state.db.get().await {
            let _ = users::touch_login(&mut conn, user.id).await;
        }
        self.audit(Entry {
            actor_id: Some(user.id),
            actor_name: Some(&user.username),
            source_ip: Some(ip),
            ..Entry::new("login")
        })
        .await;
        Ok(cookie)
    }

    async fn logout(&self, ctx: &RequestCtx, everywhere: bool) -> Result<SetCookie, AppError> {
        let (Some(id), Some(user)) = (&ctx.session_id, &ctx.user) else {
            return Err(AppError::Unauthorized);
        };
        let sessions = &self.state.sessions;
        let result = if everywhere {
            sessions.delete_all_for(user.id, None).await.map(|_| ())
        } else {
            sessions.delete(id, user.id).await
        };
        result.map_err(|e| errors::redis("ending a session", e))?;
        self.audit(Entry {
            actor_id: Some(user.id),
            actor_name: Some(&user.username),
            source_ip: Some(&ctx.client_ip),
            detail: json!({ "everywhere": everywhere }),
            ..Entry::new("logout")
        })
        .await;
        Ok(self.cookie(ctx, "", 0))
    }

    async fn change_password(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        current: &str,
        new: &str,
    ) -> Result<(), AppError> {
        let mut conn = self.conn().await?;
        let row = users::by_id(&mut conn, user.id)
            .await
            .map_err(|e| errors::db("looking up a user", e))?
            .ok_or(AppError::Unauthorized)?;
        drop(conn);
        if !Self::verify(current, Some(row.password_hash)).await? {
            self.audit(Entry {
                actor_id: Some(user.id),
                actor_name: Some(&user.username),
                source_ip: Some(&ctx.client_ip),
                outcome: Outcome::Failed,
                ..Entry::new("user.password")
            })
            .await;
            return Err(AppError::invalid(
                "current",
                "The current password is wrong.",
            ));
        }
        let hash = Self::hash(new).await?;
        let mut conn = self.conn().await?;
        users::set_password(&mut conn, user.id, &hash)
            .await
            .map_err(|e| errors::db("changing a password", e))?;
        let ended = self
            .state
            .sessions
            .delete_all_for(user.id, ctx.session_id.as_deref())
            .await
            .map_err(|e| errors::redis("ending other sessions", e))?;
        self.audit(Entry {
            actor_id: Some(user.id),
            actor_name: Some(&user.username),
            target: Some(&user.username),
            source_ip: Some(&ctx.client_ip),
            detail: json!({ "other_sessions_ended": ended }),
            ..Entry::new("user.password")
        })
        .await;
        Ok(())
    }

    async fn list_users(&self, actor: &CurrentUser) -> Result<Vec<UserSummary>, AppError> {
        Self::require_admin(actor)?;
        let mut conn = self.conn().await?;
        let rows = users::list(&mut conn)
            .await
            .map_err(|e| errors::db("listing users", e))?;
        Ok(rows.into_iter().map(UserSummary::from).collect())
    }

    async fn create_user(
        &self,
        ctx: &RequestCtx,
        actor: &CurrentUser,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError> {
        Self::require_admin(actor)?;
        let hash = Self::hash(password).await?;
        let mut conn = self.conn().await?;
        let row = users::insert(
            &mut conn,
            &NewUser {
                username,
                password_hash: &hash,
                is_admin,
            },
        )
        .await
        .map_err(|e| errors::db("creating a user", e))?
        .ok_or_else(|| AppError::invalid("username", "That username is taken."))?;
        self.audit(Entry {
            actor_id: Some(actor.id),
            actor_name: Some(&actor.username),
            target: Some(username),
            source_ip: Some(&ctx.client_ip),
            detail: json!({ "is_admin": is_admin }),
            ..Entry::new("user.create")
        })
        .await;
        Ok(row.into())
    }

    async fn set_user_disabled(
        &self,
        ctx: &RequestCtx,
        actor: &CurrentUser,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError> {
        Self::require_admin(actor)?;
        if disabled && user_id == actor.id {
            return Err(AppError::Conflict(
                "You cannot disable your own account.".into(),
            ));
        }
        let mut conn = self.conn().await?;
        let target = users::by_id(&mut conn, user_id)
            .await
            .map_err(|e| errors::db("looking up a user", e))?
            .ok_or_else(|| AppError::NotFound("No such user.".into()))?;
        if disabled && target.is_admin {
            let others = users::other_active_admins(&mut conn, user_id)
                .await
                .map_err(|e| errors::db("counting administrators", e))?;
            if others == 0 {
                return Err(AppError::Conflict(
                    "At least one administrator must stay enabled.".into(),
                ));
            }
        }
        users::set_disabled(&mut conn, user_id, disabled)
            .await
            .map_err(|e| errors::db("updating a user", e))?;
        drop(conn);
        if disabled {
            self.state
                .sessions
                .delete_all_for(user_id, None)
                .await
                .map_err(|e| errors::redis("ending a disabled user's sessions", e))?;
        }
        self.audit(Entry {
            actor_id: Some(actor.id),
            actor_name: Some(&actor.username),
            target: Some(&target.username),
            source_ip: Some(&ctx.client_ip),
            ..Entry::new(if disabled {
                "user.disable"
            } else {
                "user.enable"
            })
        })
        .await;
        Ok(())
    }
}
