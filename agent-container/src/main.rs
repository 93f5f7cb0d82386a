use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clawless_agent::agent_loop::{AgentDeps, RetryPolicy, RunLimits};
use clawless_agent::config::AgentConfig;
use clawless_agent::provider::Providers;
use clawless_agent::reply_sink::SqsReplySink;
use clawless_agent::services::TenantServices;
use clawless_agent::services::aws::{AwsSettings, AwsTenantServices};
use clawless_agent::tools::web::WebSettings;
use clawless_agent::tools::{self, ToolBox};
use clawless_agent::{AppState, StartupError, init_logging, serve};
use clawless_shared::aws::load_sdk_config;
use clawless_shared::config::ConfigError;
use clawless_shared::queue::FifoQueue;
use clawless_shared::tasks::TaskConfig;
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
    let config = AgentConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&sdk), config.reply_queue_url.clone());
    let providers = Providers::build(&config.model, &sdk).map_err(StartupError::Provider)?;
    let tasks = TaskConfig::from_env().map_err(|e| {
        StartupError::Config(ConfigError::Invalid { name: "CLAWLESS_SCHEDULE_GROUP", reason: e.to_string() })
    })?;
    let services = AwsTenantServices::new(
        sdk.clone(),
        AwsSettings {
            table: config.table.clone(),
            parameter_prefix: config.parameter_prefix.clone(),
            memory_bucket: config.memory_bucket.clone(),
            tenant_role_arn: config.tenant_role_arn.clone(),
            profile_cache: Duration::from_secs(config.profile_cache_secs),
            tasks,
        },
    );
    let services: Arc<dyn TenantServices> = Arc::new(services);
    let mut tools = ToolBox::builtin();
    tools::tasks::register(&mut tools, Arc::clone(&services));
    let deps = AgentDeps {
        providers,
        tools,
        services,
        sink: Arc::new(SqsReplySink::new(queue)),
        retry: RetryPolicy::default(),
        limits: RunLimits::default(),
        workspace_root: config.workspace_root.clone(),
        web: WebSettings::from_config(&config),
    };
    let state = AppState::new(deps);
    let listener = TcpListener::bind(("0.0.0.0", config.port))
        .await
        .map_err(|source| StartupError::Bind { port: config.port, source })?;
    tracing::info!(
        event = "agent_started",
        port = config.port,
        provider = %config.model.provider,
        tenant_scoped = config.tenant_role_arn.is_some(),
        "clawless-agent starting"
    );
    serve(listener, state).await.map_err(StartupError::Serve)
}
