//! `kiln`: the command line. Parses arguments, loads the configuration, and hands over to
//! `kiln_server::runtime`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kiln_server::config::{Config, Overrides};
use kiln_server::{runtime, telemetry};

/// Kiln: turn reviewed templates into running, provisioned LXC containers on Proxmox VE.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    /// A TOML configuration file (keys in the README; environment variables win over it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web console (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DataArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Serve a simulated Proxmox VE node over HTTPS (no PostgreSQL/Redis needed).
    Lab(Box<kiln_server::lab::LabArgs>),
    /// Check or show template folders (no PostgreSQL/Redis needed), or test-run a template.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Write the database and the secret key to one archive (mode 600; keep it like a password).
    Backup(BackupArgs),
    /// Replace the database and the secret key with a backup's (Kiln must be stopped).
    Restore(BackupArgs),
    /// Sign in to a Kiln's REST API from this machine (for `kiln ct`).
    #[command(subcommand)]
    Api(kiln_server::client::ApiCommand),
    /// Your containers on a Kiln, through its REST API (sign in with `kiln api login`).
    #[command(subcommand)]
    Ct(kiln_server::client::CtCommand),
}

#[derive(Debug, Args)]
struct BackupArgs {
    /// The archive (`.tar.gz`); `backup` never overwrites one.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// Print the findings of a template folder (or a folder of them); exit 1 on any error.
    Lint {
        /// A template folder (holding template.conf) or a folder of template folders.
        dir: PathBuf,
    },
    /// Print a template folder as parsed.
    Show {
        /// The template folder.
        dir: PathBuf,
        /// Print JSON (the only format for now).
        #[arg(long)]
        json: bool,
    },
    /// Test-run a template (from the catalog, or a template folder): a throwaway container
    /// from its defaults, with this process's job workers; prints the events; exit 0 on
    /// pass, 1 on fail.
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// A template's slug (built-in templates are synced first), or a template folder (a
    /// path holding template.conf, e.g. `./my-app`): checked, then imported as the user's
    /// custom template of the folder's name (created, or updated when it is theirs already).
    template: String,
    /// The user whose node runs it [default: the first administrator].
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// The node, by name [default: the user's default node].
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Keep the container after the report (else it is deleted).
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Address to listen on [env: KILN_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Job worker tasks; 0 runs no jobs here [env: KILN_JOB_WORKERS] [default: 4].
    #[arg(long, value_name = "N")]
    job_workers: Option<String>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args, Default)]
struct DataArgs {
    /// Where Kiln keeps its data [env: KILN_DATA_DIR] [default: ./kiln-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is asked on the terminal, or read from standard input.
    Create {
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// The username.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(Command::Lab(args)) => return lab(*args, cli.log_json),
        // API clients: no configuration, database or logging of their own.
        Some(Command::Api(command)) => return kiln_server::client::api(command),
        Some(Command::Ct(command)) => return kiln_server::client::ct(command),
        Some(Command::Template(command)) if !matches!(command, TemplateCommand::Test(_)) => {
            return template(command);
        }
        other => other,
    };
    let (listen, data_dir, job_workers) = match &command {
        Some(Command::Template(TemplateCommand::Test(args))) => {
            (None, args.data.data_dir.clone(), None)
        }
        None | Some(Command::Lab(_)) | Some(Command::Template(_)) => (None, None, None),
        Some(Command::Api(_) | Command::Ct(_)) => (None, None, None),
        Some(Command::Serve(args)) => (
            args.listen.clone(),
            args.data.data_dir.clone(),
            args.job_workers.clone(),
        ),
        Some(Command::Migrate(args))
        | Some(Command::Backup(BackupArgs { data: args, .. }))
        | Some(Command::Restore(BackupArgs { data: args, .. }))
        | Some(Command::User(UserCommand::Create { data: args, .. })) => {
            (None, args.data_dir.clone(), None)
        }
    };
    let overrides = Overrides {
        config_file: cli.config.clone(),
        listen,
        data_dir,
        log_json: cli.log_json,
        job_workers,
    };
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kiln: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `block_on` runs on this (main) thread, which is where child services must be spawned.
    let result = runtime.block_on(async move {
        match command {
            Some(Command::Template(TemplateCommand::Test(args))) => {
                let passed = runtime::test_template(
                    config,
                    runtime::TestTarget::of(&args.template),
                    args.user.as_deref(),
                    args.node.as_deref(),
                    args.keep,
                )
                .await?;
                Ok(if passed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            None | Some(Command::Lab(_)) | Some(Command::Template(_)) => {
                runtime::serve(config).await.map(|()| ExitCode::SUCCESS)
            }
            Some(Command::Api(_) | Command::Ct(_)) => Ok(ExitCode::from(2)),
            Some(Command::Serve(_)) => runtime::serve(config).await.map(|()| ExitCode::SUCCESS),
            Some(Command::Migrate(_)) => runtime::migrate(config).await.map(|()| ExitCode::SUCCESS),
            Some(Command::Backup(args)) => runtime::backup(config, &args.file)
                .await
                .map(|()| ExitCode::SUCCESS),
            Some(Command::Restore(args)) => runtime::restore(config, &args.file)
                .await
                .map(|()| ExitCode::SUCCESS),
            Some(Command::User(UserCommand::Create { admin, name, .. })) => {
                let password = read_password()?;
                runtime::create_user(config, &name, &password, admin)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiln: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `kiln lab`: the simulated Proxmox VE node; needs no configuration, database or Redis.
/// Runs a one-shot `kiln lab` command on a current-thread runtime; errors as one line.
fn lab_command(
    what: &str,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(work));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn lab(args: kiln_server::lab::LabArgs, log_json: bool) -> ExitCode {
    if let Some(kiln_server::lab::LabCommand::Image(command)) = args.command {
        // Progress goes to stderr as plain lines: no logging set up.
        return lab_command("kiln lab image", kiln_server::lab::image_command(command));
    }
    if let Some(kiln_server::lab::LabCommand::Down) = args.command {
        let Some(data_dir) = args.data_dir else {
            eprintln!("kiln lab down: --data-dir (or KILN_LAB_DATA_DIR) is required");
            return ExitCode::from(2);
        };
        return lab_command("kiln lab down", kiln_server::lab::down(&data_dir));
    }
    if let Some(kiln_server::lab::LabCommand::Pct(command)) = args.command {
        // `pct` output is for scripts: no logging set up, the exit status passes through.
        let Some(data_dir) = args.data_dir else {
            eprintln!("kiln lab pct: --data-dir (or KILN_LAB_DATA_DIR) is required");
            return ExitCode::from(2);
        };
        return ExitCode::from(kiln_server::lab::pct::run(&data_dir, command));
    }
    telemetry::init(if log_json {
        kiln_server::config::LogFormat::Json
    } else {
        kiln_server::config::LogFormat::Human
    });
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(kiln_server::lab::run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `kiln template lint|show`: reads folders only; needs no configuration, database or Redis
/// (`test` goes through the configuration, see `main`).
fn template(command: TemplateCommand) -> ExitCode {
    use kiln_server::templates::{lint, parse_folder};
    use kiln_shared::templates::Severity;
    match command {
        TemplateCommand::Lint { dir } => {
            let results = lint::lint_path(&dir);
            let mut errors = 0usize;
            for (folder, findings) in &results {
                for finding in findings {
                    if finding.severity == Severity::Error {
                        errors += 1;
                    }
                    println!("{}", lint::format_finding(folder, finding));
                }
            }
            let count = results.len();
            let templates = if count == 1 { "template" } else { "templates" };
            if errors == 0 {
                eprintln!("{count} {templates}, no errors");
                ExitCode::SUCCESS
            } else {
                eprintln!("{count} {templates}, {errors} error(s)");
                ExitCode::FAILURE
            }
        }
        TemplateCommand::Show { dir, json: _ } => {
            let (template, findings) = parse_folder(&dir);
            for finding in &findings {
                eprintln!("{}", lint::format_finding(&dir, finding));
            }
            let Some(template) = template else {
                return ExitCode::FAILURE;
            };
            match serde_json::to_string_pretty(&template) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kiln template show: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        TemplateCommand::Test(_) => {
            eprintln!("kiln template test: needs the configuration (a bug: it came here)");
            ExitCode::FAILURE
        }
    }
}

/// Asks twice on a terminal; otherwise reads the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            anyhow::bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        Ok(input.lines().next().unwrap_or_default().to_owned())
    }
}
