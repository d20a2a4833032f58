//! The command line client of the REST API, in the same `kiln` binary: `kiln api login |
//! logout | whoami` (a token for this machine, kept in `~/.config/kiln/cli.toml`) and `kiln
//! ct …` (the user's containers). It talks to any Kiln over HTTP(S) like any other API client
//! and shares only the wire types (`kiln_shared`) with the server.
//!
//! Architecture invariant: nothing here opens the database, Redis or the server's
//! configuration; a command needs only the URL and a token. No token is ever printed or put
//! in an error message.
//!
//! Map: `config` (the file and `KILN_URL`/`KILN_TOKEN`), `http` (the client, retries, error
//! answers → [`error::CliError`] with the documented exit codes), `session` (login, logout,
//! whoami), `nodes` (`--node` by name), `create` (`kiln ct create`), `ct` (the other `ct`
//! commands), `follow` (`--wait` over SSE), `table` (aligned columns).

pub mod config;
pub mod create;
pub mod ct;
pub mod error;
pub mod follow;
pub mod http;
pub mod nodes;
pub mod session;
pub mod table;

use std::process::ExitCode;

use clap::Subcommand;

use error::CliError;
use http::Api;

/// The exit codes, as `--help` shows them (and the README).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the operation failed (a job failed, an action the container's state refused)
  2  usage error
  3  not signed in, or the token was refused (401/403)
  4  not found (404)
  5  conflict or failed precondition (409/412)
  6  invalid input (400/422; each field's message is printed)
  7  Kiln unreachable or unavailable (connection error, 503, 429 after retries)

Environment: KILN_URL and KILN_TOKEN win over the file `kiln api login` writes
($XDG_CONFIG_HOME/kiln/cli.toml, else ~/.config/kiln/cli.toml).";

/// `kiln api …`.
#[derive(Debug, Clone, Subcommand)]
#[command(after_help = EXIT_CODES)]
pub enum ApiCommand {
    /// Sign in to a Kiln: makes an API token with your username and password (asked on the
    /// terminal, else read from standard input) and keeps it in your configuration file.
    #[command(after_help = EXIT_CODES)]
    Login(session::Login),
    /// Revoke the token in use and remove the configuration file.
    #[command(after_help = EXIT_CODES)]
    Logout,
    /// Show the user and token in use.
    #[command(after_help = EXIT_CODES)]
    Whoami {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kiln ct …`.
#[derive(Debug, Clone, Subcommand)]
#[command(after_help = EXIT_CODES)]
pub enum CtCommand {
    /// List your containers.
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        /// Only those on this node (name or id).
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Only those with this status (creating, ready, failed, deleting) or power state
        /// (running, stopped).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
    },
    /// Show one container.
    #[command(after_help = EXIT_CODES)]
    Show {
        id: i64,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a container from a template (exit 0 once accepted; with --wait, once ready).
    #[command(after_help = EXIT_CODES)]
    Create(Box<create::CreateArgs>),
    /// Start a container.
    #[command(after_help = EXIT_CODES)]
    Start(Power),
    /// Stop a container at once.
    #[command(after_help = EXIT_CODES)]
    Stop(Power),
    /// Shut a container down gracefully (exit 1 when it did not stop in time).
    #[command(after_help = EXIT_CODES)]
    Shutdown(Power),
    /// Reboot a container.
    #[command(after_help = EXIT_CODES)]
    Reboot(Power),
    /// Delete a container and its disk (asks first on a terminal; --yes elsewhere).
    #[command(after_help = EXIT_CODES)]
    Delete {
        id: i64,
        /// Do not ask: needed when standard input is not a terminal.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Wait until it is gone.
        #[arg(long)]
        wait: bool,
    },
    /// List the services found in a container.
    #[command(after_help = EXIT_CODES)]
    Services {
        id: i64,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A power action's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Power {
    /// The container's id.
    pub id: i64,
    /// Wait until the action is done (it is when Kiln answers, unless Kiln names a job).
    #[arg(long)]
    pub wait: bool,
}

/// Runs `work` on a current-thread runtime; an error is printed as `kiln: <message>` and
/// becomes its exit code.
fn run(work: impl std::future::Future<Output = Result<(), CliError>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
        .and_then(|rt| rt.block_on(work));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln: {e}");
            e.exit.into()
        }
    }
}

/// `kiln api …`.
pub fn api(command: ApiCommand) -> ExitCode {
    run(async move {
        match command {
            ApiCommand::Login(args) => session::login(args).await,
            ApiCommand::Logout => session::logout().await,
            ApiCommand::Whoami { json } => session::whoami(json).await,
        }
    })
}

/// `kiln ct …`.
pub fn ct(command: CtCommand) -> ExitCode {
    run(async move {
        let api = Api::signed_in()?;
        match command {
            CtCommand::List { json, node, status } => {
                ct::list(&api, json, node.as_deref(), status.as_deref()).await
            }
            CtCommand::Show { id, json } => ct::show(&api, id, json).await,
            CtCommand::Create(args) => create::create(&api, *args).await,
            CtCommand::Start(p) => ct::act(&api, p.id, "start", p.wait).await,
            CtCommand::Stop(p) => ct::act(&api, p.id, "stop", p.wait).await,
            CtCommand::Shutdown(p) => ct::act(&api, p.id, "shutdown", p.wait).await,
            CtCommand::Reboot(p) => ct::act(&api, p.id, "reboot", p.wait).await,
            CtCommand::Delete { id, yes, wait } => ct::delete(&api, id, yes, wait).await,
            CtCommand::Services { id, json } => ct::services(&api, id, json).await,
        }
    })
}
