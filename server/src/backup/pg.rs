//! The database side of a backup: Debian's `pg_dump` / `pg_restore` (from the same directory
//! as the private cluster's `postgres`), the schema Kiln's tables live in, and its migration
//! version.
//!
//! A password in a `postgres://` URL is handed to the tools through `PGPASSWORD`, never on
//! their command line (where `ps` shows it).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use zeroize::Zeroizing;

/// The PostgreSQL client tools of one installation.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Where `pg_dump` and `pg_restore` are (`/usr/lib/postgresql/<v>/bin`).
    bin_dir: PathBuf,
}

impl Tools {
    /// The tools beside the configured (or the newest Debian) PostgreSQL.
    pub fn find(configured: Option<&Path>) -> anyhow::Result<Tools> {
        let bin_dir = crate::embedded::postgres::find_bin_dir(configured)?;
        for tool in ["pg_dump", "pg_restore"] {
            if !bin_dir.join(tool).exists() {
                bail!(
                    "no `{tool}` in {} (Debian's postgresql-client package has it)",
                    bin_dir.display()
                );
            }
        }
        Ok(Tools { bin_dir })
    }

    /// `pg_dump` of `schema` in the custom format to `out`.
    pub async fn dump(&self, url: &str, schema: &str, out: &Path) -> anyhow::Result<()> {
        self.run(
            "pg_dump",
            url,
            &[
                "--format=custom".into(),
                format!("--schema={}", quote_ident(schema)),
                format!("--file={}", out.display()),
            ],
        )
        .await
    }

    /// `pg_restore` of a custom-format dump, all or nothing.
    pub async fn restore(&self, url: &str, dump: &Path) -> anyhow::Result<()> {
        self.run(
            "pg_restore",
            url,
            &[
                "--no-owner".into(),
                "--no-privileges".into(),
                "--single-transaction".into(),
                "--exit-on-error".into(),
                dump.display().to_string(),
            ],
        )
        .await
    }

    async fn run(&self, tool: &str, url: &str, args: &[String]) -> anyhow::Result<()> {
        let (url, password) = split_password(url);
        let mut command = tokio::process::Command::new(self.bin_dir.join(tool));
        command
            .args(args)
            .arg(format!("--dbname={url}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("PGPASSWORD")
            .kill_on_drop(true);
        if let Some(password) = &password {
            command.env("PGPASSWORD", password.as_str());
        }
        let output = command
            .output()
            .await
            .with_context(|| format!("running {}", self.bin_dir.join(tool).display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // A CONTEXT line can quote a row's data: not repeated here.
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.trim_start().starts_with("CONTEXT:"))
                .collect();
            bail!(
                "{tool} failed ({}):\n{}\n(a server newer than this {tool} needs a newer \
                 PostgreSQL client: set KILN_POSTGRES_BIN_DIR to its bin directory)",
                output.status,
                lines[lines.len().saturating_sub(12)..].join("\n")
            );
        }
        Ok(())
    }
}

/// `url` without its password, and the password (percent-decoded). Only `postgres://` and
/// `postgresql://` URLs carry one this way; `key=value` strings are returned as they are.
pub fn split_password(url: &str) -> (String, Option<Zeroizing<String>>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some(colon) = authority[..at].find(':') else {
        return (url.to_owned(), None);
    };
    let password = percent_encoding::percent_decode_str(&authority[colon + 1..at])
        .decode_utf8_lossy()
        .into_owned();
    let stripped = format!(
        "{}{}{}",
        &url[..scheme_end],
        &authority[..colon],
        &rest[at..]
    );
    (stripped, Some(Zeroizing::new(password)))
}

/// `name` as a quoted SQL identifier (also a `pg_dump --schema` pattern matching exactly it).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A connection for the few statements around a dump or a restore.
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("connecting to PostgreSQL")
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

/// The schema Kiln's tables are in: the connection's current schema.
pub async fn current_schema(conn: &mut AsyncPgConnection) -> anyhow::Result<Option<String>> {
    let row: Name = diesel::sql_query("SELECT current_schema() AS name")
        .get_result(conn)
        .await?;
    Ok(row.name)
}

/// The newest migration applied in `schema` (`None`: Kiln never ran on it).
pub async fn schema_version(
    conn: &mut AsyncPgConnection,
    schema: &str,
) -> anyhow::Result<Option<String>> {
    if !table_exists(conn, schema, "__diesel_schema_migrations").await? {
        return Ok(None);
    }
    let row: Name = diesel::sql_query(format!(
        "SELECT max(version) AS name FROM {}.__diesel_schema_migrations",
        quote_ident(schema)
    ))
    .get_result(conn)
    .await?;
    Ok(row.name)
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn table_exists(
    conn: &mut AsyncPgConnection,
    schema: &str,
    table: &str,
) -> anyhow::Result<bool> {
    let row: Exists = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2) AS exists",
    )
    .bind::<Text, _>(schema)
    .bind::<Text, _>(table)
    .get_result(conn)
    .await?;
    Ok(row.exists)
}

/// Whether `schema` exists.
pub async fn schema_exists(conn: &mut AsyncPgConnection, schema: &str) -> anyhow::Result<bool> {
    let row: Exists = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists",
    )
    .bind::<Text, _>(schema)
    .get_result(conn)
    .await?;
    Ok(row.exists)
}

/// `ALTER SCHEMA from RENAME TO to`.
pub async fn rename_schema(
    conn: &mut AsyncPgConnection,
    from: &str,
    to: &str,
) -> anyhow::Result<()> {
    conn.batch_execute(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    ))
    .await
    .with_context(|| format!("renaming the schema {from} to {to}"))
}

/// `DROP SCHEMA IF EXISTS name CASCADE`.
pub async fn drop_schema(conn: &mut AsyncPgConnection, name: &str) -> anyhow::Result<()> {
    conn.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(name)
    ))
    .await
    .with_context(|| format!("dropping the schema {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        let (url, password) = split_password("postgres://kiln:s%40cret:x@db.example:5432/kiln");
        assert_eq!(url, "postgres://kiln@db.example:5432/kiln");
        assert_eq!(password.as_deref().map(String::as_str), Some("s@cret:x"));
        let (url, password) = split_password("postgresql://kiln@db/kiln?sslmode=require");
        assert_eq!(url, "postgresql://kiln@db/kiln?sslmode=require");
        assert!(password.is_none());
        let (url, password) = split_password("host=/run/pg user=postgres dbname=kiln");
        assert_eq!(url, "host=/run/pg user=postgres dbname=kiln");
        assert!(password.is_none());
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
