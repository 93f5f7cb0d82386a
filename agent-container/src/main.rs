use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clawless_agent::agent_loop::{AgentDeps, RetryPolicy, RunLimits};
use clawless_agent::config::AgentConfig;
use clawless_agent::provider::Providers;
use clawless_agent::reply_sink::SqsReplySink;
use clawless_agent::services::TenantServices;
use clawless_agent::services::aws::{
    AwsSettings, AwsTenantServices, HandedCredentials, LongTermSettings, TranscribeSettings,
};
use clawless_agent::tools::web::WebSettings;
use clawless_agent::tools::{self, ToolBox};
use clawless_agent::{AppState, StartupError, init_logging, serve};
use clawless_aws::sdk::load_sdk_config;
use clawless_core::config::ConfigError;
use clawless_core::tasks::TaskConfig;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(event = "startup_failed", error = %e, "clawless-agent stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), StartupError> {
    tools::shell::init_process_guard();
    let config = AgentConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let providers = Providers::build(&config.model, &sdk).map_err(StartupError::Provider)?;
    let tasks = TaskConfig::from_env().map_err(|e| {
        StartupError::Config(ConfigError::Invalid { name: "CLAWLESS_SCHEDULE_GROUP", reason: e.to_string() })
    })?;
    // Tenant data and the reply queue are reached only with the credentials each invocation
    // carries; the microVM's own (`sdk`) call models and nothing else.
    let handed = Arc::new(HandedCredentials::new(sdk.clone()));
    let services = AwsTenantServices::new(
        Arc::clone(&handed),
        AwsSettings {
            table: config.table.clone(),
            parameter_prefix: config.parameter_prefix.clone(),
            memory_bucket: config.memory_bucket.clone(),
            profile_cache: Duration::from_secs(config.profile_cache_secs),
            memory_cache: Duration::from_secs(config.memory_cache_secs),
            tasks,
            transcribe: config.transcribe.then(|| TranscribeSettings {
                language: config.transcribe_language.clone(),
                endpoint: config.transcribe_endpoint.clone(),
            }),
            long_term: config
                .agentcore_memory_id
                .clone()
                .map(|memory_id| LongTermSettings { memory_id, endpoint: config.agentcore_memory_endpoint.clone() }),
        },
    );
    let services: Arc<dyn TenantServices> = Arc::new(services);
    let mut tools = ToolBox::builtin();
    tools::tasks::register(&mut tools, Arc::clone(&services));
    let deps = AgentDeps {
        providers,
        tools,
        services,
        sink: Arc::new(SqsReplySink::new(handed, config.reply_queue_url.clone())),
        retry: RetryPolicy::default(),
        limits: RunLimits { wall_time: Duration::from_secs(config.run_seconds), ..RunLimits::default() },
        workspace_root: config.workspace_root.clone(),
        web: WebSettings::from_config(&config),
        answered: Default::default(),
        progress_every: (config.progress_secs > 0).then(|| Duration::from_secs(config.progress_secs)),
        transcripts: Arc::new(clawless_agent::attachments::NoTranscripts),
    };
    let state = AppState::new(deps);
    let listener = TcpListener::bind((config.listen_host, config.port))
        .await
        .map_err(|source| StartupError::Bind { port: config.port, source })?;
    tracing::info!(
        event = "agent_started",
        port = config.port,
        provider = %config.model.provider,
        listen_host = %config.listen_host,
        "clawless-agent starting"
    );
    serve(listener, state).await.map_err(StartupError::Serve)
}
