//! Runs a function's real binary the way Lambda does: the process polls a Lambda Runtime API
//! (served here) for events and posts results back. One process handles one event at a time;
//! a crashed process is restarted, and its event fails like a Lambda timeout would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(Debug, thiserror::Error, Clone)]
pub enum InvokeError {
    #[error("function {function} returned an error: {body}")]
    FunctionError { function: String, body: String },
    #[error("function {function} timed out after {secs} s")]
    Timeout { function: String, secs: u64 },
    #[error("function {0} is not running")]
    Stopped(String),
}

struct Pending {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    respond: oneshot::Sender<Result<Bytes, InvokeError>>,
}

/// One invocation as the host saw it: when it was handed over and how long until its result.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    pub started: Instant,
    pub took: Duration,
    pub ok: bool,
}

/// How many invocations [`FunctionHandle::invocations`] remembers.
const TIMINGS_KEPT: usize = 10_000;

struct RuntimeState {
    function: String,
    function_arn: String,
    queue: Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: std::sync::Mutex<HashMap<String, oneshot::Sender<Result<Bytes, InvokeError>>>>,
    pids: std::sync::Mutex<Vec<u32>>,
    /// The latest invocations' start and duration, oldest first (benchmarks read them).
    timings: std::sync::Mutex<std::collections::VecDeque<Invocation>>,
}

/// A function as the local run hosts it.
#[derive(Clone)]
pub struct FunctionHandle {
    name: String,
    timeout: Duration,
    submit: mpsc::UnboundedSender<Pending>,
    counter: Arc<AtomicU64>,
    state: Arc<RuntimeState>,
}

impl FunctionHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Process ids of the function's running processes (for benchmarks that read their memory).
    pub fn pids(&self) -> Vec<u32> {
        self.state.pids.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Invokes the function with `payload` and waits for its result, like a synchronous `Invoke`.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        let (respond, result) = oneshot::channel();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        let pending = Pending {
            request_id: format!("{:08x}-local-{n:012}", std::process::id()),
            payload,
            deadline_ms: now_ms + self.timeout.as_millis() as u64,
            respond,
        };
        let started = Instant::now();
        self.submit.send(pending).map_err(|_| InvokeError::Stopped(self.name.clone()))?;
        // A little longer than the function timeout: the process may be starting.
        let outcome = match tokio::time::timeout(self.timeout + Duration::from_secs(5), result).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(InvokeError::Stopped(self.name.clone())),
            Err(_) => Err(InvokeError::Timeout { function: self.name.clone(), secs: self.timeout.as_secs() }),
        };
        if let Ok(mut timings) = self.state.timings.lock() {
            if timings.len() == TIMINGS_KEPT {
                timings.pop_front();
            }
            timings.push_back(Invocation { started, took: started.elapsed(), ok: outcome.is_ok() });
        }
        outcome
    }

    /// The latest invocations (up to 10,000), oldest first: for benchmarks that split a
    /// message's time between the hops.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.state.timings.lock().map(|t| t.iter().copied().collect()).unwrap_or_default()
    }
}

pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub env: Vec<(String, String)>,
    /// How many processes poll for events (Lambda's concurrency).
    pub instances: usize,
}

/// Starts the Runtime API server and the function's processes. Processes die with the returned tasks' owner.
pub async fn start_function(
    spec: FunctionSpec,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> std::io::Result<FunctionHandle> {
    let (submit, queue) = mpsc::unbounded_channel();
    let state = Arc::new(RuntimeState {
        function: spec.name.clone(),
        function_arn: format!("arn:aws:lambda:us-east-1:{}:function:{}", super::resources::LOCAL_ACCOUNT_ID, spec.name),
        queue: Mutex::new(queue),
        in_flight: std::sync::Mutex::new(HashMap::new()),
        pids: std::sync::Mutex::new(Vec::new()),
        timings: std::sync::Mutex::new(std::collections::VecDeque::new()),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let runtime_api = listener.local_addr()?.to_string();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));

    if !spec.binary.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("function binary {} not found (run `cargo build --workspace` first)", spec.binary.display()),
        ));
    }
    let spec = Arc::new(spec);
    for instance in 0..spec.instances.max(1) {
        let spec = spec.clone();
        let runtime_api = runtime_api.clone();
        let state = state.clone();
        tasks.push(tokio::spawn(async move { supervise(spec, runtime_api, instance, state).await }));
    }
    Ok(FunctionHandle {
        name: spec.name.clone(),
        timeout: spec.timeout,
        submit,
        counter: Arc::new(AtomicU64::new(0)),
        state,
    })
}

/// Keeps one process of the function running; restarts it if it exits.
async fn supervise(spec: Arc<FunctionSpec>, runtime_api: String, instance: usize, state: Arc<RuntimeState>) {
    loop {
        let mut command = tokio::process::Command::new(&spec.binary);
        command
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{instance}"))
            // template.yaml sets LoggingConfig.LogFormat JSON; Lambda tells the runtime through this.
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(function = %spec.name, error = %e, "could not start the function process");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        super::forward_output(&spec.name, child.stdout.take());
        super::forward_output(&spec.name, child.stderr.take());
        let pid = child.id();
        if let (Some(pid), Ok(mut pids)) = (pid, state.pids.lock()) {
            pids.push(pid);
        }
        let status = child.wait().await;
        if let (Some(pid), Ok(mut pids)) = (pid, state.pids.lock()) {
            pids.retain(|p| *p != pid);
        }
        tracing::warn!(function = %spec.name, ?status, "function process exited; restarting");
        // The event it was handling (if any) will not be answered: fail it now rather than at the timeout.
        let orphaned: Vec<_> = state.in_flight.lock().map(|mut m| m.drain().collect()).unwrap_or_default();
        for (_, respond) in orphaned {
            let _ = respond.send(Err(InvokeError::FunctionError {
                function: spec.name.clone(),
                body: "process exited while handling the event".into(),
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    let pending = {
        let mut queue = state.queue.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static(""));
    headers.insert("lambda-runtime-aws-request-id", header(&pending.request_id));
    headers.insert("lambda-runtime-deadline-ms", header(&pending.deadline_ms.to_string()));
    headers.insert("lambda-runtime-invoked-function-arn", header(&state.function_arn));
    headers.insert("lambda-runtime-trace-id", header(&new_trace_id()));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(mut in_flight) = state.in_flight.lock() {
        in_flight.insert(pending.request_id.clone(), pending.respond);
    }
    (StatusCode::OK, headers, pending.payload).into_response()
}

fn finish(state: &RuntimeState, id: &str, outcome: Result<Bytes, InvokeError>) -> StatusCode {
    let responder = state.in_flight.lock().ok().and_then(|mut m| m.remove(id));
    match responder {
        Some(respond) => {
            let _ = respond.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(state): State<Arc<RuntimeState>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&state, &id, Ok(body))
}

async fn error(State(state): State<Arc<RuntimeState>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let body = String::from_utf8_lossy(&body).into_owned();
    finish(&state, &id, Err(InvokeError::FunctionError { function: state.function.clone(), body }))
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    tracing::error!(function = %state.function, error = %String::from_utf8_lossy(&body), "function failed to initialise");
    StatusCode::ACCEPTED
}

/// A fresh X-Ray trace id per invocation, in the form Lambda passes (`Root=1-{epoch hex}-{96 random
/// bits};Sampled=1`), so the local run's logs show how one message's id travels.
fn new_trace_id() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let random: [u8; 12] = rand::random();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{secs:08x}-{hex};Sampled=1")
}
