//! Configuration: defaults, then an optional TOML file (`--config`), then environment
//! variables, then command-line flags. Every key is documented in the README.
//!
//! Bad configuration fails at start with one line naming the key (see [`ConfigError`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

mod lab;
mod proxies;
mod templates;

pub use lab::{LabNode, LabSsh};

/// How the process logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected \"human\" or \"json\"".into()),
        }
    }
}

/// When the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// When the request came over HTTPS, as a trusted proxy says (`trusted_proxies`).
    Auto,
    Always,
    Never,
}

impl FromStr for CookieSecure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(CookieSecure::Auto),
            "always" | "true" => Ok(CookieSecure::Always),
            "never" | "false" => Ok(CookieSecure::Never),
            _ => Err("expected \"auto\", \"always\" or \"never\"".into()),
        }
    }
}

/// The resolved configuration of a `kiln serve` (and of the admin subcommands).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Everything Kiln keeps on disk lives under here (private databases, keys, ...).
    pub data_dir: PathBuf,
    /// An external PostgreSQL; `None` runs a private cluster under `data_dir`.
    pub database_url: Option<String>,
    /// Connections in the database pool.
    pub database_pool_size: usize,
    /// An external Redis; `None` runs a private `redis-server` under `data_dir`.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key Kiln writes, so several installs (or tests) can share a server.
    pub redis_prefix: String,
    /// Log output format.
    pub log_format: LogFormat,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, whatever the activity.
    pub session_absolute: Duration,
    /// When the session cookie is marked `Secure`.
    pub cookie_secure: CookieSecure,
    /// Wrong passwords per minute (per user and per address) before sign-in answers 429.
    pub login_max_failures: u32,
    /// Where the system's `initdb`/`postgres` live; `None` searches the usual places.
    pub postgres_bin_dir: Option<PathBuf>,
    /// The `redis-server` binary for the private Redis.
    pub redis_server_bin: PathBuf,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// A request that has no answer (its response head) after this long is answered 503.
    pub request_timeout: Duration,
    /// Reverse proxies whose forwarding headers are believed (client address, https).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The key for secrets at rest (base64); `None` uses `<data dir>/secret.key`.
    pub secret_key: Option<Redacted>,
    /// A lab node to register for the first administrator (set by `./kiln.sh up`).
    pub lab_node: Option<LabNode>,
    /// Template roots (`KILN_TEMPLATE_DIRS`); their folders sync as source `folder`.
    pub template_dirs: Vec<PathBuf>,
    /// The built-in template set; its folders sync as source `builtin`. `None`: the set
    /// embedded in the binary (extracted to `<data dir>/builtin-templates` at start).
    pub builtin_templates_dir: Option<PathBuf>,
    /// Job worker tasks in `kiln serve` (`jobs::Workers`); 0 runs no jobs in this process
    /// (another replica runs them).
    pub job_workers: usize,
    /// How often the monitor polls each node (`None`: it does not run).
    pub monitor_interval: Option<Duration>,
    /// How long each tier of the resource history is kept.
    pub retention: crate::monitor::Retention,
    /// Requests per minute one API token may make (`/api/v1`); past it, 429.
    pub api_rate_limit: u32,
}

/// A configuration value that is never printed.
#[derive(Clone)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A configuration problem, printed as one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("configuration file {path}: {message}")]
    File { path: String, message: String },
}

impl ConfigError {
    fn key(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// The keys of the TOML file. Unknown keys are refused, so a typo does not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    database_pool_size: Option<u64>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    log_format: Option<String>,
    session_idle_secs: Option<u64>,
    session_absolute_secs: Option<u64>,
    cookie_secure: Option<String>,
    login_max_failures: Option<u64>,
    postgres_bin_dir: Option<String>,
    redis_server_bin: Option<String>,
    shutdown_grace_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    trusted_proxies: Option<proxies::AddressList>,
    secret_key: Option<String>,
    lab_node: Option<String>,
    lab_token: Option<String>,
    lab_fingerprint: Option<String>,
    lab_ssh: Option<String>,
    lab_ssh_host_key: Option<String>,
    lab_authorized_keys: Option<String>,
    template_dirs: Option<String>,
    builtin_templates_dir: Option<String>,
    job_workers: Option<u64>,
    monitor_interval_secs: Option<u64>,
    retain_raw_hours: Option<u64>,
    retain_minutes_days: Option<u64>,
    retain_hours_days: Option<u64>,
    retain_days_years: Option<u64>,
    api_rate_limit: Option<u64>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_json: bool,
    /// `kiln serve --job-workers N`.
    pub job_workers: Option<String>,
}

/// Where values come from besides the file: the process environment, or a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// One key: its TOML name and its environment variable.
struct Key {
    toml: &'static str,
    env: &'static str,
}

const LISTEN: Key = Key {
    toml: "listen",
    env: "KILN_LISTEN",
};
const DATA_DIR: Key = Key {
    toml: "data_dir",
    env: "KILN_DATA_DIR",
};
const DATABASE_URL: Key = Key {
    toml: "database_url",
    env: "DATABASE_URL",
};
const DATABASE_POOL_SIZE: Key = Key {
    toml: "database_pool_size",
    env: "KILN_DATABASE_POOL_SIZE",
};
const REDIS_URL: Key = Key {
    toml: "redis_url",
    env: "REDIS_URL",
};
const REDIS_PREFIX: Key = Key {
    toml: "redis_prefix",
    env: "KILN_REDIS_PREFIX",
};
const LOG_FORMAT: Key = Key {
    toml: "log_format",
    env: "KILN_LOG_FORMAT",
};
const SESSION_IDLE: Key = Key {
    toml: "session_idle_secs",
    env: "KILN_SESSION_IDLE_SECS",
};
const SESSION_ABSOLUTE: Key = Key {
    toml: "session_absolute_secs",
    env: "KILN_SESSION_ABSOLUTE_SECS",
};
const COOKIE_SECURE: Key = Key {
    toml: "cookie_secure",
    env: "KILN_COOKIE_SECURE",
};
const LOGIN_MAX_FAILURES: Key = Key {
    toml: "login_max_failures",
    env: "KILN_LOGIN_MAX_FAILURES",
};
const POSTGRES_BIN_DIR: Key = Key {
    toml: "postgres_bin_dir",
    env: "KILN_POSTGRES_BIN_DIR",
};
const REDIS_SERVER_BIN: Key = Key {
    toml: "redis_server_bin",
    env: "KILN_REDIS_SERVER_BIN",
};
const SECRET_KEY: Key = Key {
    toml: "secret_key",
    env: "KILN_SECRET_KEY",
};
const SHUTDOWN_GRACE: Key = Key {
    toml: "shutdown_grace_secs",
    env: "KILN_SHUTDOWN_GRACE_SECS",
};
const JOB_WORKERS: Key = Key {
    toml: "job_workers",
    env: "KILN_JOB_WORKERS",
};
const MONITOR_INTERVAL: Key = Key {
    toml: "monitor_interval_secs",
    env: "KILN_MONITOR_INTERVAL_SECS",
};
const RETAIN_RAW: Key = Key {
    toml: "retain_raw_hours",
    env: "KILN_RETAIN_RAW_HOURS",
};
const RETAIN_MINUTES: Key = Key {
    toml: "retain_minutes_days",
    env: "KILN_RETAIN_MINUTES_DAYS",
};
const RETAIN_HOURS: Key = Key {
    toml: "retain_hours_days",
    env: "KILN_RETAIN_HOURS_DAYS",
};
const RETAIN_DAYS: Key = Key {
    toml: "retain_days_years",
    env: "KILN_RETAIN_DAYS_YEARS",
};
const API_RATE_LIMIT: Key = Key {
    toml: "api_rate_limit",
    env: "KILN_API_RATE_LIMIT",
};
const REQUEST_TIMEOUT: Key = Key {
    toml: "request_timeout_secs",
    env: "KILN_REQUEST_TIMEOUT_SECS",
};

/// Picks a raw value: the flag, else the environment, else the file.
fn raw(
    key: &Key,
    flag: Option<String>,
    env: &dyn Env,
    file: Option<String>,
) -> Option<(String, String)> {
    flag.map(|v| (format!("--{}", key.toml.replace('_', "-")), v))
        .or_else(|| env.var(key.env).map(|v| (key.env.to_owned(), v)))
        .or_else(|| file.map(|v| (key.toml.to_owned(), v)))
}

/// Parses the value of `key` (reporting the name it was given under), or takes the default.
fn parse<T: FromStr>(
    key: &Key,
    flag: Option<String>,
    env: &dyn Env,
    file: Option<String>,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match raw(key, flag, env, file) {
        None => Ok(default),
        Some((name, value)) => value
            .trim()
            .parse()
            .map_err(|e| ConfigError::key(&name, format!("invalid value {value:?}: {e}"))),
    }
}

fn secs(
    key: &Key,
    env: &dyn Env,
    file: Option<u64>,
    default: u64,
    min: u64,
) -> Result<Duration, ConfigError> {
    let value: u64 = parse(key, None, env, file.map(|v| v.to_string()), default)?;
    if value < min {
        return Err(ConfigError::key(
            key.env,
            format!("must be at least {min} seconds"),
        ));
    }
    Ok(Duration::from_secs(value))
}

impl Config {
    /// Loads the configuration from the process environment.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(overrides, &ProcessEnv)
    }

    /// Loads the configuration with an explicit environment (tests).
    pub fn load_from(overrides: &Overrides, env: &dyn Env) -> Result<Config, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = parse(
            &LISTEN,
            overrides.listen.clone(),
            env,
            file.listen,
            default_listen(),
        )?;
        let data_dir: PathBuf = parse(
            &DATA_DIR,
            overrides.data_dir.as_ref().map(|p| p.display().to_string()),
            env,
            file.data_dir,
            PathBuf::from("kiln-data"),
        )?;
        let database_url = raw(&DATABASE_URL, None, env, file.database_url).map(|(_, v)| v);
        if let Some(url) = &database_url {
            check_url(&DATABASE_URL, url, &["postgres://", "postgresql://"])?;
        }
        let redis_url = raw(&REDIS_URL, None, env, file.redis_url).map(|(_, v)| v);
        if let Some(url) = &redis_url {
            check_url(
                &REDIS_URL,
                url,
                &["redis://", "rediss://", "redis+unix://", "unix://"],
            )?;
        }
        let database_pool_size: usize = parse(
            &DATABASE_POOL_SIZE,
            None,
            env,
            file.database_pool_size.map(|v| v.to_string()),
            16,
        )?;
        if !(1..=512).contains(&database_pool_size) {
            return Err(ConfigError::key(
                DATABASE_POOL_SIZE.env,
                "must be between 1 and 512",
            ));
        }
        let redis_prefix: String =
            parse(&REDIS_PREFIX, None, env, file.redis_prefix, "kiln:".into())?;
        if redis_prefix.is_empty() || redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::key(
                REDIS_PREFIX.env,
                "must be non-empty without spaces",
            ));
        }
        let log_format = if overrides.log_json {
            LogFormat::Json
        } else {
            parse(&LOG_FORMAT, None, env, file.log_format, LogFormat::Human)?
        };
        let session_idle = secs(&SESSION_IDLE, env, file.session_idle_secs, 2 * 3600, 60)?;
        let session_absolute = secs(
            &SESSION_ABSOLUTE,
            env,
            file.session_absolute_secs,
            12 * 3600,
            60,
        )?;
        if session_absolute < session_idle {
            return Err(ConfigError::key(
                SESSION_ABSOLUTE.env,
                "must not be shorter than the idle timeout",
            ));
        }
        let cookie_secure = parse(
            &COOKIE_SECURE,
            None,
            env,
            file.cookie_secure,
            CookieSecure::Auto,
        )?;
        let login_max_failures: u32 = parse(
            &LOGIN_MAX_FAILURES,
            None,
            env,
            file.login_max_failures.map(|v| v.to_string()),
            5,
        )?;
        if login_max_failures == 0 {
            return Err(ConfigError::key(
                LOGIN_MAX_FAILURES.env,
                "must be at least 1",
            ));
        }
        let postgres_bin_dir =
            raw(&POSTGRES_BIN_DIR, None, env, file.postgres_bin_dir).map(|(_, v)| PathBuf::from(v));
        let redis_server_bin = parse(
            &REDIS_SERVER_BIN,
            None,
            env,
            file.redis_server_bin,
            PathBuf::from("redis-server"),
        )?;
        let shutdown_grace = secs(&SHUTDOWN_GRACE, env, file.shutdown_grace_secs, 20, 0)?;
        let request_timeout = secs(&REQUEST_TIMEOUT, env, file.request_timeout_secs, 60, 1)?;
        let trusted_proxies = proxies::trusted_proxies(env, file.trusted_proxies)?;
        let secret_key = raw(&SECRET_KEY, None, env, file.secret_key).map(|(_, v)| Redacted(v));
        let lab_node = lab::lab_node(
            env,
            lab::FileKeys {
                node: file.lab_node,
                token: file.lab_token,
                fingerprint: file.lab_fingerprint,
                ssh: file.lab_ssh,
                ssh_host_key: file.lab_ssh_host_key,
                authorized_keys: file.lab_authorized_keys,
            },
        )?;
        let template_dirs = templates::template_dirs(env, file.template_dirs)?;
        let builtin_templates_dir = templates::builtin_dir(env, file.builtin_templates_dir)?;
        let job_workers: usize = parse(
            &JOB_WORKERS,
            overrides.job_workers.clone(),
            env,
            file.job_workers.map(|v| v.to_string()),
            4,
        )?;
        if job_workers > 256 {
            return Err(ConfigError::key(
                JOB_WORKERS.env,
                "must be between 0 and 256",
            ));
        }
        let interval: u64 = parse(
            &MONITOR_INTERVAL,
            None,
            env,
            file.monitor_interval_secs.map(|v| v.to_string()),
            10,
        )?;
        if interval > 3_600 {
            return Err(ConfigError::key(
                MONITOR_INTERVAL.env,
                "must be between 0 (off) and 3600 seconds",
            ));
        }
        let monitor_interval = (interval > 0).then(|| Duration::from_secs(interval));
        let bounded = |key: &Key, file: Option<u64>, default: u64, min: u64, max: u64| {
            let value: u64 = parse(key, None, env, file.map(|v| v.to_string()), default)?;
            if !(min..=max).contains(&value) {
                return Err(ConfigError::key(
                    key.env,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(value)
        };
        let retention = crate::monitor::Retention {
            raw: Duration::from_secs(
                3_600 * bounded(&RETAIN_RAW, file.retain_raw_hours, 48, 24, 24 * 14)?,
            ),
            minutes: Duration::from_secs(
                86_400 * bounded(&RETAIN_MINUTES, file.retain_minutes_days, 30, 2, 400)?,
            ),
            hours: Duration::from_secs(
                86_400 * bounded(&RETAIN_HOURS, file.retain_hours_days, 365, 31, 3_660)?,
            ),
            days: Duration::from_secs(
                366 * 86_400 * bounded(&RETAIN_DAYS, file.retain_days_years, 10, 1, 100)?,
            ),
        };
        let api_rate_limit =
            bounded(&API_RATE_LIMIT, file.api_rate_limit, 600, 1, 1_000_000)? as u32;
        Ok(Config {
            listen,
            data_dir,
            database_url,
            database_pool_size,
            redis_url,
            redis_prefix,
            log_format,
            session_idle,
            session_absolute,
            cookie_secure,
            login_max_failures,
            postgres_bin_dir,
            redis_server_bin,
            shutdown_grace,
            request_timeout,
            trusted_proxies,
            secret_key,
            lab_node,
            template_dirs,
            builtin_templates_dir,
            job_workers,
            monitor_interval,
            retention,
            api_rate_limit,
        })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn check_url(key: &Key, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    if schemes.iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        // Never echo the URL: it may hold a password.
        Err(ConfigError::key(
            key.env,
            format!("must start with one of {}", schemes.join(", ")),
        ))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: e.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn defaults() -> Result<(), ConfigError> {
        let config = Config::load_from(&Overrides::default(), &env(&[]))?;
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.session_idle, Duration::from_secs(7200));
        assert_eq!(config.session_absolute, Duration::from_secs(43200));
        assert_eq!(config.login_max_failures, 5);
        assert!(config.database_url.is_none());
        assert_eq!(config.job_workers, 4);
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::load_from(&Overrides::default(), &env(&[("KILN_LISTEN", "nope")]))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            matches!(err, Err(ref m) if m.contains("KILN_LISTEN")),
            "{err:?}"
        );
        let err = Config::load_from(
            &Overrides::default(),
            &env(&[("DATABASE_URL", "mysql://u:secret@h/db")]),
        )
        .map_err(|e| e.to_string());
        assert!(matches!(err, Err(ref m) if m.contains("DATABASE_URL") && !m.contains("secret")));
    }

    #[test]
    fn flags_win_over_env_and_file_keys_are_checked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("kiln-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("kiln.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nsession_idle_secs = 600\n",
        )?;
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let config = Config::load_from(&overrides, &env(&[]))?;
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.session_idle, Duration::from_secs(600));
        let config = Config::load_from(&overrides, &env(&[("KILN_LISTEN", "127.0.0.1:9001")]))?;
        assert_eq!(config.listen.port(), 9001);
        let flagged = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..overrides.clone()
        };
        assert_eq!(Config::load_from(&flagged, &env(&[]))?.listen.port(), 9002);

        std::fs::write(&path, "job_workers = 2\n")?;
        assert_eq!(Config::load_from(&overrides, &env(&[]))?.job_workers, 2);
        let config = Config::load_from(&overrides, &env(&[("KILN_JOB_WORKERS", "0")]))?;
        assert_eq!(config.job_workers, 0);
        let flagged = Overrides {
            job_workers: Some("8".into()),
            ..overrides.clone()
        };
        let config = Config::load_from(&flagged, &env(&[("KILN_JOB_WORKERS", "0")]))?;
        assert_eq!(config.job_workers, 8);
        let err = Config::load_from(&overrides, &env(&[("KILN_JOB_WORKERS", "1000")]))
            .map_err(|e| e.to_string());
        assert!(
            matches!(err, Err(ref m) if m.contains("KILN_JOB_WORKERS")),
            "{err:?}"
        );

        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n")?;
        let err = Config::load_from(&overrides, &env(&[])).map_err(|e| e.to_string());
        assert!(matches!(err, Err(ref m) if m.contains("lisen")), "{err:?}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
