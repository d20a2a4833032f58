//! `kiln ct list | show | start | stop | shutdown | reboot | delete | services`: the user's
//! containers through `/api/v1/containers`, as aligned columns or the API's JSON.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::create::job_of;
use super::error::{CliError, Exit};
use super::follow;
use super::http::Api;
use super::table::{cell, pairs, render};

/// How long `kiln ct delete --wait` waits for a deletion it cannot follow as a job.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(600);

/// The summary inside a container's JSON (`ContainerDetail` nests it under `summary`).
fn summary(container: &Value) -> &Value {
    container.get("summary").unwrap_or(container)
}

/// The list of an answer: a JSON array, or the array under `key` (or `items`).
fn items<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer
        .as_array()
        .or_else(|| answer.get(key).and_then(Value::as_array))
        .or_else(|| answer.get("items").and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

/// Whether a container matches `--node` (name or id) and `--status` (Kiln's status, the
/// list's state or the power state).
pub fn matches(container: &Value, node: Option<&str>, status: Option<&str>) -> bool {
    let s = summary(container);
    let text = |key: &str| cell(s.get(key));
    let node_ok = node.is_none_or(|n| text("node_name") == n || text("node_id") == n);
    let status_ok = status.is_none_or(|st| {
        ["status", "state", "power"]
            .iter()
            .any(|key| text(key) == st)
    });
    node_ok && status_ok
}

/// `kiln ct list`.
pub async fn list(
    api: &Api,
    json: bool,
    node: Option<&str>,
    status: Option<&str>,
) -> Result<(), CliError> {
    let all = api.all_pages("/containers").await?;
    let chosen: Vec<&Value> = all.iter().filter(|c| matches(c, node, status)).collect();
    if json {
        println!("{}", Value::Array(chosen.into_iter().cloned().collect()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = chosen
        .iter()
        .map(|c| {
            let s = summary(c);
            let state = s.get("state").or_else(|| s.get("power"));
            let mut row: Vec<String> =
                ["id", "hostname", "node_name", "vmid", "template", "status"]
                    .iter()
                    .map(|key| cell(s.get(*key)))
                    .collect();
            row.push(cell(state));
            row.push(cell(s.get("address")));
            row
        })
        .collect();
    println!(
        "{}",
        render(
            &[
                "ID", "HOSTNAME", "NODE", "VMID", "TEMPLATE", "STATUS", "STATE", "ADDRESS"
            ],
            &rows
        )
    );
    Ok(())
}

/// `kiln ct show`.
pub async fn show(api: &Api, id: i64, json: bool) -> Result<(), CliError> {
    let container = api.get(&format!("/containers/{id}")).await?;
    if json {
        println!("{container}");
        return Ok(());
    }
    let s = summary(&container);
    let mut lines: Vec<(&str, String)> = [
        ("id", "id"),
        ("hostname", "hostname"),
        ("node", "node_name"),
        ("vmid", "vmid"),
        ("template", "template"),
        ("status", "status"),
        ("power", "power"),
        ("address", "address"),
        ("created", "created_at"),
    ]
    .into_iter()
    .map(|(label, key)| (label, cell(s.get(key))))
    .collect();
    if let Some(phase) = container.get("phase").filter(|p| !p.is_null()) {
        lines.push(("phase", cell(Some(phase))));
    }
    if s.get("error").is_some_and(|e| !e.is_null()) {
        lines.push(("error", cell(s.get("error"))));
    }
    println!("{}", pairs(&lines));
    let services = items(&container, "services");
    if !services.is_empty() {
        println!("\n{}", services_table(services));
    }
    Ok(())
}

fn services_table(services: &[Value]) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            ["name", "unit", "state", "ports", "web_url", "credentials"]
                .iter()
                .map(|key| cell(s.get(*key)))
                .collect()
        })
        .collect();
    render(
        &["SERVICE", "UNIT", "STATE", "PORTS", "URL", "CREDENTIALS"],
        &rows,
    )
}

/// `kiln ct services`.
pub async fn services(api: &Api, id: i64, json: bool) -> Result<(), CliError> {
    let answer = api.get(&format!("/containers/{id}/services")).await?;
    if json {
        println!("{answer}");
        return Ok(());
    }
    let services = items(&answer, "services");
    if services.is_empty() {
        println!("no services found in container {id}");
    } else {
        println!("{}", services_table(services));
    }
    Ok(())
}

/// `kiln ct start | stop | shutdown | reboot`: the answer's message; exit 1 when the action
/// did not do what was asked (`ok: false`). A power action answers once it is done; when
/// Kiln answers with a job instead, `--wait` follows it.
pub async fn act(api: &Api, id: i64, action: &str, wait: bool) -> Result<(), CliError> {
    let answer = api
        .call(
            Method::POST,
            &format!("/containers/{id}/actions/{action}"),
            None,
            None,
        )
        .await?
        .body;
    let message = answer
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| format!("{action}: container {id}"), str::to_owned);
    if let (true, Some(job)) = (wait, job_of(&answer)) {
        println!("{message}");
        return finished(follow::follow(api, job, false).await?, action);
    }
    if answer.get("ok").and_then(Value::as_bool) == Some(false) {
        return Err(CliError::failed(message));
    }
    println!("{message}");
    Ok(())
}

fn finished(ended: follow::Ended, what: &str) -> Result<(), CliError> {
    if ended.succeeded() {
        Ok(())
    } else {
        Err(CliError::failed(format!("{what}: {}", ended.line())))
    }
}

/// Asks on the terminal whether to delete `what`; only `y`/`yes` agree.
fn confirm(what: &str) -> Result<bool, CliError> {
    eprint!("Delete {what}? Its disk goes with it. [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failed(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `kiln ct delete`: confirmed on a terminal unless `yes`; refused without `yes` elsewhere.
/// `wait` follows the deletion job, or, when Kiln names none, waits until the container is
/// gone (404).
pub async fn delete(api: &Api, id: i64, yes: bool, wait: bool) -> Result<(), CliError> {
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(
                "refusing to delete without --yes when standard input is not a terminal",
            ));
        }
        let container = api.get(&format!("/containers/{id}")).await?;
        let s = summary(&container);
        let what = format!(
            "container {id} ({} on {})",
            cell(s.get("hostname")),
            cell(s.get("node_name"))
        );
        if !confirm(&what)? {
            return Err(CliError::failed("not deleted"));
        }
    }
    let answer = api
        .call(Method::DELETE, &format!("/containers/{id}"), None, None)
        .await?
        .body;
    println!(
        "container {id} is being deleted{}",
        job_of(&answer).map_or_else(String::new, |job| format!("; job {job}"))
    );
    if !wait {
        return Ok(());
    }
    if let Some(job) = job_of(&answer) {
        return finished(follow::poll(api, job).await?, "the deletion");
    }
    let deadline = Instant::now() + DELETE_TIMEOUT;
    loop {
        match api.get(&format!("/containers/{id}")).await {
            Err(e) if e.exit == Exit::NotFound => {
                println!("deleted");
                return Ok(());
            }
            Err(e) => return Err(e),
            Ok(container) => {
                let s = summary(&container);
                if s.get("status").and_then(Value::as_str) == Some("failed") {
                    return Err(CliError::failed(format!(
                        "the deletion failed: {}",
                        cell(s.get("error"))
                    )));
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::failed(format!(
                "container {id} was not gone within {} s",
                DELETE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn filters_and_shapes() {
        let c = json!({"id": 1, "hostname": "web", "node_id": 3, "node_name": "lab",
            "status": "ready", "state": "running"});
        assert!(matches(&c, None, None));
        assert!(matches(&c, Some("lab"), Some("ready")));
        assert!(matches(&c, Some("3"), Some("running")));
        assert!(!matches(&c, Some("pve"), None));
        assert!(!matches(&c, None, Some("failed")));
        let detail = json!({"summary": c, "services": [{"name": "nginx", "ports": [80]}]});
        assert!(matches(&detail, Some("lab"), None));
        assert_eq!(items(&detail, "services").len(), 1);
        assert_eq!(items(&json!([1, 2]), "services").len(), 2);
        assert_eq!(items(&json!({"items": [1]}), "services").len(), 1);
        let table = services_table(items(&detail, "services"));
        assert!(table.starts_with("SERVICE"), "{table}");
        assert!(table.contains("nginx"), "{table}");
    }
}
