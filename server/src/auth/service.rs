//! `AuthService`: the server side of sign-in, setup, sign-out, passwords and user
//! administration — the implementation of the app's `Backend` trait.
//!
//! Every method validates its own input with the `kiln_shared::validate` rules and decides who
//! may call it (user administration: administrators only). Every state-changing action writes
//! one `audit_log` row (including refused sign-ins).

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use kiln_app::ssr::{AuthBackend, RequestCtx, SetCookie};
use kiln_shared::api_tokens::{ApiToken, TokenCreated, TokenInput};
use kiln_shared::auth::{Actor, CurrentUser, UserSummary};

use crate::auth::api_tokens::ApiTokens;
use kiln_shared::{AppError, FieldErrors, validate};
use serde_json::json;

use crate::app_state::AppState;
use crate::auth::{cookie, password};
use crate::db::audit::{Entry, Outcome};
use crate::db::users::{self, NewUser};
use crate::errors::{self, TxError};

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
        self.state.audit(entry).await;
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

    /// Hashes on the hashing threads (`AppState::hashing`: one per core; each argon2 run
    /// holds 19 MiB, so a burst of requests waits in their queue instead of exhausting memory).
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        let password = password.to_owned();
        self.state
            .hashing
            .run(move || password::hash(&password))
            .await
            .ok_or_else(|| errors::internal("hashing a password", "no hashing thread"))?
            .map_err(|e| errors::internal("hashing a password", e))
    }

    /// Verifies (or spends the same time on a dummy hash), on the same threads as [`hash`].
    async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, AppError> {
        let password = password.to_owned();
        self.state
            .hashing
            .run(move || match hash {
                Some(hash) => password::verify(&password, &hash),
                None => {
                    password::verify_dummy(&password);
                    false
                }
            })
            .await
            .ok_or_else(|| errors::internal("verifying a password", "no hashing thread"))
    }

    /// Reserves one password attempt for `username` from `ip` (see `rate_limit`); past the
    /// limit the attempt is refused with 429, logged and audited as `action`.
    async fn reserve_attempt(
        &self,
        username: &str,
        ip: &str,
        action: &str,
    ) -> Result<(), AppError> {
        let limit = self
            .state
            .limiter
            .reserve(username, ip)
            .await
            .map_err(|e| errors::redis("checking sign-in limits", e))?;
        let Err(retry_after_secs) = limit else {
            return Ok(());
        };
        tracing::warn!(user.name = ?username, client.ip = %ip, "{action} refused: too many wrong passwords");
        self.audit(Entry {
            actor_name: Some(username),
            source_ip: Some(ip),
            outcome: Outcome::Denied,
            detail: json!({ "reason": "rate_limited" }),
            ..Entry::new(action)
        })
        .await;
        Err(AppError::RateLimited { retry_after_secs })
    }

    /// The rules for a new account's name and password (and its repetition, where the form
    /// has one); returns the normalized name.
    fn check_new_account(
        username: &str,
        password: &str,
        confirm: Option<&str>,
    ) -> Result<String, AppError> {
        let username = validate::normalize_username(username);
        let mut errors = FieldErrors::default();
        errors.check("username", validate::username(&username));
        errors.check("password", validate::new_password(password));
        if let Some(confirm) = confirm {
            errors.check(
                "confirm",
                validate::password_confirmation(password, confirm),
            );
        }
        errors.into_result()?;
        Ok(username)
    }

    /// Gives the first administrator the lab node `./kiln.sh up` started, as their default
    /// node, with SSH set up when the lab has it (`nodes::lab`). Best effort: Kiln works
    /// without it.
    async fn register_lab_node(&self, admin: &Actor) {
        let Some(lab) = self.state.config.lab_node.clone() else {
            return;
        };
        let input = kiln_shared::nodes::NodeInput {
            name: "lab".into(),
            host: lab.host.clone(),
            port: lab.port,
            is_cluster: false,
            fingerprint: lab.fingerprint.clone(),
            token_id: lab.token_id.clone(),
            token_secret: lab.token_secret.0.clone(),
        };
        let node = match crate::nodes::NodeService::new(self.state.clone())
            .add_lab_node(admin, input)
            .await
        {
            Ok(node) => node,
            Err(e) => {
                tracing::warn!(error = %e, "could not register the lab node");
                return;
            }
        };
        tracing::info!(node.name = %node.name, "registered the lab node");
        let ssh =
            crate::nodes::lab::setup_ssh(&self.state, admin, admin.user_id, node.id, &lab).await;
        crate::nodes::lab::log_outcome(&node.name, ssh);
    }

    /// Checks a username and password as a sign-in does — bounded, rate-limited per user and
    /// address, the same time spent for an unknown user, a disabled account answered like a
    /// wrong password, a refusal audited as `action` — and returns the user. The caller audits
    /// the success (with what it opened: a session, a token).
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: &str,
        ip: &str,
        action: &str,
    ) -> Result<CurrentUser, AppError> {
        // Bounded before anything is looked up, counted, logged or audited.
        let username = validate::normalize_username(username);
        validate::sign_in(&username, password).into_result()?;
        let username = username.as_str();
        self.reserve_attempt(username, ip, action).await?;
        let mut conn = self.conn().await?;
        let row = users::by_username(&mut conn, username)
            .await
            .map_err(|e| errors::db("looking up a user", e))?;
        drop(conn);
        let ok = self
            .verify(password, row.as_ref().map(|r| r.password_hash.clone()))
            .await?;
        // A disabled account answers exactly like a wrong password (the audit row says why).
        let row = match row {
            Some(row) if ok && !row.disabled => row,
            row => {
                let disabled = row.as_ref().is_some_and(|r| ok && r.disabled);
                tracing::info!(user.name = ?username, client.ip = %ip, "{action} failed: wrong username or password");
                self.audit(Entry {
                    actor_id: row.as_ref().filter(|_| disabled).map(|r| r.id),
                    actor_name: Some(username),
                    source_ip: Some(ip),
                    outcome: if disabled {
                        Outcome::Denied
                    } else {
                        Outcome::Failed
                    },
                    detail: if disabled {
                        json!({ "reason": "disabled" })
                    } else {
                        json!({})
                    },
                    ..Entry::new(action)
                })
                .await;
                return Err(AppError::LoginFailed);
            }
        };
        if let Err(e) = self.state.limiter.succeeded(username, ip).await {
            tracing::warn!(error = %e, "clearing sign-in attempts failed");
        }
        Ok(CurrentUser::from(&row))
    }

    /// Creates a user from the command line (`kiln user create`), audited as the system.
    pub async fn create_user_cli(
        &self,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError> {
        let username = &Self::check_new_account(username, password, None)?;
        let hash = self.hash(password).await?;
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
            detail: json!({ "is_admin": is_admin }),
            ..Entry::by(&Actor::system("cli"), "user.create").on(username)
        })
        .await;
        Ok(row.into())
    }
}

#[async_trait]
impl AuthBackend for AuthService {
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
        confirm: &str,
    ) -> Result<SetCookie, AppError> {
        use diesel_async::RunQueryDsl;

        let username = Self::check_new_account(username, password, Some(confirm))?;
        let username = username.as_str();

        let hash = self.hash(password).await?;
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
        let actor = Actor::user(&user, ctx.client_ip.clone());
        tracing::info!(user.name = ?user.username, "first administrator created");
        self.register_lab_node(&actor).await;
        self.audit(Entry::by(&actor, "setup.admin").on(&user.username))
            .await;
        self.open_session(ctx, &user).await
    }

    async fn login(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError> {
        let user = self
            .check_password(username, password, &ctx.client_ip, "login")
            .await?;
        // Rotate: whatever session the browser had before ends now.
        if let (Some(old), Some(old_user)) = (&ctx.session_id, &ctx.user) {
            let _ = self.state.sessions.delete(old, old_user.id).await;
        }
        let cookie = self.open_session(ctx, &user).await?;
        if let Ok(mut conn) = self.state.db.get().await {
            let _ = users::touch_login(&mut conn, user.id).await;
        }
        self.audit(Entry {
            actor_id: Some(user.id),
            actor_name: Some(&user.username),
            source_ip: Some(&ctx.client_ip),
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
        actor: &Actor,
        keep_session: Option<&str>,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<(), AppError> {
        let mut errors = FieldErrors::default();
        if current.is_empty() {
            errors.add("current", "Enter your current password.");
        }
        errors.check("password", validate::new_password(new));
        errors.check("confirm", validate::password_confirmation(new, confirm));
        errors.into_result()?;
        if current.len() > validate::PASSWORD_MAX_BYTES {
            return Err(AppError::invalid(
                "current",
                "The current password is wrong.",
            ));
        }
        // Guessing the current password is limited like sign-in.
        self.reserve_attempt(&actor.username, &actor.address, "user.password")
            .await?;
        let mut conn = self.conn().await?;
        let row = users::by_id(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("looking up a user", e))?
            .ok_or(AppError::Unauthorized)?;
        drop(conn);
        if !self.verify(current, Some(row.password_hash)).await? {
            self.audit(Entry {
                outcome: Outcome::Failed,
                ..Entry::by(actor, "user.password")
            })
            .await;
            return Err(AppError::invalid(
                "current",
                "The current password is wrong.",
            ));
        }
        if let Err(e) = self
            .state
            .limiter
            .succeeded(&actor.username, &actor.address)
            .await
        {
            tracing::warn!(error = %e, "clearing password attempts failed");
        }
        let hash = self.hash(new).await?;
        let mut conn = self.conn().await?;
        users::set_password(&mut conn, actor.user_id, &hash)
            .await
            .map_err(|e| errors::db("changing a password", e))?;
        // The password is changed: a session store failure now is logged, not answered (a
        // session cannot be used while the store is down anyway).
        let ended = match self
            .state
            .sessions
            .delete_all_for(actor.user_id, keep_session)
            .await
        {
            Ok(ended) => ended,
            Err(e) => {
                tracing::error!(error = %e, user.id = actor.user_id, "ending other sessions after a password change failed");
                0
            }
        };
        self.audit(Entry {
            detail: json!({ "other_sessions_ended": ended }),
            ..Entry::by(actor, "user.password").on(&actor.username)
        })
        .await;
        Ok(())
    }

    async fn list_users(&self, actor: &Actor) -> Result<Vec<UserSummary>, AppError> {
        actor.require_admin()?;
        let mut conn = self.conn().await?;
        let rows = users::list(&mut conn)
            .await
            .map_err(|e| errors::db("listing users", e))?;
        Ok(rows.into_iter().map(UserSummary::from).collect())
    }

    async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError> {
        actor.require_admin()?;
        let username = &Self::check_new_account(username, password, None)?;
        let hash = self.hash(password).await?;
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
            detail: json!({ "is_admin": is_admin }),
            ..Entry::by(actor, "user.create").on(username)
        })
        .await;
        Ok(row.into())
    }

    async fn set_user_disabled(
        &self,
        actor: &Actor,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError> {
        actor.require_admin()?;
        if disabled && user_id == actor.user_id {
            return Err(AppError::Conflict(
                "You cannot disable your own account.".into(),
            ));
        }
        let mut pooled = self.conn().await?;
        let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
        let target = conn
            .transaction::<_, TxError, _>(async |conn| {
                // The last-administrator check and the change are one transaction over the
                // locked administrator rows: two administrators cannot disable each other.
                let admins = users::lock_active_admins(conn).await?;
                let target = users::by_id(conn, user_id)
                    .await?
                    .ok_or_else(|| AppError::NotFound("No such user.".into()))?;
                if disabled && target.is_admin && admins.iter().all(|&id| id == user_id) {
                    return Err(AppError::Conflict(
                        "At least one administrator must stay enabled.".into(),
                    )
                    .into());
                }
                users::set_disabled(conn, user_id, disabled).await?;
                Ok(target)
            })
            .await
            .map_err(|e| e.into_app("updating a user"))?;
        drop(pooled);
        // The gate refuses a disabled user's sessions (also one a sign-in in flight opens
        // after this); then the existing ones are removed.
        self.state
            .sessions
            .set_user_disabled(user_id, disabled)
            .await
            .map_err(|e| errors::redis("marking a disabled user", e))?;
        if disabled {
            self.state
                .sessions
                .delete_all_for(user_id, None)
                .await
                .map_err(|e| errors::redis("ending a disabled user's sessions", e))?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.audit(Entry::by(actor, action).on(&target.username))
            .await;
        Ok(())
    }

    async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, AppError> {
        ApiTokens::new(self.state.clone()).list(actor).await
    }

    async fn create_token(
        &self,
        actor: &Actor,
        input: &TokenInput,
    ) -> Result<TokenCreated, AppError> {
        ApiTokens::new(self.state.clone())
            .create(actor, input)
            .await
    }

    async fn revoke_token(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        ApiTokens::new(self.state.clone()).revoke(actor, id).await
    }
}
