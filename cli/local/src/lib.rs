//! The local run: the whole platform on one machine with no AWS account. moto plays AWS
//! (DynamoDB, SQS, SSM, Scheduler), and this crate plays what moto lacks: API Gateway, Lambda
//! (the real function binaries behind a Runtime API), SQS event-source mappings, AgentCore (one
//! agent process per session), EventBridge Scheduler's firing (moto stores schedules but never
//! fires them: [`scheduler`]) and, unless told otherwise, the Telegram Bot API.
//! Everything is created from `template.yaml`.
//!
//! The stand-ins are what the local run is, so they are always built. What only tests and
//! benchmarks use (the counting AWS proxy, [`aws_counter`], and the methods that inspect or steer
//! a running stack) is behind the `test-support` feature, out of the `clawless` binary.

pub mod agentcore;
pub mod agentcore_memory;
pub mod api_gateway;
#[cfg(any(test, feature = "test-support"))]
pub mod aws_counter;
pub mod channel_api;
pub mod console;
pub mod event_source;
#[cfg(feature = "test-support")]
pub mod faults;
pub mod lambda;
pub mod moto;
pub mod resources;
pub mod scheduler;
pub mod template;
#[cfg(feature = "test-support")]
mod test_support;
pub mod transcribe;
#[cfg(feature = "test-support")]
pub use test_support::output_lines;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::agentcore::{AgentCoreConfig, AgentCoreStandIn};
use self::api_gateway::ApiRoute;
use self::channel_api::Outbox;
use self::lambda::{FunctionHandle, FunctionSpec};
use self::resources::{CreatedResources, LocalAws, Resolver};
use self::template::Template;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Resources(#[from] resources::ResourceError),
    #[error(transparent)]
    Moto(#[from] moto::MotoError),
    #[error("{0}")]
    Io(String),
}

/// The AgentCore memory id of the local run's stand-in.
pub const LOCAL_MEMORY_ID: &str = "clawless_memory-L0caL00000";

/// Where the local run gets its AWS from.
#[derive(Debug, Clone)]
pub enum AwsTarget {
    /// Start moto's server on this port (0: any free port).
    SpawnMoto { port: u16 },
    /// Use an emulator that is already running.
    Endpoint(String),
}

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub repo_root: PathBuf,
    pub bin_dir: PathBuf,
    pub stack: String,
    pub region: String,
    /// Port of the local API (0: any free port).
    pub api_port: u16,
    pub aws: AwsTarget,
    /// Channel API base URLs by channel (`telegram`, `slack`, …). A channel not named here
    /// talks to the built-in stand-in, if it has one.
    pub channel_apis: HashMap<String, String>,
    pub agent_idle_timeout: Duration,
    /// Processes per function (Lambda's concurrency).
    pub instances: HashMap<String, usize>,
    /// Start the SQS event-source mappings (default true). Benchmarks turn this off to drain a
    /// queue themselves, so no function consumes it.
    pub event_source_mappings: bool,
    /// Put a counting proxy between the functions and the AWS endpoint (default false): the
    /// functions' `AWS_ENDPOINT_URL` points at it, while the stack's own setup and the CLI still
    /// talk to the endpoint directly. Read the counts with [`LocalStack::aws_calls`].
    #[cfg(feature = "test-support")]
    pub count_aws_calls: bool,
    /// Extra environment for the agent processes (after the template's and the passed-through
    /// `CLAWLESS_MODEL_*`/`CLAWLESS_OPENAI_*`/`CLAWLESS_BEDROCK_ENDPOINT`, so these win).
    pub agent_env: Vec<(String, String)>,
    /// Extra environment for every function (after the template's, the channel APIs' and the
    /// passed-through `CLAWLESS_BEDROCK_ENDPOINT`, so these win): tests shorten waits such as
    /// `CLAWLESS_RUN_WAIT_SECONDS` or `CLAWLESS_NOTICE_CACHE_SECONDS`.
    pub function_env: Vec<(String, String)>,
    /// How often the local scheduler looks for due schedules (default 1 s). Its clock can be
    /// moved forward through [`LocalStack::scheduler`] (see [`scheduler::SchedulerClock`]).
    pub scheduler_tick: Duration,
    /// The agents' long-term memory backend: `s3` (the template's default) or `agentcore` (the
    /// AgentCore Memory stand-in, [`agentcore_memory`]). `None`: `CLAWLESS_MEMORY_BACKEND` of
    /// this process, else `s3`.
    pub memory_backend: Option<String>,
}

impl LocalOptions {
    pub fn new(repo_root: PathBuf, bin_dir: PathBuf) -> Self {
        Self {
            repo_root,
            bin_dir,
            stack: "clawless".into(),
            region: "us-east-1".into(),
            api_port: 0,
            aws: AwsTarget::SpawnMoto { port: 0 },
            channel_apis: HashMap::new(),
            agent_idle_timeout: Duration::from_secs(15 * 60),
            instances: HashMap::new(),
            event_source_mappings: true,
            #[cfg(feature = "test-support")]
            count_aws_calls: false,
            agent_env: Vec::new(),
            function_env: Vec::new(),
            scheduler_tick: Duration::from_secs(1),
            memory_backend: None,
        }
    }
}

/// The contract in `.clawless/local.json`: other tools read exactly these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalEndpoints {
    pub api_url: String,
    pub aws_endpoint_url: String,
    pub region: String,
    /// The console's user pool and app client on the emulator (`None`: the template has none).
    #[serde(default)]
    pub cognito_user_pool_id: Option<String>,
    #[serde(default)]
    pub cognito_client_id: Option<String>,
    /// `{api_url}/admin/v1`: the admin API.
    #[serde(default)]
    pub admin_api_url: Option<String>,
    /// `{api_url}/console/`: the web console.
    #[serde(default)]
    pub console_url: Option<String>,
}

pub struct LocalStack {
    pub endpoints: LocalEndpoints,
    pub stack: String,
    pub sdk: aws_config::SdkConfig,
    pub resources: CreatedResources,
    pub functions: HashMap<String, FunctionHandle>,
    pub agentcore: Arc<AgentCoreStandIn>,
    pub agentcore_url: String,
    /// The AgentCore Memory stand-in, with the `agentcore` memory backend.
    pub agentcore_memory: Option<Arc<agentcore_memory::MemoryStandIn>>,
    /// The API base URL each channel's sends go to (`CLAWLESS_<CHANNEL>_API` of the functions).
    pub channel_apis: BTreeMap<String, String>,
    /// Base URL of the channel stand-ins (`GET {stand_in_url}/_outbox` lists what was sent).
    pub stand_in_url: String,
    pub outbox: Arc<Outbox>,
    /// Fires the schedules of the template's schedule group (None without one).
    pub scheduler: Option<Arc<scheduler::LocalScheduler>>,
    #[cfg(feature = "test-support")]
    aws_counter: Option<Arc<aws_counter::AwsCallCounter>>,
    /// What the event-source mappings received (soak tests deliver some of it again).
    #[cfg(feature = "test-support")]
    pub deliveries: Arc<faults::Deliveries>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _moto: Option<moto::MotoServer>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// SDK configuration for a local emulator: fixed dummy credentials, no instance-metadata probing.
pub async fn local_sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "clawless-local"))
        .load()
        .await
}

/// The environment every local process gets so the AWS SDK talks to the emulator.
fn aws_env(endpoint: &str, region: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_PROFILE", ""),
        ("AWS_SESSION_TOKEN", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn serve(
    router: axum::Router,
    port: u16,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<SocketAddr, LocalError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| LocalError::Io(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| LocalError::Io(e.to_string()))?;
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
    }));
    Ok(addr)
}

impl LocalStack {
    pub async fn start(options: LocalOptions) -> Result<LocalStack, LocalError> {
        let template = Template::load(&options.repo_root.join("template.yaml"))?;
        let mut tasks = Vec::new();

        let (moto_server, endpoint) = match &options.aws {
            AwsTarget::SpawnMoto { port } => {
                let server = moto::MotoServer::start(&options.repo_root, *port).await?;
                let endpoint = server.endpoint.clone();
                (Some(server), endpoint)
            }
            AwsTarget::Endpoint(url) => (None, url.clone()),
        };
        let sdk = local_sdk_config(&endpoint, &options.region).await;

        // Listeners first: their URLs go into the resources (API URL parameter) and environments.
        let api_listener = tokio::net::TcpListener::bind(("127.0.0.1", options.api_port))
            .await
            .map_err(|e| LocalError::Io(format!("cannot listen on 127.0.0.1:{}: {e}", options.api_port)))?;
        let api_addr = api_listener.local_addr().map_err(|e| LocalError::Io(e.to_string()))?;
        let api_url = format!("http://{api_addr}");

        let outbox = Arc::new(Outbox::default());
        let stand_in = format!("http://{}", serve(channel_api::router(outbox.clone()), 0, &mut tasks).await?);
        let mut channel_apis: BTreeMap<String, String> =
            channel_api::STAND_INS.iter().map(|(name, _)| (name.to_string(), format!("{stand_in}/{name}"))).collect();
        channel_apis.extend(options.channel_apis.clone());
        let channel_env: Vec<(String, String)> = channel_apis
            .iter()
            .map(|(name, url)| (format!("CLAWLESS_{}_API", name.to_ascii_uppercase()), url.clone()))
            .collect();

        let runtime = template.agent_runtimes.first();
        let runtime_arn = format!(
            "arn:aws:bedrock-agentcore:{}:{}:runtime/clawless_agent-local",
            options.region,
            resources::LOCAL_ACCOUNT_ID
        );

        let mut resolver = Resolver::new(&options.stack, &options.region, template.parameter_defaults.clone());
        resolver.conditions = template.conditions.clone();
        let memory_backend =
            match options.memory_backend.clone().or_else(|| std::env::var("CLAWLESS_MEMORY_BACKEND").ok()) {
                None => "s3".to_owned(),
                Some(b) if b == "s3" || b == "agentcore" => b,
                Some(_) => return Err(LocalError::Io("CLAWLESS_MEMORY_BACKEND: expected s3 or agentcore".into())),
            };
        resolver.parameters.insert("MemoryBackend".into(), memory_backend.clone());
        resolver.parameters.entry("AgentImageUri".into()).or_insert_with(|| "local".into());
        // Locally the agents answer offline unless the environment names a model provider.
        resolver.parameters.insert("ModelProvider".into(), "offline".into());
        let mut extra_refs = HashMap::new();
        let mut extra_attributes = HashMap::new();
        for api in &template.http_apis {
            extra_refs.insert(api.clone(), "local".to_owned());
        }
        if let Some(runtime) = runtime {
            extra_refs.insert(runtime.logical_id.clone(), runtime_arn.clone());
            extra_attributes.insert((runtime.logical_id.clone(), "AgentRuntimeArn".to_owned()), runtime_arn.clone());
        }
        let api_parameter = format!("/clawless/{}/platform/api-url", options.stack);
        let overrides = HashMap::from([(api_parameter, api_url.clone())]);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let scheduler = aws_sdk_scheduler::Client::new(&sdk);
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
        let aws = LocalAws {
            dynamodb: &dynamodb,
            sqs: &sqs,
            ssm: &ssm,
            scheduler: &scheduler,
            s3: &s3,
            secrets: &secrets,
            cognito: &cognito,
        };
        let created =
            resources::create_all(&template, &aws, &mut resolver, &overrides, &extra_refs, &extra_attributes).await?;

        // Functions are known by their logical id locally (the Lambda host's ARNs).
        for function in &template.functions {
            resolver.attributes.insert(
                (function.logical_id.clone(), "Arn".to_owned()),
                format!(
                    "arn:aws:lambda:{}:{}:function:{}",
                    options.region,
                    resources::LOCAL_ACCOUNT_ID,
                    function.logical_id
                ),
            );
        }
        // AgentCore stand-in, with the runtime's environment from the template. Each agent starts
        // with a clean environment (only this list), listening on loopback only; tenant access
        // comes with each invocation, as on AWS.
        let mut agent_env = aws_env(&endpoint, &options.region);
        agent_env.push(("CLAWLESS_LISTEN_HOST".into(), "127.0.0.1".into()));
        for key in ["PATH", "HOME", "LANG", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE", "CLAWLESS_TLS_ROOTS"] {
            if let Ok(value) = std::env::var(key) {
                agent_env.push((key.into(), value));
            }
        }
        resolver.attributes.insert(("LongTermMemory".into(), "MemoryId".into()), LOCAL_MEMORY_ID.into());
        if let Some(runtime) = runtime {
            for (key, expr) in &runtime.environment {
                agent_env.push((key.clone(), resolver.resolve(expr)?));
            }
        }
        // Long-term memory in the AgentCore Memory stand-in: the template's `!GetAtt` of the
        // memory resolves to the stand-in's id, and the agents reach it at its endpoint.
        let agentcore_memory = if memory_backend == "agentcore" {
            let stand = agentcore_memory::MemoryStandIn::new(LOCAL_MEMORY_ID);
            let url = format!("http://{}", serve(stand.router(), 0, &mut tasks).await?);
            agent_env.push(("CLAWLESS_AGENTCORE_MEMORY_ENDPOINT".into(), url));
            Some(stand)
        } else {
            None
        };
        // Progress reports (typing, status messages) are off in the local run unless asked for
        // (`CLAWLESS_PROGRESS_SECS=4 clawless local up`, or a test's agent env): every other
        // test counts the messages a run sends, and a slow machine would make status messages.
        agent_env.push(("CLAWLESS_PROGRESS_SECS".into(), "0".into()));
        // The platform's model settings pass through to the agents, as the runtime's env would.
        for (key, value) in std::env::vars() {
            if key.starts_with("CLAWLESS_MODEL_")
                || key.starts_with("CLAWLESS_OPENAI_")
                || key == "CLAWLESS_BEDROCK_ENDPOINT"
                || key == "CLAWLESS_PROGRESS_SECS"
            {
                agent_env.push((key, value));
            }
        }
        // Voice notes are transcribed by the Transcribe stand-in, which reads and writes the
        // emulator's S3 as the service would.
        let transcribe_url =
            format!("http://{}", serve(transcribe::router(s3.clone(), endpoint.clone()), 0, &mut tasks).await?);
        agent_env.push(("CLAWLESS_TRANSCRIBE".into(), "on".into()));
        agent_env.push(("CLAWLESS_TRANSCRIBE_ENDPOINT".into(), transcribe_url));
        agent_env.extend(options.agent_env.iter().cloned());
        let agentcore = AgentCoreStandIn::new(AgentCoreConfig {
            runtime_arn: runtime_arn.clone(),
            agent_binary: options.bin_dir.join("clawless-agent"),
            env: agent_env,
            idle_timeout: options.agent_idle_timeout,
        });
        let agentcore_url = format!("http://{}", serve(agentcore.router(), 0, &mut tasks).await?);
        {
            let agentcore = agentcore.clone();
            let every = (options.agent_idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    agentcore.reap_idle().await;
                }
            }));
        }

        // The functions: real binaries, the template's environment, the local AWS (through the
        // counting proxy when asked for).
        #[cfg(feature = "test-support")]
        let (function_endpoint, aws_counter) = test_support::counting_proxy(&options, &endpoint, &mut tasks).await?;
        #[cfg(not(feature = "test-support"))]
        let function_endpoint = endpoint.clone();
        let mut functions = HashMap::new();
        let mut routes = Vec::new();
        #[cfg(feature = "test-support")]
        let deliveries = Arc::new(faults::Deliveries::default());
        // The console's user pool: the admin function fetches its keys from the emulator, where
        // moto serves them under the pool's id (in AWS: the issuer's well-known path).
        let user_pool_id = resolver.refs.get("UserPool").cloned();
        let user_pool_client_id = resolver.refs.get("UserPoolClient").cloned();
        let jwks_env = user_pool_id.as_ref().map(|pool| {
            (
                "CLAWLESS_COGNITO_JWKS_URL".to_owned(),
                format!("{}/{pool}/.well-known/jwks.json", endpoint.trim_end_matches('/')),
            )
        });
        for function in &template.functions {
            let mut env = aws_env(&function_endpoint, &options.region);
            env.extend(jwks_env.iter().cloned());
            env.push(("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE".into(), agentcore_url.clone()));
            for (key, expr) in &function.environment {
                env.push((key.clone(), resolver.resolve(expr)?));
            }
            // Channel APIs point at the stand-ins or the given URLs (later entries win).
            env.extend(channel_env.iter().cloned());
            // The reply function's notice summary calls Bedrock like the agent does: at the
            // endpoint the environment names (the local stand-in), not at the AWS emulator.
            if let Ok(endpoint) = std::env::var("CLAWLESS_BEDROCK_ENDPOINT") {
                env.push(("CLAWLESS_BEDROCK_ENDPOINT".into(), endpoint));
            }
            env.extend(options.function_env.iter().cloned());
            let spec = FunctionSpec {
                name: function.logical_id.clone(),
                binary: options.bin_dir.join(&function.binary),
                timeout: Duration::from_secs(function.timeout_secs),
                memory_mb: function.memory_mb,
                env,
                instances: options.instances.get(&function.logical_id).copied().unwrap_or(1),
            };
            let handle = lambda::start_function(spec, &mut tasks).await.map_err(|e| LocalError::Io(e.to_string()))?;
            for route in &function.routes {
                routes.push(ApiRoute {
                    method: route.method.clone(),
                    path: route.path.clone(),
                    function: handle.clone(),
                });
            }
            // Without event-source mappings nobody polls the queues (see `LocalOptions`).
            for mapping in function.sqs.iter().filter(|_| options.event_source_mappings) {
                let event_source = event_source::SqsMapping {
                    sqs: sqs.clone(),
                    queue_url: created.queue_urls.get(&mapping.queue_logical_id).cloned().ok_or_else(|| {
                        resources::ResourceError::Unresolved(format!("queue {}", mapping.queue_logical_id))
                    })?,
                    queue_arn: created.queue_arns[&mapping.queue_logical_id].clone(),
                    region: options.region.clone(),
                    batch_size: mapping.batch_size,
                    report_batch_item_failures: mapping.report_batch_item_failures,
                    function: handle.clone(),
                    #[cfg(feature = "test-support")]
                    deliveries: deliveries.clone(),
                };
                tasks.push(tokio::spawn(event_source.run()));
            }
            functions.insert(function.logical_id.clone(), handle);
        }

        let scheduler = match template.schedule_groups.first() {
            Some((logical_id, _)) => {
                let group = resolver
                    .refs
                    .get(logical_id)
                    .cloned()
                    .ok_or_else(|| resources::ResourceError::Unresolved(format!("schedule group {logical_id}")))?;
                let local = Arc::new(scheduler::LocalScheduler::new(
                    aws_sdk_scheduler::Client::new(&sdk),
                    group,
                    functions.clone(),
                    Arc::new(scheduler::SchedulerClock::default()),
                ));
                tasks.push(tokio::spawn(local.clone().run(options.scheduler_tick)));
                Some(local)
            }
            None => None,
        };

        let console_config = serde_json::json!({
            "region": options.region,
            "user_pool_id": user_pool_id,
            "client_id": user_pool_client_id,
            "cognito_endpoint": format!("{}/", endpoint.trim_end_matches('/')),
            "api_url": api_url,
        });
        let api = console::router(
            options.repo_root.join("console/dist"),
            console_config,
            &[endpoint.trim_end_matches('/').to_owned()],
        )
        .merge(api_gateway::router(routes));
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(api_listener, api.into_make_service_with_connect_info::<SocketAddr>()).await;
        }));

        Ok(LocalStack {
            endpoints: LocalEndpoints {
                admin_api_url: Some(format!("{api_url}/admin/v1")),
                console_url: Some(format!("{api_url}/console/")),
                api_url,
                aws_endpoint_url: endpoint,
                region: options.region.clone(),
                cognito_user_pool_id: user_pool_id,
                cognito_client_id: user_pool_client_id,
            },
            stack: options.stack.clone(),
            sdk,
            resources: created,
            functions,
            agentcore,
            agentcore_url,
            agentcore_memory,
            channel_apis,
            stand_in_url: stand_in,
            outbox,
            scheduler,
            #[cfg(feature = "test-support")]
            aws_counter,
            #[cfg(feature = "test-support")]
            deliveries,
            tasks,
            _moto: moto_server,
        })
    }

    /// Writes `.clawless/local.json` under `repo_root`.
    pub fn write_endpoints(&self, repo_root: &Path) -> std::io::Result<PathBuf> {
        let dir = repo_root.join(".clawless");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("local.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.endpoints).unwrap_or_default() + "\n")?;
        Ok(path)
    }
}

/// Prints a child process's output line by line, tagged with where it comes from.
fn forward_output<R: tokio::io::AsyncRead + Unpin + Send + 'static>(tag: &str, stream: Option<R>) {
    use tokio::io::AsyncBufReadExt;
    let Some(stream) = stream else { return };
    let tag = tag.to_owned();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            #[cfg(feature = "test-support")]
            test_support::capture(&tag, &line);
            eprintln!("[{tag}] {line}");
        }
    });
}

/// The directory holding the workspace's binaries: next to the running executable (test
/// executables live one level deeper, in `deps/`).
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") { dir.parent().map(Path::to_path_buf).unwrap_or(dir) } else { dir }
}

/// The repository root: the nearest ancestor of `start` holding `template.yaml`.
pub fn find_repo_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| dir.join("template.yaml").is_file()).map(Path::to_path_buf)
}
