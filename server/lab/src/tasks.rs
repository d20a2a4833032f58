//! Background tasks with real-format UPIDs: a call returns the UPID at once; the work runs
//! after a delay scaled by `--speed`, writes its log, and ends with `OK` or an error text
//! (possibly injected by a `task-fail` fault).

use std::sync::Arc;

use kiln_shared::pve::Upid;

use super::core::{Lab, now};
use super::reply::ApiError;
use super::rng;
use super::state::{State, Task};

/// The work of a task: runs without any lock held (it changes the state through
/// [`Lab::mutate`]); gets a log to write lines to as it goes and the injected failure text, if
/// any — it must then undo what the request set up (locks, half-made containers). Returns the
/// error text the task ends with, if it fails.
pub type Work =
    Box<dyn FnOnce(Arc<Lab>, TaskLog, Option<String>) -> BoxFuture<Result<(), String>> + Send>;

/// A boxed future of a task's work.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A running task's log: each line is stored (and persisted) as it is written, so
/// `tasks/{upid}/log` shows progress while the task runs.
#[derive(Debug, Clone)]
pub struct TaskLog {
    lab: Option<Arc<Lab>>,
    upid: String,
}

impl TaskLog {
    /// The log of task `upid`.
    pub fn new(lab: &Arc<Lab>, upid: &str) -> TaskLog {
        TaskLog {
            lab: Some(Arc::clone(lab)),
            upid: upid.to_owned(),
        }
    }

    /// A log that goes nowhere (work done outside a task, e.g. at shutdown).
    pub fn discard() -> TaskLog {
        TaskLog {
            lab: None,
            upid: String::new(),
        }
    }

    /// Appends a line.
    pub fn line(&self, text: impl Into<String>) {
        let Some(lab) = &self.lab else {
            return;
        };
        let text = text.into();
        let saved = lab.mutate(|state| {
            if let Some(task) = state.tasks.get_mut(&self.upid) {
                task.log.push(text);
            }
            Ok(())
        });
        if let Err(e) = saved {
            tracing::warn!(task.upid = %self.upid, error = ?e, "task log line not saved");
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Node it runs on.
    pub node: String,
    /// `vzcreate`, `vzstart`, ...
    pub kind: &'static str,
    /// Usually the VMID.
    pub id: String,
    /// Who started it (`root@pam!kiln`).
    pub user: String,
    /// Duration at speed 1, in seconds.
    pub seconds: f64,
}

/// Registers a running task inside an ongoing state mutation and returns its UPID; call
/// [`run`] with it after the mutation is saved.
pub fn register(lab: &Lab, state: &mut State, spec: &TaskSpec) -> Upid {
    state.last_pid = state.last_pid.wrapping_add(1);
    let upid = Upid {
        node: spec.node.clone(),
        pid: 0x0010_0000 + state.last_pid,
        pstart: rng::hash(lab.seed, &[1]) % 0x0FFF_FFFF,
        starttime: now(),
        task_type: spec.kind.to_owned(),
        id: spec.id.clone(),
        user: spec.user.clone(),
    };
    state.tasks.insert(
        upid.to_string(),
        Task {
            upid: upid.to_string(),
            status: "running".to_owned(),
            exitstatus: None,
            log: Vec::new(),
            endtime: None,
        },
    );
    upid
}

/// Runs a registered task in the background.
pub fn run(lab: &Arc<Lab>, upid: Upid, seconds: f64, work: Work) {
    let lab = Arc::clone(lab);
    tokio::spawn(async move {
        tokio::time::sleep(lab.task_delay(seconds)).await;
        let injected = lab.faults().task_failures.get(&upid.task_type).cloned();
        let key = upid.to_string();
        let log = TaskLog::new(&lab, &key);
        let outcome = work(Arc::clone(&lab), log, injected).await;
        let saved = lab.mutate(|state| {
            let Some(task) = state.tasks.get_mut(&key) else {
                return Err(ApiError::fail("task vanished"));
            };
            match outcome {
                Ok(()) => {
                    task.log.push("TASK OK".to_owned());
                    task.exitstatus = Some("OK".to_owned());
                }
                Err(text) => {
                    task.log.push(format!("TASK ERROR: {text}"));
                    task.exitstatus = Some(text);
                }
            }
            task.status = "stopped".to_owned();
            task.endtime = Some(now());
            Ok(())
        });
        if let Err(e) = saved {
            tracing::error!(task.upid = %key, error = ?e, "lab task not finished cleanly");
        }
    });
}

/// Ends tasks a previous run left running (the lab was stopped mid-task): they fail, and
/// the locks they held are released.
pub fn reap_interrupted(state: &mut State) {
    for task in state.tasks.values_mut().filter(|t| t.status == "running") {
        task.status = "stopped".to_owned();
        task.exitstatus = Some("unexpected status".to_owned());
        task.log.push("TASK ERROR: unexpected status".to_owned());
        task.endtime = Some(now());
    }
    for ct in state.containers.values_mut() {
        if ct.config.get("lock").is_some_and(|l| l == "create") {
            ct.config.remove("lock");
        }
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status` for a stored task.
pub fn status_json(upid: &Upid, task: &Task) -> serde_json::Value {
    let mut v = serde_json::json!({
        "upid": upid.to_string(),
        "node": upid.node,
        "pid": upid.pid,
        "pstart": upid.pstart,
        "starttime": upid.starttime,
        "type": upid.task_type,
        "id": upid.id,
        "user": upid.user,
        "status": task.status,
    });
    if let (Some(map), Some(exit)) = (v.as_object_mut(), &task.exitstatus) {
        map.insert("exitstatus".into(), exit.clone().into());
    }
    v
}
