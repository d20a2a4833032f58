//! `TestApp`: the real router over a private schema and Redis prefix, driven in-process.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use http_body_util::BodyExt;
use kiln_server::app_state::AppState;
use kiln_server::auth::service::AuthService;
use kiln_server::config::{Config, Overrides};
use kiln_server::db::{self, DbPool};
use tower::ServiceExt;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub const PASSWORD: &str = "correct horse battery";

pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A random lower-case suffix for schema names and key prefixes.
pub fn unique() -> String {
    let token = kiln_server::auth::tokens::random_token().unwrap_or_default();
    token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    schema: String,
    prefix: String,
    /// The database URL without the schema (to drop it at the end).
    admin_url: String,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    /// The body as text (lossy).
    pub body: String,
    /// The body as sent (for downloads).
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The session id from `Set-Cookie` (`kiln_session`, or `__Host-kiln_session` when
    /// `Secure`), if one was set to a non-empty value.
    pub fn session(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix("kiln_session=")
                    .or_else(|| v.strip_prefix("__Host-kiln_session="))
            })
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new() -> Result<TestApp, Box<dyn std::error::Error + Send + Sync>> {
        Self::with_config(|_| {}).await
    }

    /// A test app whose configuration `tweak` may change (e.g. short session timeouts).
    pub async fn with_config(
        tweak: impl FnOnce(&mut Config),
    ) -> Result<TestApp, Box<dyn std::error::Error + Send + Sync>> {
        Self::with_services(&database_url(), &redis_url(), tweak).await
    }

    /// A test app over the given PostgreSQL (a database the test may create a schema in) and
    /// Redis, e.g. private ones a test stops.
    pub async fn with_services(
        database: &str,
        redis: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<TestApp, Box<dyn std::error::Error + Send + Sync>> {
        let key = kiln_server::crypto::SecretKey::generate()?;
        Self::with_key(database, redis, tweak, key).await
    }

    /// [`TestApp::with_services`] with a given secret key (one a `kiln` child process shares
    /// through `KILN_SECRET_KEY`).
    pub async fn with_key(
        database: &str,
        redis: &str,
        tweak: impl FnOnce(&mut Config),
        key: kiln_server::crypto::SecretKey,
    ) -> Result<TestApp, Box<dyn std::error::Error + Send + Sync>> {
        let schema = format!("kiln_test_{}", unique());
        let mut admin = AsyncPgConnection::establish(database).await?;
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await?;
        let url = with_search_path(database, &schema);
        let pool: DbPool = db::pool(&url, 4)?;
        db::migrate(&pool).await?;

        let prefix = format!("kiln-test-{}:", unique());
        let redis = kiln_server::redis_pool::pool(redis)?;
        let no_env = |_: &str| None::<String>;
        let mut config = Config::load_from(&Overrides::default(), &no_env)?;
        config.redis_prefix = prefix.clone();
        // Files Kiln writes (the SSH key, known_hosts) go to a private temp directory.
        config.data_dir = std::env::temp_dir().join(format!("kiln-test-data-{}", unique()));
        std::fs::create_dir_all(&config.data_dir)?;
        config.database_url = Some(url);
        tweak(&mut config);
        kiln_server::crypto::verify_key(&pool, &key).await?;
        let state = AppState::new(config, pool, redis, kiln_app::Assets::default(), key);
        Ok(TestApp {
            router: kiln_server::http::router(state.clone()),
            state,
            schema,
            prefix,
            admin_url: database.to_owned(),
        })
    }

    /// Sends a request from 192.0.2.1 (or `ip`).
    pub async fn send_from(
        &self,
        ip: [u8; 4],
        mut req: Request<Body>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        let response: Response<Body> = self.router.clone().oneshot(req).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        })
    }

    pub async fn get(
        &self,
        path: &str,
        session: Option<&str>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let mut req = Request::get(path);
        if let Some(id) = session {
            req = req.header(header::COOKIE, format!("kiln_session={id}"));
        }
        self.send_from([192, 0, 2, 1], req.body(Body::empty())?)
            .await
    }

    /// Calls a server function the way the browser's client does (form-encoded POST).
    pub async fn call(
        &self,
        name: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        self.call_from([192, 0, 2, 1], name, form, session).await
    }

    pub async fn call_from(
        &self,
        ip: [u8; 4],
        name: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let mut req = Request::post(format!("/api/fn/{name}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header("sec-fetch-site", "same-origin");
        if let Some(id) = session {
            req = req.header(header::COOKIE, format!("kiln_session={id}"));
        }
        self.send_from(ip, req.body(Body::from(encode(form)))?)
            .await
    }

    /// Calls a server function declared with `input = server_fn::codec::Json`: `args` is the
    /// JSON object of its arguments, by name.
    pub async fn call_json(
        &self,
        name: &str,
        args: &serde_json::Value,
        session: Option<&str>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let mut req = Request::post(format!("/api/fn/{name}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("sec-fetch-site", "same-origin");
        if let Some(id) = session {
            req = req.header(header::COOKIE, format!("kiln_session={id}"));
        }
        self.send_from(
            [192, 0, 2, 1],
            req.body(Body::from(serde_json::to_vec(args)?))?,
        )
        .await
    }

    /// Inserts a node row named `name` owned by user `owner_id` straight into the table (no
    /// Proxmox behind it); returns its id.
    pub async fn insert_node(
        &self,
        owner_id: i64,
        name: &str,
    ) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = self.state.db.get().await?;
        let row = db::nodes::insert(
            &mut conn,
            &db::nodes::NewNode {
                owner_id,
                name,
                host: "192.0.2.10",
                port: 8006,
                is_cluster: false,
                fingerprint: "AB:CD",
                token_id: "root@pam!kiln",
                token_secret: &[],
                is_lab: false,
            },
        )
        .await?
        .ok_or("node name taken")?;
        Ok(row.id)
    }

    /// Creates a user directly (as `kiln user create` does).
    pub async fn create_user(&self, name: &str, admin: bool) -> TestResult {
        AuthService::new(self.state.clone())
            .create_user_cli(name, PASSWORD, admin)
            .await?;
        Ok(())
    }

    /// Signs in and returns the session id.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let reply = self
            .call("login", &[("username", name), ("password", password)], None)
            .await?;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {name}: {}",
            reply.body
        );
        reply.session().ok_or_else(|| "no session cookie".into())
    }

    /// The audit log, newest first, as (action, outcome, actor_name).
    pub async fn audit(
        &self,
    ) -> Result<Vec<(String, String, Option<String>)>, Box<dyn std::error::Error + Send + Sync>>
    {
        let mut conn = self.state.db.get().await?;
        let rows = db::audit::recent(&mut conn, 100).await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.action, r.outcome, r.actor_name))
            .collect())
    }

    /// Drops the schema and the Redis keys this test made.
    pub async fn cleanup(self) -> TestResult {
        drop(self.router);
        let mut conn = self.state.redis.get().await?;
        let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: () = deadpool_redis::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await?;
        }
        self.state.db.close();
        let _ = std::fs::remove_dir_all(&self.state.config.data_dir);
        let mut admin = AsyncPgConnection::establish(&self.admin_url).await?;
        diesel::sql_query(format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}

/// Adds `options=-c search_path=<schema>` to a PostgreSQL URL.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

fn encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sleeps (for expiry tests).
pub async fn wait(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

/// The message on `field` of a 422 answer (the test fails on any other status).
pub fn field_error(
    reply: &Reply,
    field: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body)?;
    body["detail"][field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no error on {field}: {}", reply.body).into())
}
