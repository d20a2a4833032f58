//! The inventory: every guest on the user's nodes as the dashboard shows it — the containers
//! Kiln manages and those it does not —, what can be done to one (lifecycle actions, with the
//! states each is offered in), the "busy" answer of the one-action-at-a-time lock, and the
//! dashboard's filter and sort, which travel in the page's URL query.
//!
//! Architecture invariant: no I/O here (builds for wasm32); the server fills these types from
//! its rows and the nodes' `/cluster/resources`.

use serde::{Deserialize, Serialize};

use crate::containers::ContainerStatus;

/// What the dashboard's summary counts and its status filter selects: the node's power state
/// for a container Kiln finished (or adopted), else Kiln's own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Running on its node.
    Running,
    /// Stopped on its node.
    Stopped,
    /// Kiln's creation job is under way.
    Creating,
    /// The creation failed (or was cancelled).
    Failed,
    /// Being deleted.
    Deleting,
    /// Its node does not answer, or does not list it (the last known state is kept apart).
    Unknown,
}

impl State {
    /// Every state, in the summary's order.
    pub const ALL: [State; 6] = [
        State::Running,
        State::Stopped,
        State::Creating,
        State::Failed,
        State::Deleting,
        State::Unknown,
    ];

    /// The URL's and the CSS class's word.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Creating => "creating",
            State::Failed => "failed",
            State::Deleting => "deleting",
            State::Unknown => "unknown",
        }
    }

    /// From the URL's word.
    pub fn parse(value: &str) -> Option<Self> {
        State::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A readable label.
    pub fn label(self) -> &'static str {
        match self {
            State::Running => "Running",
            State::Stopped => "Stopped",
            State::Creating => "Creating",
            State::Failed => "Failed",
            State::Deleting => "Deleting",
            State::Unknown => "Unknown",
        }
    }

    /// The state of a guest from Kiln's status (managed rows) and the node's power word
    /// (`running`, `stopped`; `None` when the node did not say).
    pub fn of(kiln: Option<ContainerStatus>, power: Option<&str>) -> Self {
        match kiln {
            Some(ContainerStatus::Creating) => State::Creating,
            Some(ContainerStatus::Failed) => State::Failed,
            Some(ContainerStatus::Deleting) => State::Deleting,
            Some(ContainerStatus::Ready) | None => match power {
                Some("running") => State::Running,
                Some("stopped") => State::Stopped,
                _ => State::Unknown,
            },
        }
    }
}

/// A lifecycle action on a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `status/start`.
    Start,
    /// `status/shutdown`: graceful, with a timeout; then the user is offered *Stop*.
    Shutdown,
    /// `status/stop`: immediate.
    Stop,
    /// `status/reboot`.
    Reboot,
    /// Destroy on the node (purge), then forget the row and its secrets.
    Delete,
}

impl Action {
    /// Every action, in the menus' order.
    pub const ALL: [Action; 5] = [
        Action::Start,
        Action::Shutdown,
        Action::Stop,
        Action::Reboot,
        Action::Delete,
    ];

    /// The actions the bulk bar offers.
    pub const BULK: [Action; 4] = [
        Action::Start,
        Action::Shutdown,
        Action::Stop,
        Action::Delete,
    ];

    /// The wire's, the audit log's and the lock's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Shutdown => "shutdown",
            Action::Stop => "stop",
            Action::Reboot => "reboot",
            Action::Delete => "delete",
        }
    }

    /// From the wire's word.
    pub fn parse(value: &str) -> Option<Self> {
        Action::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Action::Start => "Start",
            Action::Shutdown => "Shut down",
            Action::Stop => "Stop",
            Action::Reboot => "Reboot",
            Action::Delete => "Delete",
        }
    }

    /// What a pending row says (`Starting…`).
    pub fn pending(self) -> &'static str {
        match self {
            Action::Start => "Starting…",
            Action::Shutdown => "Shutting down…",
            Action::Stop => "Stopping…",
            Action::Reboot => "Rebooting…",
            Action::Delete => "Deleting…",
        }
    }

    /// Asked before it runs (everything but *Start*).
    pub fn needs_confirmation(self) -> bool {
        self != Action::Start
    }

    /// Whether the action is offered for a guest in `state` (Kiln manages it; delete also
    /// for failed and creating containers, where it cancels the creation).
    pub fn offered(self, state: State) -> bool {
        match self {
            Action::Start => state == State::Stopped,
            Action::Shutdown | Action::Stop | Action::Reboot => state == State::Running,
            Action::Delete => state != State::Deleting,
        }
    }
}

/// Who holds a container's lock: a second action is answered with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Busy {
    /// The action under way (`shutdown`, `create`, `delete`, ...).
    pub what: String,
    /// Since when (RFC 3339, UTC).
    pub since: String,
    /// Who asked (a user name, or `Kiln` for a job).
    pub by: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `2026-12-06T10:02:03.123+00:00` → `10:02:03 UTC`.
        let time = self
            .since
            .get(11..19)
            .map_or_else(|| self.since.clone(), |t| format!("{t} UTC"));
        write!(f, "busy: {} since {} by {}", self.what, time, self.by)
    }
}

/// A guest's figures from its node (the last known ones when the node does not answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Live {
    /// CPU use as a share of its cores (0.0–1.0).
    pub cpu: Option<f64>,
    /// Its cores.
    pub maxcpu: Option<f64>,
    /// Memory in use, bytes.
    pub mem: Option<u64>,
    /// Memory limit, bytes.
    pub maxmem: Option<u64>,
    /// Root disk in use, bytes.
    pub disk: Option<u64>,
    /// Root disk size, bytes.
    pub maxdisk: Option<u64>,
    /// Seconds since it started (0 when stopped).
    pub uptime: Option<u64>,
}

/// A share `used / total` in 0.0–1.0, when both are known and the total is not zero.
pub fn share(used: Option<u64>, total: Option<u64>) -> Option<f64> {
    match (used, total) {
        (Some(u), Some(t)) if t > 0 => Some((u as f64 / t as f64).clamp(0.0, 1.0)),
        _ => None,
    }
}

impl Live {
    /// CPU share.
    pub fn cpu_share(&self) -> Option<f64> {
        self.cpu.map(|c| c.clamp(0.0, 1.0))
    }
    /// Memory share.
    pub fn mem_share(&self) -> Option<f64> {
        share(self.mem, self.maxmem)
    }
    /// Disk share.
    pub fn disk_share(&self) -> Option<f64> {
        share(self.disk, self.maxdisk)
    }

    /// The bars' texts: CPU `10%`, memory and disk `73 MiB / 256 MiB` (`—` when unknown).
    pub fn texts(&self) -> [String; 3] {
        let pair = |used: Option<u64>, total: Option<u64>| match (used, total) {
            (Some(u), Some(t)) => format!("{} / {}", bytes(u), bytes(t)),
            _ => "—".to_owned(),
        };
        [
            self.cpu_share()
                .map_or_else(|| "—".to_owned(), |c| format!("{:.0}%", c * 100.0)),
            pair(self.mem, self.maxmem),
            pair(self.disk, self.maxdisk),
        ]
    }
}

/// A web link of a service found in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Link {
    /// The service (`nginx`).
    pub name: String,
    /// `http://10.0.0.5:80/`.
    pub url: String,
}

/// One guest as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestRow {
    /// A key unique in the inventory (`c42` for Kiln's container 42, `n3-105` for VMID 105 of
    /// node 3 that Kiln does not manage): the DOM's row key.
    pub key: String,
    /// Kiln's id (its page `/containers/{id}`); `None`: not managed by Kiln.
    pub id: Option<i64>,
    /// The node row.
    pub node_id: i64,
    /// The node's name in Kiln.
    pub node_name: String,
    /// The cluster member it runs on.
    pub member: Option<String>,
    /// The VMID, once allocated.
    pub vmid: Option<u32>,
    /// Its name (Kiln's hostname; the node's name for an unmanaged guest).
    pub name: String,
    /// The template it was made from (`None`: plain OS, adopted or unmanaged).
    pub template: Option<String>,
    /// What the summary counts.
    pub state: State,
    /// Kiln's status (`None`: unmanaged).
    pub kiln_status: Option<ContainerStatus>,
    /// Adopted: managed, but not created by Kiln.
    pub adopted: bool,
    /// Its IPv4 address, when known.
    pub address: Option<String>,
    /// Figures (live, or the last known when `stale`).
    pub live: Option<Live>,
    /// Proxmox tags.
    pub tags: Vec<String>,
    /// Web links of its services.
    pub links: Vec<Link>,
    /// When its node last answered for it (RFC 3339).
    pub seen_at: Option<String>,
    /// Its node did not answer now: state and figures are the last known ones.
    pub stale: bool,
    /// The last known power word when `stale` (`running`, `stopped`).
    pub last_power: Option<String>,
    /// An action under way (the lock's holder).
    pub busy: Option<Busy>,
    /// Why its creation failed.
    pub error: Option<String>,
    /// CPU over the last hour (filled for the rows of a dashboard page).
    #[serde(default)]
    pub spark: Option<crate::metrics::Sparkline>,
}

impl GuestRow {
    /// Whether `action` is offered for this row now (managed, not busy, state allows it).
    pub fn offers(&self, action: Action) -> bool {
        if self.id.is_none() {
            return false;
        }
        match (action, &self.busy) {
            // Deleting a container that is being created cancels the creation.
            (Action::Delete, None) => self.state != State::Deleting,
            (Action::Delete, Some(busy)) => busy.what == "create",
            (_, Some(_)) => false,
            (_, None) => !self.stale && action.offered(self.state),
        }
    }
}

/// A node as the dashboard's summary sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    /// Its id.
    pub id: i64,
    /// Its name in Kiln.
    pub name: String,
    /// Whether it answered this refresh.
    pub online: bool,
    /// Why not.
    pub error: Option<String>,
    /// What the monitor knows of it (since when it does not answer, when it last did).
    #[serde(default)]
    pub watch: Option<crate::metrics::NodeWatch>,
}

/// Totals across the user's nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Guests per state, in [`State::ALL`]'s order.
    pub by_state: Vec<(State, usize)>,
    /// Nodes that answered.
    pub nodes_online: usize,
    /// All the user's nodes.
    pub nodes: usize,
    /// Cores in use across the members that answered.
    pub cpu_used: f64,
    /// Cores across those members.
    pub cpu_total: f64,
    /// Memory in use, bytes.
    pub mem_used: u64,
    /// Memory, bytes.
    pub mem_total: u64,
}

impl Totals {
    /// How many guests are in `state`.
    pub fn count(&self, state: State) -> usize {
        self.by_state
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Every guest: Kiln's containers first, newest first, then the others by node and VMID.
    pub rows: Vec<GuestRow>,
    /// The user's nodes.
    pub nodes: Vec<NodeState>,
    /// The summary.
    pub totals: Totals,
    /// When it was read (RFC 3339).
    pub at: String,
    /// Templates among the rows (`plain` for none), sorted: the filter's choices.
    pub templates: Vec<String>,
    /// Tags among the rows, sorted.
    pub tags: Vec<String>,
    /// [`keys_digest`] of the rows.
    pub keys: u64,
}

impl Inventory {
    /// The inventory of `rows`, with the choices and the keys' digest worked out once.
    pub fn new(rows: Vec<GuestRow>, nodes: Vec<NodeState>, totals: Totals, at: String) -> Self {
        let (templates, tags) = Filter::choices(&rows);
        let keys = keys_digest(rows.iter().map(|r| r.key.as_str()));
        Inventory {
            rows,
            nodes,
            totals,
            at,
            templates,
            tags,
            keys,
        }
    }

    /// Counts the rows per state.
    pub fn count_states(rows: &[GuestRow]) -> Vec<(State, usize)> {
        State::ALL
            .into_iter()
            .map(|s| (s, rows.iter().filter(|r| r.state == s).count()))
            .collect()
    }
}

/// What a lifecycle action ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionDone {
    /// Kiln's id.
    pub id: i64,
    /// The container's name.
    pub name: String,
    /// The action.
    pub action: Action,
    /// Whether it did what was asked.
    pub ok: bool,
    /// What to tell the user ("web-1 started", "busy: stop since … by …", ...).
    pub message: String,
    /// The state now, when known.
    pub state: Option<State>,
    /// A shutdown that did not finish in time: the user is offered *Stop*.
    pub offer_stop: bool,
}

/// What a live refresh changes in a row already on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowLive {
    /// The row's key ([`GuestRow::key`]).
    pub key: String,
    /// Its state.
    pub state: State,
    /// The busy text, when an action is under way.
    pub busy: Option<String>,
    /// Its uptime, readable (`3d 4h`), when running.
    pub uptime: Option<String>,
    /// CPU share.
    pub cpu: Option<f64>,
    /// Memory share.
    pub mem: Option<f64>,
    /// Disk share.
    pub disk: Option<f64>,
    /// The bars' texts (CPU, memory, disk; [`Live::texts`]).
    pub texts: [String; 3],
    /// The actions offered now.
    pub offers: Vec<Action>,
}

impl From<&GuestRow> for RowLive {
    fn from(row: &GuestRow) -> Self {
        let live = row.live.clone().unwrap_or_default();
        RowLive {
            key: row.key.clone(),
            state: row.state,
            busy: row.busy.as_ref().map(ToString::to_string),
            uptime: live
                .uptime
                .filter(|u| *u > 0 && row.state == State::Running)
                .map(uptime),
            cpu: live.cpu_share(),
            mem: live.mem_share(),
            disk: live.disk_share(),
            texts: live.texts(),
            offers: Action::ALL.into_iter().filter(|a| row.offers(*a)).collect(),
        }
    }
}

/// What the dashboard's live refresh receives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryLive {
    /// The live part of the page's rows.
    pub rows: Vec<RowLive>,
    /// The summary.
    pub totals: Totals,
    /// [`keys_digest`] of all rows.
    pub keys: u64,
}

/// What one dashboard page shows: the filtered, sorted page of rows and what the rest of the
/// page needs — made on the server from the inventory, so a page carries its rows, not all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    /// The page's rows.
    pub rows: Vec<GuestRow>,
    /// The user's nodes.
    pub nodes: Vec<NodeState>,
    /// The summary (of all rows, not only the filtered ones).
    pub totals: Totals,
    /// Templates among all rows (`plain` for none), for the filter's select.
    pub templates: Vec<String>,
    /// Tags among all rows.
    pub tags: Vec<String>,
    /// All rows.
    pub total: usize,
    /// Rows that pass the filter.
    pub matching: usize,
    /// This page (1-based).
    pub page: usize,
    /// Pages.
    pub pages: usize,
    /// [`keys_digest`] of all rows: the live refresh compares it to notice rows that
    /// appeared or went away.
    pub keys: u64,
    /// Kiln's ids of every managed row that passes the filter, on every page (*Select all
    /// matching* of the bulk bar).
    pub selectable: Vec<i64>,
}

/// A digest of a set of row keys (FNV-1a over the sorted keys), the same on both sides.
pub fn keys_digest<'a>(keys: impl Iterator<Item = &'a str>) -> u64 {
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for key in keys {
        for b in key.bytes().chain(std::iter::once(b'\n')) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl Inventory {
    /// The dashboard page `filter` asks for.
    pub fn view(&self, filter: &Filter) -> DashboardView {
        let matching = filter.apply(&self.rows);
        let (rows, page, pages) = filter.page_of(&matching);
        DashboardView {
            rows: rows.iter().map(|r| (*r).clone()).collect(),
            nodes: self.nodes.clone(),
            totals: self.totals.clone(),
            templates: self.templates.clone(),
            tags: self.tags.clone(),
            total: self.rows.len(),
            matching: matching.len(),
            page,
            pages,
            keys: self.keys,
            selectable: matching.iter().filter_map(|r| r.id).collect(),
        }
    }

    /// The live part of the dashboard page `filter` asks for.
    pub fn live(&self, filter: &Filter) -> InventoryLive {
        let matching = filter.apply(&self.rows);
        let (rows, _, _) = filter.page_of(&matching);
        InventoryLive {
            rows: rows.iter().map(|r| RowLive::from(*r)).collect(),
            totals: self.totals.clone(),
            keys: self.keys,
        }
    }
}

/// At most this many containers in one bulk action.
pub const MAX_BULK: usize = 500;

/// How the list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Sort {
    /// Kiln's containers newest first, then the others (the inventory's own order).
    #[default]
    Default,
    /// By name.
    Name,
    /// By VMID.
    Vmid,
    /// By node, then name.
    Node,
    /// By state, then name.
    State,
    /// By CPU use, highest first.
    Cpu,
    /// By memory use, highest first.
    Mem,
    /// By uptime, longest first.
    Uptime,
}

impl Sort {
    /// Every sort, in the select's order.
    pub const ALL: [Sort; 8] = [
        Sort::Default,
        Sort::Name,
        Sort::Vmid,
        Sort::Node,
        Sort::State,
        Sort::Cpu,
        Sort::Mem,
        Sort::Uptime,
    ];

    /// The URL's word (empty for the default).
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Default => "",
            Sort::Name => "name",
            Sort::Vmid => "vmid",
            Sort::Node => "node",
            Sort::State => "state",
            Sort::Cpu => "cpu",
            Sort::Mem => "mem",
            Sort::Uptime => "uptime",
        }
    }

    /// The select's label.
    pub fn label(self) -> &'static str {
        match self {
            Sort::Default => "Newest",
            Sort::Name => "Name",
            Sort::Vmid => "VMID",
            Sort::Node => "Node",
            Sort::State => "Status",
            Sort::Cpu => "CPU",
            Sort::Mem => "Memory",
            Sort::Uptime => "Uptime",
        }
    }

    /// From the URL's word (unknown words: the default).
    pub fn parse(value: &str) -> Self {
        Sort::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .unwrap_or_default()
    }
}

/// Cards or a dense table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum View {
    /// Cards.
    #[default]
    Cards,
    /// A dense table.
    Table,
}

impl View {
    /// The URL's and the cookie's word.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Cards => "cards",
            View::Table => "table",
        }
    }

    /// From the URL's or the cookie's word.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cards" => Some(View::Cards),
            "table" => Some(View::Table),
            _ => None,
        }
    }
}

/// The cookie that keeps the chosen view.
pub const VIEW_COOKIE: &str = "kiln_view";

/// The dashboard's filter and sort (`?node=3&status=running&template=nginx&tag=web&q=db
/// &sort=cpu&view=table`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// A node's id.
    pub node: Option<i64>,
    /// A state.
    pub state: Option<State>,
    /// A template's slug (`plain` for containers without one).
    pub template: Option<String>,
    /// A tag.
    pub tag: Option<String>,
    /// Text found in the name, VMID, address, template, node or tags (case-insensitive).
    pub q: String,
    /// The sort.
    pub sort: Sort,
    /// The view asked for in the URL (else the cookie's, else cards).
    pub view: Option<View>,
    /// The page of the filtered rows (1-based; [`PAGE_SIZE`] rows each).
    pub page: usize,
}

/// Rows per dashboard page (a multiple of 2, 3 and 4: full rows of cards).
pub const PAGE_SIZE: usize = 24;

/// The longest search text kept from a URL.
const MAX_Q: usize = 100;

impl Filter {
    /// From the URL query's pairs; unknown keys and bad values are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut filter = Filter {
            page: 1,
            ..Filter::default()
        };
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty() && v.len() <= 64);
        for (key, value) in pairs {
            match key {
                "node" => filter.node = value.parse().ok(),
                "status" => filter.state = State::parse(value),
                "template" => filter.template = text(value),
                "tag" => filter.tag = text(value).map(|t| t.to_ascii_lowercase()),
                "q" => filter.q = value.trim().chars().take(MAX_Q).collect(),
                "sort" => filter.sort = Sort::parse(value),
                "view" => filter.view = View::parse(value),
                "page" => filter.page = value.parse().unwrap_or(1).clamp(1, 100_000),
                _ => {}
            }
        }
        filter
    }

    /// The filter as the URL rules allow it (a filter that arrived as JSON, from a script or
    /// the live refresh): text cut to 100 characters, a template or tag over 64 bytes dropped,
    /// tags lower case, the page at least 1.
    pub fn normalized(mut self) -> Self {
        let short = |v: Option<String>| {
            v.map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= 64)
        };
        self.q = self.q.trim().chars().take(MAX_Q).collect();
        self.template = short(self.template);
        self.tag = short(self.tag).map(|t| t.to_ascii_lowercase());
        self.page = self.page.clamp(1, 100_000);
        self
    }

    /// From a URL query (`node=3&q=db`, with or without the leading `?`).
    pub fn from_query(query: &str) -> Self {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The URL query (without `?`; empty for no filter), keys in a fixed order.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(node) = self.node {
            pairs.push(("node", node.to_string()));
        }
        if let Some(state) = self.state {
            pairs.push(("status", state.as_str().to_owned()));
        }
        if let Some(t) = &self.template {
            pairs.push(("template", t.clone()));
        }
        if let Some(t) = &self.tag {
            pairs.push(("tag", t.clone()));
        }
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if self.sort != Sort::Default {
            pairs.push(("sort", self.sort.as_str().to_owned()));
        }
        if let Some(view) = self.view {
            pairs.push(("view", view.as_str().to_owned()));
        }
        if self.page > 1 {
            pairs.push(("page", self.page.to_string()));
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            query.append_pair(k, &v);
        }
        query.finish()
    }

    /// Whether any filter (not sort or view) is set.
    pub fn is_filtering(&self) -> bool {
        self.node.is_some()
            || self.state.is_some()
            || self.template.is_some()
            || self.tag.is_some()
            || !self.q.is_empty()
    }

    /// Whether `row` passes the filter.
    pub fn matches(&self, row: &GuestRow) -> bool {
        if self.node.is_some_and(|n| n != row.node_id) {
            return false;
        }
        if self.state.is_some_and(|s| s != row.state) {
            return false;
        }
        if let Some(t) = &self.template {
            let slug = row.template.as_deref().unwrap_or("plain");
            if slug != t {
                return false;
            }
        }
        if let Some(tag) = &self.tag
            && !row.tags.iter().any(|t| t == tag)
        {
            return false;
        }
        if !self.q.is_empty() {
            let q = self.q.to_lowercase();
            let vmid = row.vmid.map(|v| v.to_string()).unwrap_or_default();
            let hay = [
                row.name.as_str(),
                vmid.as_str(),
                row.address.as_deref().unwrap_or_default(),
                row.template.as_deref().unwrap_or_default(),
                row.node_name.as_str(),
                row.member.as_deref().unwrap_or_default(),
            ];
            let found = hay.iter().any(|h| h.to_lowercase().contains(&q))
                || row.tags.iter().any(|t| t.contains(&q));
            if !found {
                return false;
            }
        }
        true
    }

    /// The rows that pass, sorted (references into `rows`).
    pub fn apply<'a>(&self, rows: &'a [GuestRow]) -> Vec<&'a GuestRow> {
        let mut out: Vec<&GuestRow> = rows.iter().filter(|r| self.matches(r)).collect();
        let by_name = |a: &GuestRow, b: &GuestRow| a.name.cmp(&b.name).then(a.vmid.cmp(&b.vmid));
        let desc = |x: Option<f64>, y: Option<f64>| {
            y.unwrap_or(-1.0)
                .partial_cmp(&x.unwrap_or(-1.0))
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        match self.sort {
            Sort::Default => {}
            Sort::Name => out.sort_by(|a, b| by_name(a, b)),
            Sort::Vmid => out.sort_by(|a, b| a.vmid.cmp(&b.vmid).then_with(|| by_name(a, b))),
            Sort::Node => {
                out.sort_by(|a, b| a.node_name.cmp(&b.node_name).then_with(|| by_name(a, b)));
            }
            Sort::State => out.sort_by(|a, b| a.state.cmp(&b.state).then_with(|| by_name(a, b))),
            Sort::Cpu => out.sort_by(|a, b| {
                desc(
                    a.live.as_ref().and_then(Live::cpu_share),
                    b.live.as_ref().and_then(Live::cpu_share),
                )
                .then_with(|| by_name(a, b))
            }),
            Sort::Mem => out.sort_by(|a, b| {
                let mem = |r: &GuestRow| r.live.as_ref().and_then(|l| l.mem).map(|m| m as f64);
                desc(mem(a), mem(b)).then_with(|| by_name(a, b))
            }),
            Sort::Uptime => out.sort_by(|a, b| {
                let up = |r: &GuestRow| r.live.as_ref().and_then(|l| l.uptime).map(|u| u as f64);
                desc(up(a), up(b)).then_with(|| by_name(a, b))
            }),
        }
        out
    }

    /// The page [`Filter::page`] of `rows` (already filtered and sorted) and the number of
    /// pages; a page past the end is the last one.
    pub fn page_of<'a, T>(&self, rows: &'a [T]) -> (&'a [T], usize, usize) {
        let pages = rows.len().div_ceil(PAGE_SIZE).max(1);
        let page = self.page.clamp(1, pages);
        let start = (page - 1) * PAGE_SIZE;
        let end = (start + PAGE_SIZE).min(rows.len());
        (&rows[start.min(end)..end], page, pages)
    }

    /// The templates, tags and nodes the rows have (for the filter's selects), sorted.
    pub fn choices(rows: &[GuestRow]) -> (Vec<String>, Vec<String>) {
        let mut templates = std::collections::BTreeSet::new();
        let mut tags = std::collections::BTreeSet::new();
        for row in rows {
            templates.insert(row.template.clone().unwrap_or_else(|| "plain".to_owned()));
            tags.extend(row.tags.iter().cloned());
        }
        (templates.into_iter().collect(), tags.into_iter().collect())
    }
}

/// `3d 4h`, `5h 12m`, `7m` for an uptime in seconds.
pub fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{secs}s")
    }
}

/// `1.5 GiB`, `512 MiB`, `900 KiB` for bytes.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = value as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v >= 10.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, node: i64, state: State) -> GuestRow {
        GuestRow {
            key: format!("k-{name}"),
            id: Some(1),
            node_id: node,
            node_name: format!("node-{node}"),
            member: Some("pve".into()),
            vmid: Some(100),
            name: name.into(),
            template: None,
            state,
            kiln_status: Some(ContainerStatus::Ready),
            adopted: false,
            address: None,
            live: None,
            tags: vec![],
            links: vec![],
            seen_at: None,
            stale: false,
            last_power: None,
            busy: None,
            error: None,
            spark: None,
        }
    }

    #[test]
    fn the_filter_round_trips_through_the_url() {
        let filter = Filter::from_pairs([
            ("node", "3"),
            ("status", "running"),
            ("template", "nginx"),
            ("tag", "Web"),
            ("q", " db 1 "),
            ("sort", "cpu"),
            ("view", "table"),
            ("page", "2"),
            ("bogus", "x"),
        ]);
        assert_eq!(filter.node, Some(3));
        assert_eq!(filter.state, Some(State::Running));
        assert_eq!(filter.tag.as_deref(), Some("web"));
        assert_eq!(filter.q, "db 1");
        assert_eq!(filter.sort, Sort::Cpu);
        assert_eq!(filter.view, Some(View::Table));
        let query = filter.to_query();
        assert_eq!(
            query,
            "node=3&status=running&template=nginx&tag=web&q=db+1&sort=cpu&view=table&page=2"
        );
        let again = Filter::from_pairs([
            ("node", "3"),
            ("status", "running"),
            ("template", "nginx"),
            ("tag", "web"),
            ("q", "db 1"),
            ("sort", "cpu"),
            ("view", "table"),
            ("page", "2"),
        ]);
        assert_eq!(again, filter);
        assert_eq!(Filter::from_query(&format!("?{query}")), filter);
        assert_eq!(
            Filter::from_pairs([("status", "nope"), ("node", "x"), ("page", "-3")]),
            Filter::from_pairs([])
        );
        assert_eq!(Filter::from_pairs([]).page, 1);
    }

    #[test]
    fn the_filter_selects_by_node_state_template_tag_and_text() {
        let mut a = row("web-1", 1, State::Running);
        a.template = Some("nginx".into());
        a.tags = vec!["web".into()];
        let mut b = row("db-1", 2, State::Stopped);
        b.address = Some("10.0.0.7".into());
        let rows = vec![a, b];
        let pick = |pairs: &[(&str, &str)]| -> Vec<String> {
            Filter::from_pairs(pairs.iter().copied())
                .apply(&rows)
                .into_iter()
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(pick(&[("node", "2")]), ["db-1"]);
        assert_eq!(pick(&[("status", "running")]), ["web-1"]);
        assert_eq!(pick(&[("template", "plain")]), ["db-1"]);
        assert_eq!(pick(&[("tag", "web")]), ["web-1"]);
        assert_eq!(pick(&[("q", "10.0.0")]), ["db-1"]);
        assert_eq!(pick(&[("q", "WEB")]), ["web-1"]);
        assert_eq!(pick(&[("sort", "name")]), ["db-1", "web-1"]);
        assert!(pick(&[("q", "zzz")]).is_empty());
    }

    #[test]
    fn a_view_carries_its_page_and_every_matching_managed_id() {
        let mut rows: Vec<GuestRow> = (0..(PAGE_SIZE as i64 + 6))
            .map(|i| {
                let mut r = row(&format!("web-{i:03}"), 1, State::Running);
                r.id = Some(i + 1);
                r.key = format!("c{}", i + 1);
                r
            })
            .collect();
        let mut other = row("db", 1, State::Running);
        other.id = None;
        other.key = "n1-900".into();
        rows.push(other);
        let totals = Totals::default();
        let inventory = Inventory::new(rows, Vec::new(), totals, String::new());
        let view = inventory.view(&Filter::from_pairs([("q", "web"), ("sort", "name")]));
        assert_eq!(view.rows.len(), PAGE_SIZE);
        assert_eq!(
            (view.matching, view.total, view.pages),
            (PAGE_SIZE + 6, PAGE_SIZE + 7, 2)
        );
        assert_eq!(
            view.selectable.len(),
            PAGE_SIZE + 6,
            "every page's managed rows"
        );
        assert_eq!(view.selectable.first(), Some(&1));
        let everything = inventory.view(&Filter::from_pairs([]));
        assert_eq!(
            everything.selectable.len(),
            PAGE_SIZE + 6,
            "not the unmanaged one"
        );
        assert_eq!(
            everything.keys,
            inventory.live(&Filter::from_pairs([])).keys
        );
    }

    #[test]
    fn a_filter_from_json_is_held_to_the_url_rules() {
        let wild = Filter {
            q: "x".repeat(1_000_000),
            template: Some("t".repeat(65)),
            tag: Some(" Web ".into()),
            page: 0,
            ..Filter::default()
        };
        let f = wild.normalized();
        assert_eq!(f.q.len(), 100);
        assert_eq!(f.template, None);
        assert_eq!(f.tag.as_deref(), Some("web"));
        assert_eq!(f.page, 1);
    }

    #[test]
    fn the_keys_digest_ignores_order_and_sees_a_change() {
        let a = keys_digest(["c1", "n2-100"].into_iter());
        assert_eq!(a, keys_digest(["n2-100", "c1"].into_iter()));
        assert_ne!(a, keys_digest(["c1"].into_iter()));
        assert_ne!(a, keys_digest(["c1", "n2-101"].into_iter()));
    }

    #[test]
    fn rows_come_in_pages() {
        let n = 2 * PAGE_SIZE + 20;
        let rows: Vec<GuestRow> = (0..n)
            .map(|i| row(&format!("ct-{i:04}"), 1, State::Running))
            .collect();
        let at = |page: &str| {
            let f = Filter::from_pairs([("page", page)]);
            let (slice, page, pages) = f.page_of(&rows);
            (
                slice.first().map(|r| r.name.clone()),
                slice.len(),
                page,
                pages,
            )
        };
        assert_eq!(at("1"), (Some("ct-0000".into()), PAGE_SIZE, 1, 3));
        let third = format!("ct-{:04}", 2 * PAGE_SIZE);
        assert_eq!(at("3"), (Some(third.clone()), 20, 3, 3));
        assert_eq!(at("9"), (Some(third), 20, 3, 3), "past the end: the last");
        let none: Vec<GuestRow> = Vec::new();
        assert_eq!(Filter::from_pairs([]).page_of(&none).2, 1);
    }

    #[test]
    fn sorting_by_use_puts_the_busiest_first_and_unknown_last() {
        let mut a = row("a", 1, State::Running);
        a.live = Some(Live {
            cpu: Some(0.2),
            ..Live::default()
        });
        let mut b = row("b", 1, State::Running);
        b.live = Some(Live {
            cpu: Some(0.9),
            ..Live::default()
        });
        let c = row("c", 1, State::Stopped);
        let rows = [a, c, b];
        let names: Vec<String> = Filter::from_pairs([("sort", "cpu")])
            .apply(&rows)
            .into_iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn actions_are_offered_by_state() {
        assert!(Action::Start.offered(State::Stopped));
        assert!(!Action::Start.offered(State::Running));
        assert!(Action::Shutdown.offered(State::Running));
        assert!(!Action::Stop.offered(State::Creating));
        assert!(Action::Delete.offered(State::Failed));
        assert!(!Action::Delete.offered(State::Deleting));
        let mut unmanaged = row("x", 1, State::Running);
        unmanaged.id = None;
        assert!(!unmanaged.offers(Action::Stop));
        let mut busy = row("y", 1, State::Running);
        busy.busy = Some(Busy {
            what: "stop".into(),
            since: "2026-12-06T10:02:03.5+00:00".into(),
            by: "alice".into(),
        });
        assert!(!busy.offers(Action::Stop));
        assert_eq!(
            busy.busy.as_ref().map(ToString::to_string).as_deref(),
            Some("busy: stop since 10:02:03 UTC by alice")
        );
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn states_come_from_kiln_then_the_node() {
        assert_eq!(
            State::of(Some(ContainerStatus::Ready), Some("running")),
            State::Running
        );
        assert_eq!(State::of(None, Some("stopped")), State::Stopped);
        assert_eq!(
            State::of(Some(ContainerStatus::Creating), Some("running")),
            State::Creating
        );
        assert_eq!(
            State::of(Some(ContainerStatus::Ready), None),
            State::Unknown
        );
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(uptime(59), "59s");
        assert_eq!(uptime(3_700), "1h 1m");
        assert_eq!(uptime(90_000), "1d 1h");
        assert_eq!(bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(share(Some(1), Some(4)), Some(0.25));
        assert_eq!(share(Some(1), Some(0)), None);
    }
}
