//! `kiln api login | logout | whoami`: a token for this machine, kept in the user's
//! configuration file (`config`), checked against `GET /api/v1/me`, revoked on logout.

use std::io::{BufRead, IsTerminal, Write};

use kiln_shared::api_tokens::{
    ApiToken, PasswordLogin, TOKEN_PREFIX_CHARS, TokenCreated, TokenInput, well_formed,
};
use reqwest::Method;

use super::config::{self, Profile};
use super::error::{CliError, Exit};
use super::http::Api;
use crate::api::tokens::Me;

/// What `kiln api login` was asked.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Login {
    /// The Kiln's URL (https:// unless given, e.g. http://127.0.0.1:8080).
    pub url: String,
    /// The username [default: asked on the terminal].
    #[arg(long, value_name = "NAME", conflicts_with = "token_stdin")]
    pub user: Option<String>,
    /// The new token's name [default: cli-<host>-<date>-<time>, unique per login].
    #[arg(long, value_name = "NAME", conflicts_with = "token_stdin")]
    pub token_name: Option<String>,
    /// Make a token that may only read.
    #[arg(long, conflicts_with = "token_stdin")]
    pub read_only: bool,
    /// Days until the token stops working [default: never].
    #[arg(long, value_name = "N", conflicts_with = "token_stdin")]
    pub expires_in_days: Option<u32>,
    /// Use a token made in Settings → API tokens, read from standard input, instead of a
    /// password.
    #[arg(long)]
    pub token_stdin: bool,
}

/// The first line of standard input, trimmed of its line end.
fn stdin_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failed(format!("cannot read standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// This machine's name, for the default token name.
fn host_name() -> String {
    let name: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .take(32)
        .collect();
    if name.is_empty() {
        "host".to_owned()
    } else {
        name
    }
}

/// `cli-<host>-<UTC date>-<time>`: tells the user's tokens apart in Settings, and a second
/// login from the same machine does not collide with the first.
pub fn default_token_name() -> String {
    format!(
        "cli-{}-{}",
        host_name(),
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    )
}

/// Signs in: a new token (or the one given on standard input), checked with `GET /me`, then
/// stored. Prints who is signed in.
pub async fn login(args: Login) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    let anonymous = Api::new(&args.url, None)?;
    let url = anonymous.base().to_owned();
    let token = if args.token_stdin {
        if interactive {
            eprintln!("Paste the token (Settings → API tokens), then Enter:");
        }
        let token = stdin_line()?.trim().to_owned();
        if !well_formed(&token) {
            return Err(CliError::usage(
                "standard input does not hold a Kiln API token (kiln_ and 43 characters)",
            ));
        }
        token
    } else {
        let username = match args.user {
            Some(user) => user,
            None if interactive => {
                eprint!("Username: ");
                let _ = std::io::stderr().flush();
                stdin_line()?.trim().to_owned()
            }
            None => {
                return Err(CliError::usage(
                    "--user is required when standard input is not a terminal",
                ));
            }
        };
        let password = if interactive {
            rpassword::prompt_password(format!("Password for {username} at {url}: "))
                .map_err(|e| CliError::failed(format!("cannot read the password: {e}")))?
        } else {
            stdin_line()?
        };
        let body = serde_json::to_value(PasswordLogin {
            username,
            password,
            token: TokenInput {
                name: args.token_name.unwrap_or_else(default_token_name),
                read_only: args.read_only,
                expires_in_days: args.expires_in_days,
            },
        })
        .map_err(|e| CliError::failed(format!("cannot encode the login: {e}")))?;
        let answer = anonymous
            .call(Method::POST, "/auth/token", Some(&body), None)
            .await?;
        let created: TokenCreated = serde_json::from_value(answer.body).map_err(|e| {
            CliError::failed(format!("Kiln's answer to the login is not a token: {e}"))
        })?;
        created.secret
    };
    let api = Api::new(&url, Some(token.clone()))?;
    let me: Me = api.get_as("/me").await?;
    let path = config::path()?;
    config::write(&path, &Profile { url, token })?;
    println!("{}", describe(&me, api.base()));
    eprintln!("kiln: saved to {}", path.display());
    Ok(())
}

/// `alice (administrator) at https://kiln.example, token cli-laptop (read-only)`.
fn describe(me: &Me, url: &str) -> String {
    format!(
        "{}{} at {url}, token {}{}",
        me.user.username,
        if me.user.is_admin {
            " (administrator)"
        } else {
            ""
        },
        me.token,
        if me.read_only { " (read-only)" } else { "" }
    )
}

/// Who the stored (or environment's) token acts as.
pub async fn whoami(json: bool) -> Result<(), CliError> {
    let api = Api::signed_in()?;
    let me = api.get("/me").await?;
    if json {
        println!("{me}");
        return Ok(());
    }
    let me: Me = serde_json::from_value(me)
        .map_err(|e| CliError::failed(format!("Kiln's answer to /me is unexpected: {e}")))?;
    println!("{}", describe(&me, api.base()));
    Ok(())
}

/// The id of the token `secret` among the user's tokens: the one named `name` whose prefix
/// is the secret's first characters.
pub fn token_id(tokens: &[ApiToken], secret: &str, name: &str) -> Option<i64> {
    let prefix: String = secret.chars().take(TOKEN_PREFIX_CHARS).collect();
    tokens
        .iter()
        .find(|t| t.prefix == prefix && t.name == name)
        .map(|t| t.id)
}

/// Revokes the token in use and removes the configuration file. A token Kiln already refuses
/// counts as revoked; an unreachable Kiln keeps the file (the token still works) and exits 7.
pub async fn logout() -> Result<(), CliError> {
    let api = Api::signed_in()?;
    let path = config::path()?;
    let revoked = revoke_current(&api).await;
    match revoked {
        Ok(name) => eprintln!("kiln: revoked the token {name}"),
        Err(e) if e.exit == Exit::Auth => {
            eprintln!("kiln: Kiln no longer accepts this token ({})", e.message);
        }
        Err(e) => return Err(e),
    }
    if config::remove(&path)? {
        eprintln!("kiln: removed {}", path.display());
    }
    println!("signed out of {}", api.base());
    Ok(())
}

async fn revoke_current(api: &Api) -> Result<String, CliError> {
    let me: Me = api.get_as("/me").await?;
    let tokens: Vec<ApiToken> = api.get_as("/tokens").await?;
    let secret = api.token().unwrap_or_default();
    let id = token_id(&tokens, secret, &me.token).ok_or_else(|| {
        CliError::new(
            Exit::NotFound,
            format!("the token {} is not among the user's tokens", me.token),
        )
    })?;
    api.call(Method::DELETE, &format!("/tokens/{id}"), None, None)
        .await?;
    Ok(me.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_token_is_found_by_name_and_prefix() {
        let token = |id: i64, name: &str, prefix: &str| ApiToken {
            id,
            name: name.into(),
            prefix: prefix.into(),
            read_only: false,
            created_at: String::new(),
            expires_at: None,
            last_used_at: None,
            expired: false,
        };
        let secret = format!("kiln_AbCdEfG{}", "x".repeat(36));
        let tokens = [
            token(1, "laptop", "kiln_AbCdEfG"),
            token(2, "ci", "kiln_AbCdEfG"),
            token(3, "ci", "kiln_Zzzzzzz"),
        ];
        assert_eq!(token_id(&tokens, &secret, "ci"), Some(2));
        assert_eq!(token_id(&tokens, &secret, "other"), None);
        let name = default_token_name();
        assert!(name.starts_with("cli-"), "{name}");
        assert!(kiln_shared::api_tokens::token_name(&name).is_ok(), "{name}");
    }
}
