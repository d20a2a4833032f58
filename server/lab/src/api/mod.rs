//! The HTTP side of the lab: one entry point ([`handle`]) that serves the lab's own routes
//! (`/lab/faults`, `/lab/requests`), counts the call, applies faults, reads the parameters
//! (query string, form or JSON body), authenticates, validates against the schema and
//! dispatches to the handler modules (one per API area).
//!
//! Order, as in PVE: path lookup (501 when unknown) → authentication (401) → CSRF → schema
//! validation (400) → node checks (596 fault, unknown node) → handler.

mod access;
mod cluster;
mod config;
mod lxc;
mod node;
mod power;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response};

pub(crate) use self::lxc::mac;
use super::auth::{self, Principal};
use super::core::{Lab, now};
use super::faults::FaultRequest;
use super::reply::{ApiError, ApiResult, ok, respond};

/// The largest request body the lab reads.
const BODY_LIMIT: usize = 1 << 20;

/// One authenticated, validated call, as the handlers see it.
#[derive(Debug)]
pub struct Call {
    /// The lab.
    pub lab: Arc<Lab>,
    /// The caller.
    pub who: Principal,
    /// Path variables and parameters (validated).
    pub params: BTreeMap<String, String>,
}

impl Call {
    /// A parameter.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
    /// A parameter that the schema guarantees to be an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.str(key)
            .and_then(|v| v.trim_start_matches('+').parse().ok())
    }
    /// A boolean parameter (`1`, `true`, `yes`, `on`).
    pub fn flag(&self, key: &str) -> bool {
        self.str(key)
            .is_some_and(|v| ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()))
    }
    /// The `{node}` path variable.
    pub fn node(&self) -> &str {
        self.str("node").unwrap_or_default()
    }
    /// The `{vmid}` path variable.
    pub fn vmid(&self) -> u32 {
        self.int("vmid")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or_default()
    }
}

/// The router's only handler.
pub async fn handle(State(lab): State<Arc<Lab>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return respond(Err(ApiError::Status(
                413,
                "Request Entity Too Large".into(),
            )));
        }
    };
    let path = parts.uri.path().to_owned();
    if path == "/lab/faults" {
        return respond(faults_admin(&lab, &parts.method, &parts.headers, &body));
    }
    if path == "/lab/requests" {
        return respond(requests_admin(&lab, &parts.method, &parts.headers));
    }
    lab.count_request(request_key(&lab, parts.method.as_str(), &path));
    let faults = lab.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.error_rate > 0.0 && lab.draw() < faults.error_rate {
        return respond(Err(ApiError::fail("Internal Server Error (lab fault)")));
    }
    let Some(api_path) = path.strip_prefix("/api2/json") else {
        return respond(Err(ApiError::Status(404, "Not Found".into())));
    };
    let method = parts.method.as_str().to_owned();
    let mut params = match read_params(parts.uri.query(), &parts.headers, &body) {
        Ok(p) => p,
        Err(e) => return respond(Err(e)),
    };
    respond(
        call(
            &lab,
            &method,
            api_path,
            &parts.headers,
            &mut params,
            &faults,
        )
        .await,
    )
}

async fn call(
    lab: &Arc<Lab>,
    method: &str,
    api_path: &str,
    headers: &HeaderMap,
    params: &mut BTreeMap<String, String>,
    faults: &super::faults::Faults,
) -> ApiResult {
    let not_implemented =
        || ApiError::Status(501, format!("Method '{method} {api_path}' not implemented"));
    let (endpoint, vars) = lab.schema.find(api_path).ok_or_else(not_implemented)?;
    let template = endpoint.path.clone();
    let open = template == "/access/ticket";
    let who = if open {
        Principal {
            name: String::new(),
            restricted: Some(String::new()),
            by_ticket: false,
        }
    } else {
        authenticate(lab, headers, method)?
    };
    let validation = lab
        .schema
        .validate(endpoint, method, &merged(params, &vars))
        .ok_or_else(not_implemented)?;
    validation.map_err(ApiError::Params)?;
    params.extend(vars);
    if let Some(node) = params.get("node") {
        if faults.node_596.contains(node) {
            return Err(ApiError::Status(596, "Connection timed out".into()));
        }
        if !lab.has_node(node) {
            return Err(ApiError::fail(format!(
                "hostname lookup '{node}' failed - failed to get address info for: {node}: \
                 Name or service not known"
            )));
        }
    }
    let c = Call {
        lab: Arc::clone(lab),
        who,
        params: std::mem::take(params),
    };
    match (method, template.as_str()) {
        ("GET", "/version") => cluster::version(&c),
        ("GET", "/nodes") => cluster::nodes(&c),
        ("GET", "/cluster/resources") => cluster::resources(&c),
        ("GET", "/cluster/nextid") => cluster::nextid(&c),
        ("GET", "/pools") => cluster::pools(&c),
        ("GET", "/access/permissions") => access::permissions(&c),
        ("GET", "/access/ticket") => ok(serde_json::Value::Null),
        ("POST", "/access/ticket") => access::ticket(&c),
        ("GET", "/access/acl") => access::acl_list(&c),
        ("PUT", "/access/acl") => access::acl_update(&c),
        ("POST", "/access/users/{userid}/token/{tokenid}") => access::create_token(&c),
        ("DELETE", "/access/users/{userid}/token/{tokenid}") => access::delete_token(&c),
        ("GET", "/nodes/{node}/lxc") => lxc::list(&c),
        ("POST", "/nodes/{node}/lxc") => lxc::create(&c),
        ("DELETE", "/nodes/{node}/lxc/{vmid}") => lxc::destroy(&c),
        ("GET", "/nodes/{node}/lxc/{vmid}/config") => config::config(&c),
        ("PUT", "/nodes/{node}/lxc/{vmid}/config") => config::config_update(&c).await,
        ("GET", "/nodes/{node}/lxc/{vmid}/status/current") => power::status(&c),
        ("POST", "/nodes/{node}/lxc/{vmid}/status/start") => power::power(&c, power::Power::Start),
        ("POST", "/nodes/{node}/lxc/{vmid}/status/stop") => power::power(&c, power::Power::Stop),
        ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown") => {
            power::power(&c, power::Power::Shutdown)
        }
        ("POST", "/nodes/{node}/lxc/{vmid}/status/reboot") => {
            power::power(&c, power::Power::Reboot)
        }
        ("GET", "/nodes/{node}/lxc/{vmid}/interfaces") => node::interfaces(&c).await,
        ("GET", "/nodes/{node}/lxc/{vmid}/rrddata") => node::rrddata(&c),
        ("GET", "/nodes/{node}/status") => node::status(&c),
        ("GET", "/nodes/{node}/storage") => node::storage(&c),
        ("GET", "/nodes/{node}/storage/{storage}/content") => node::storage_content(&c),
        ("GET", "/nodes/{node}/network") => node::network(&c),
        ("GET", "/nodes/{node}/tasks") => node::task_list(&c),
        ("GET", "/nodes/{node}/tasks/{upid}/status") => node::task_status(&c),
        ("GET", "/nodes/{node}/tasks/{upid}/log") => node::task_log(&c),
        _ => Err(not_implemented()),
    }
}

fn merged(
    params: &BTreeMap<String, String>,
    vars: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut all = params.clone();
    all.extend(vars.iter().cloned());
    all
}

/// Who is calling: an API token, or a ticket cookie (plus CSRF on writes).
fn authenticate(lab: &Lab, headers: &HeaderMap, method: &str) -> Result<Principal, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = header("authorization") {
        return lab.read(|s| auth::check_token(s, value));
    }
    let ticket = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(auth::ticket_from_cookie)
        .ok_or_else(|| ApiError::unauthorized("No ticket"))?;
    let at = now();
    let (user, _) = lab.read(|s| auth::check_ticket(s, &ticket, at, lab.ticket_lifetime))?;
    if method != "GET" {
        let csrf = header("csrfpreventiontoken").unwrap_or_default();
        if !lab.read(|s| auth::check_csrf(s, &user, csrf, at, lab.ticket_lifetime)) {
            return Err(ApiError::unauthorized(
                "Permission denied - invalid csrf token",
            ));
        }
    }
    Ok(Principal {
        name: user,
        restricted: None,
        by_ticket: true,
    })
}

/// Query string plus body (form-encoded, or a JSON object).
fn read_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && !body.is_empty() {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::Status(400, format!("invalid JSON body: {e}")))?;
        for (k, v) in value.as_object().into_iter().flatten() {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                other => other.to_string(),
            };
            params.insert(k.clone(), text);
        }
    } else {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    Ok(params)
}

/// `GET|POST|DELETE /lab/faults` (root token or ticket): read, replace or clear the faults.
fn faults_admin(lab: &Arc<Lab>, method: &Method, headers: &HeaderMap, body: &[u8]) -> ApiResult {
    let who = authenticate(lab, headers, method.as_str())?;
    who.require_root("/lab")?;
    match *method {
        Method::GET => {}
        Method::DELETE => lab.set_faults(Default::default()),
        Method::POST | Method::PUT => {
            let request: FaultRequest = serde_json::from_slice(body)
                .map_err(|e| ApiError::param("faults", e.to_string()))?;
            lab.set_faults(request.faults);
            if let Some(ms) = request.unreachable_for_ms {
                let lab = Arc::clone(lab);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    lab.set_unreachable(false);
                });
            }
        }
        _ => return Err(ApiError::Status(501, "Method not implemented".into())),
    }
    let faults = serde_json::to_value(lab.faults()).map_err(|e| ApiError::fail(e.to_string()))?;
    ok(faults)
}

/// What a call is counted as: `METHOD /template` for the API's paths (`GET
/// /nodes/{node}/lxc`), `METHOD (unknown)` for other `/api2/json` paths, `(other)` else.
fn request_key(lab: &Lab, method: &str, path: &str) -> String {
    match path.strip_prefix("/api2/json") {
        Some(api_path) => match lab.schema.find(api_path) {
            Some((endpoint, _)) => format!("{method} {}", endpoint.path),
            None => format!("{method} (unknown)"),
        },
        None => "(other)".to_owned(),
    }
}

/// The calls counted so far as `{"total": N, "paths": {"GET /cluster/resources": N, ...}}`.
pub fn request_counts(lab: &Lab) -> serde_json::Value {
    let paths = lab.requests();
    let total: u64 = paths.values().sum();
    serde_json::json!({"total": total, "paths": paths})
}

/// `GET /lab/requests`: the API calls the lab received since it started, by path (for
/// benchmarks: how many Proxmox calls a client made). Without authentication when the lab
/// listens on loopback, else with the root token or ticket.
fn requests_admin(lab: &Arc<Lab>, method: &Method, headers: &HeaderMap) -> ApiResult {
    if *method != Method::GET {
        return Err(ApiError::Status(501, "Method not implemented".into()));
    }
    if !lab.loopback {
        authenticate(lab, headers, method.as_str())?.require_root("/lab")?;
    }
    ok(request_counts(lab))
}

/// Records that container `vmid` stopped on its own (seen by the lab's sampler).
pub fn set_stopped(lab: &Lab, vmid: u32) -> Result<(), String> {
    power::set_running(lab, vmid, false)
}
