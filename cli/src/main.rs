//! `clawless`: operate a clawless stack (in AWS or local), and run the platform locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clawless_cli::admin::{self, Admin, AdminError, TaskAction};
use clawless_cli::dlq::{self, Dlq, RedriveQueue};
use clawless_core::config::PlatformConfig;
use clawless_core::domain::model::{BotSettings, BotStatus};
use clawless_core::domain::visible::visible;
use clawless_local::{
    AwsTarget, LocalEndpoints, LocalOptions, LocalStack, default_bin_dir, find_repo_root, local_sdk_config,
};
use serde_json::json;

#[derive(Parser)]
#[command(name = "clawless", version, about = "Operate clawless, the serverless multi-tenant AI-assistant platform")]
struct Cli {
    /// Stack name: resource names derive from it (table `<stack>-data`, parameters under `/clawless/<stack>`).
    #[arg(long, global = true, env = "CLAWLESS_STACK", default_value = "clawless")]
    stack: String,
    /// Talk to the local run described by `.clawless/local.json` instead of the AWS configuration.
    #[arg(long, global = true)]
    local: bool,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tenants: the customers whose bots and data are kept apart.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Bots: one assistant, reachable on one or more channels.
    Bot {
        #[command(subcommand)]
        action: BotAction,
    },
    /// Channels: attach a chat platform to a bot.
    Channel {
        #[command(subcommand)]
        action: ChannelAction,
    },
    /// Permission profiles: which tools a tenant's agents may run (enforced by the agent).
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// The tenant's approver: who decides permission requests, in their chat with a bot.
    Approver {
        #[command(subcommand)]
        action: ApproverAction,
    },
    /// Permission requests of a tenant's agents (tools outside the profile).
    Approvals {
        #[command(subcommand)]
        action: ApprovalsAction,
    },
    /// Who may talk to a bot: DM pairing and allowlists, group policies, pairing codes.
    Access {
        #[command(subcommand)]
        action: clawless_cli::access::AccessAction,
    },
    /// A bot's remote MCP servers: their tools, behind the same profiles and approvals as the built-ins.
    Mcp {
        #[command(subcommand)]
        action: clawless_cli::mcp::McpAction,
    },
    /// A tenant's limits: the monthly token budget the dispatcher enforces before any agent run.
    Quota {
        #[command(subcommand)]
        action: clawless_cli::quota::QuotaAction,
    },
    /// A tenant's own model provider (or one bot's): type, model, base URL, API key (stdin only).
    Provider {
        #[command(subcommand)]
        action: clawless_cli::provider::ProviderAction,
    },
    /// A tenant's token use in a month against its budget.
    Usage {
        #[command(subcommand)]
        action: clawless_cli::quota::UsageAction,
    },
    /// Console users: who may sign in to the web console, in which tenant, with which role.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Scheduled tasks of a bot (agents create them with their task tools).
    Tasks {
        #[command(subcommand)]
        action: TasksAction,
    },
    /// Skills of a bot: instructions the operator installs, listed in every prompt and read on demand.
    Skill {
        #[command(subcommand)]
        action: clawless_cli::skill::SkillAction,
    },
    /// Dead-letter queues: work the platform gave up on, and moving it back once the cause is fixed.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// The local run: the whole platform on this machine, no AWS account needed.
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum BotAction {
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// In groups, answer messages matching this pattern too (a regular expression, case-insensitive).
        #[arg(long)]
        trigger: Option<String>,
        /// Tone and role of the bot, for its system prompt.
        #[arg(long)]
        persona: Option<String>,
        /// bedrock | openai | offline (default: the platform's CLAWLESS_MODEL_PROVIDER).
        #[arg(long)]
        model_provider: Option<String>,
        /// The model (Bedrock model id or OpenAI model name; default: CLAWLESS_MODEL_ID).
        #[arg(long)]
        model_id: Option<String>,
        /// Direct messages: pairing (default: strangers get a code to be approved) | allowlist | open | disabled.
        #[arg(long, value_parser = clawless_cli::access::parse_dm)]
        dm: Option<clawless_core::access::DmPolicy>,
        /// Groups: mention (default: mentions and the trigger) | allowlist | open (every message) | disabled.
        #[arg(long, value_parser = clawless_cli::access::parse_groups)]
        groups: Option<clawless_core::access::GroupPolicy>,
    },
    /// The tenant's bots.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// One bot: its settings and channels (their webhook URLs; never their keys).
    Show {
        #[arg(long)]
        bot: String,
    },
    /// Stop answering: messages are kept as history, nothing runs (within the functions' cache time).
    Disable {
        #[arg(long)]
        bot: String,
    },
    /// Answer again.
    Enable {
        #[arg(long)]
        bot: String,
    },
    /// Delete the bot, its channels' keys and its scheduled tasks (its history expires as usual).
    Delete {
        #[arg(long)]
        bot: String,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a console login in the tenant (Cognito). Without --password Cognito mails a
    /// temporary one.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// admin (changes things) | member (reads)
        #[arg(long)]
        role: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// The tenant's console users.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Delete a console login of the tenant.
    Remove {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum ProfileAction {
    /// Store the tenant's profile, or with --user an override for one end user.
    Set {
        #[arg(long)]
        tenant: String,
        /// <channel>:<user id>, e.g. telegram:4242.
        #[arg(long)]
        user: Option<String>,
        /// finance-agent | web-agent | erp-agent | readonly-agent | approver
        #[arg(long, conflicts_with = "tools")]
        preset: Option<String>,
        /// Comma-separated tool names (e.g. web_search,file).
        #[arg(long)]
        tools: Option<String>,
    },
    /// Show the profile that applies (the user's, else the tenant's, else least privilege).
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApproverAction {
    /// Set the approver: a user id on one channel of one of the tenant's bots.
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        bot: String,
        /// telegram | slack | whatsapp
        #[arg(long)]
        channel: String,
        /// The approver's user id on that channel (Telegram numeric id, Slack U…, WhatsApp number).
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum ApprovalsAction {
    /// List permission requests, oldest first.
    List {
        #[arg(long)]
        tenant: String,
        /// pending | approved | rejected | expired
        #[arg(long)]
        status: Option<String>,
    },
    /// How the tenant's approver notices are worded: a template, and an optional model-written summary.
    Notice {
        #[command(subcommand)]
        action: clawless_cli::notice::NoticeAction,
    },
}

#[derive(Subcommand)]
enum TasksAction {
    /// List a bot's scheduled tasks (all its conversations), oldest first.
    List {
        #[arg(long)]
        bot: String,
    },
    /// Stop a task firing until it is resumed (its schedule is disabled, its target kept).
    Pause {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        task: String,
    },
    /// Restart a paused task from its next firing.
    Resume {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        task: String,
    },
    /// Delete a task and its schedule.
    Cancel {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        task: String,
    },
}

fn describe_task(t: &clawless_core::tasks::TaskView) -> String {
    format!(
        "{}  {}  {} {} ({})  {}  next {}  last {}  runs {}  {} {}",
        t.task_id,
        t.status.as_str(),
        t.schedule_type.as_str(),
        t.schedule_value,
        t.timezone,
        if t.context_mode == clawless_core::tasks::ContextMode::Isolated { "isolated" } else { "group" },
        t.next_run.as_deref().unwrap_or("-"),
        t.last_run.as_deref().unwrap_or("-"),
        t.run_count,
        t.channel,
        t.conversation_id,
    )
}

#[derive(Subcommand)]
enum DlqAction {
    /// Each DLQ's depth and its first messages: ids and a summary, never a message's text or token.
    /// Listing counts as a receive (ApproximateReceiveCount goes up); the messages stay.
    List {
        /// Messages to show per queue (1 to 100).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
        limit: u16,
    },
    /// Move every message of a DLQ back to its source queue, in its message group (sent, then
    /// deleted; a second run never delivers one twice).
    Redrive {
        /// inbound | reply
        #[arg(long, value_parser = dlq::parse_redrive_queue)]
        queue: RedriveQueue,
        /// List what would move and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ChannelAction {
    /// Attach a channel; its keys are stored as secrets and never printed.
    Add {
        #[arg(long)]
        bot: String,
        #[arg(long = "type")]
        kind: String,
        /// A channel key, as key=value (repeat for each key).
        #[arg(long = "set", value_parser = admin::parse_setting)]
        settings: Vec<(String, String)>,
        /// Base URL of the API, for the printed webhook URL (default: the one the stack recorded).
        #[arg(long, env = "CLAWLESS_API_URL")]
        api_url: Option<String>,
        /// Also register with the channel's API. Telegram: the webhook (`setWebhook` with the
        /// secret token) and the command menu (`/help`, `/new`, `/status`, `/usage`) with
        /// `setMyCommands`. Discord: the application's slash commands (`/ask`, `/help`, `/new`,
        /// `/status`, `/usage`, `/reset`, one bulk overwrite); its Interactions Endpoint URL is
        /// still entered in the Developer Portal.
        #[arg(long)]
        register: bool,
    },
    /// Detach a channel and delete its keys.
    Remove {
        #[arg(long)]
        bot: String,
        #[arg(long = "type")]
        kind: String,
    },
    /// Replace a channel's keys (all the required ones), e.g. after a leaked token.
    Rotate {
        #[arg(long)]
        bot: String,
        #[arg(long = "type")]
        kind: String,
        #[arg(long = "set", value_parser = admin::parse_setting)]
        settings: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
enum LocalAction {
    /// Start moto, create the stack's resources from template.yaml, and run every function.
    Up {
        /// Port of the local API.
        #[arg(long, default_value_t = 3000)]
        api_port: u16,
        /// Port for moto's server.
        #[arg(long, default_value_t = 5000)]
        moto_port: u16,
        /// Use an AWS emulator that is already running instead of starting moto.
        #[arg(long)]
        aws_endpoint: Option<String>,
        /// Send a channel's replies to this API instead of the built-in stand-in, as
        /// CHANNEL=URL (e.g. telegram=https://api.telegram.org); repeat per channel.
        #[arg(long = "channel-api", value_parser = admin::parse_setting)]
        channel_apis: Vec<(String, String)>,
        /// Do not create the demo tenant, bot and Telegram channel.
        #[arg(long)]
        no_demo: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLAWLESS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    find_repo_root(&cwd)
        .ok_or_else(|| "no template.yaml in this directory or above: run clawless from the repository".into())
}

fn read_local_endpoints() -> Result<LocalEndpoints, String> {
    let path = match std::env::var_os("CLAWLESS_LOCAL_JSON") {
        Some(p) => PathBuf::from(p),
        None => repo_root()?.join(".clawless/local.json"),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {} ({e}): is `clawless local up` running?", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is malformed: {e}", path.display()))
}

fn describe_profile(p: &admin::ShownProfile) -> String {
    let who = p.user.as_deref().map(|u| format!(" for {u}")).unwrap_or_default();
    let mut text = format!("tenant {}{who}: {} profile", p.tenant_id, p.source);
    if let Some(preset) = &p.preset {
        text.push_str(&format!(" (preset {preset})"));
    }
    text.push_str(&format!("\ntools: {}", p.tools.join(", ")));
    if p.shell_read_only {
        text.push_str("\nshell: read-only commands only");
    }
    text
}

fn describe_bot(v: &admin::BotView) -> String {
    let b = &v.bot;
    let channels: Vec<&str> = v.channels.iter().map(|c| c.kind.as_str()).collect();
    let status = match b.status {
        BotStatus::Active => "active",
        BotStatus::Disabled => "disabled",
    };
    format!(
        "{}  {}  {status}  channels: {}",
        b.bot_id,
        visible(&b.name),
        if channels.is_empty() { "none".to_owned() } else { channels.join(", ") }
    )
}

/// The console's user pool in AWS: `CLAWLESS_USER_POOL_ID`, else what the stack recorded in SSM.
async fn user_pool_id(sdk: &aws_config::SdkConfig, stack: &str) -> Result<String, String> {
    if let Some(pool) = std::env::var("CLAWLESS_USER_POOL_ID").ok().filter(|p| !p.trim().is_empty()) {
        return Ok(pool);
    }
    let name = format!("{}/platform/user-pool-id", PlatformConfig::for_stack(stack).parameter_prefix);
    let ssm = clawless_aws::ssm::secrets::SecretStore::new(clawless_aws::ssm::secrets::SsmClient::new(sdk), "");
    ssm.get_string(&name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user pool recorded at {name}: deploy the stack, or set CLAWLESS_USER_POOL_ID"))
}

fn print(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Local { action } = cli.command {
        return local_command(action, &cli.stack).await;
    }
    let (sdk, local_api, local_pool) = if cli.local {
        let endpoints = read_local_endpoints()?;
        (
            local_sdk_config(&endpoints.aws_endpoint_url, &endpoints.region).await,
            Some(endpoints.api_url),
            endpoints.cognito_user_pool_id,
        )
    } else {
        // An operator's machine: the OS trust store unless CLAWLESS_TLS_ROOTS says otherwise.
        let roots = clawless_aws::tls::TrustRoots::from_env(clawless_aws::tls::TrustRoots::Native);
        (clawless_aws::sdk::load_sdk_config_with(roots).await, None, None)
    };
    let user_pool = match (&cli.command, local_pool) {
        (Command::User { .. }, Some(pool)) => Some(pool),
        (Command::User { .. }, None) => Some(user_pool_id(&sdk, &cli.stack).await?),
        _ => None,
    };
    let api_url = match &cli.command {
        Command::Channel { action: ChannelAction::Add { api_url: Some(url), .. } } => Some(url.clone()),
        _ => local_api,
    };
    let admin = Admin::with_user_pool(&sdk, &cli.stack, user_pool).with_api_url(api_url);
    let err = |e: AdminError| e.to_string();
    match cli.command {
        Command::Tenant { action: TenantAction::Create { name } } => {
            let tenant = admin.create_tenant(&name).await.map_err(err)?;
            print(
                cli.json,
                json!({"tenant_id": tenant.tenant_id, "name": tenant.name}),
                format!("tenant created: {} ({})", tenant.tenant_id, tenant.name),
            );
        }
        Command::Bot {
            action: BotAction::Create { tenant, name, trigger, persona, model_provider, model_id, dm, groups },
        } => {
            let settings = BotSettings { trigger, persona, model_provider, model_id, dm, groups };
            let bot = admin.create_bot(&tenant, &name, settings).await.map_err(err)?;
            print(
                cli.json,
                json!({"bot_id": bot.bot_id, "tenant_id": bot.tenant_id, "name": bot.name, "dm": bot.access.dm, "groups": bot.access.groups}),
                format!(
                    "bot created: {} ({}) for tenant {}; dm {}, groups {}",
                    bot.bot_id, bot.name, bot.tenant_id, bot.access.dm, bot.access.groups
                ),
            );
        }
        Command::Access { action } => {
            let (shown, text) = clawless_cli::access::run(&admin, action).await.map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Mcp { action } => {
            let platform = PlatformConfig::for_stack(&cli.stack);
            let secrets = clawless_aws::ssm::secrets::SecretStore::new(
                clawless_aws::ssm::secrets::SsmClient::new(&sdk),
                &platform.parameter_prefix,
            );
            let (shown, text) =
                clawless_cli::mcp::run(&admin, &secrets, &platform.parameter_prefix, action).await.map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Skill { action } => {
            let (shown, text) =
                clawless_cli::skill::run(&admin, &sdk, &cli.stack, action).await.map_err(|e| e.to_string())?;
            print(cli.json, shown, text);
        }
        Command::Quota { action } => {
            let (shown, text) = clawless_cli::quota::run_quota(&admin, action).await.map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Provider { action } => {
            let prefix = PlatformConfig::for_stack(&cli.stack).parameter_prefix;
            let secrets = clawless_aws::ssm::secrets::SecretStore::new(
                clawless_aws::ssm::secrets::SsmClient::new(&sdk),
                prefix.clone(),
            );
            let (shown, text) =
                clawless_cli::provider::run(&admin, &secrets, &prefix, action, &mut std::io::stdin().lock())
                    .await
                    .map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Usage { action } => {
            let (shown, text) = clawless_cli::quota::run_usage(&admin, action).await.map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Channel { action: ChannelAction::Add { bot, kind, settings, api_url: _, register } } => {
            let added = admin.add_channel(&bot, &kind, &settings, register).await.map_err(err)?;
            print(
                cli.json,
                json!({"bot_id": added.bot_id, "channel": added.channel, "webhook_url": added.webhook_url, "registered": added.registered}),
                format!(
                    "{} attached to bot {}.\nRegister this webhook URL with {}:\n  {}",
                    added.channel, added.bot_id, added.channel, added.webhook_url
                ),
            );
        }
        Command::Channel { action: ChannelAction::Remove { bot, kind } } => {
            admin.remove_channel(&bot, &kind).await.map_err(err)?;
            print(
                cli.json,
                json!({"bot_id": bot, "channel": kind, "removed": true}),
                format!("{kind} detached from bot {bot}; its keys are deleted."),
            );
        }
        Command::Channel { action: ChannelAction::Rotate { bot, kind, settings } } => {
            let rotated = admin.rotate_channel(&bot, &kind, &settings).await.map_err(err)?;
            print(
                cli.json,
                json!({"bot_id": rotated.bot_id, "channel": rotated.channel, "webhook_url": rotated.webhook_url, "rotated": true}),
                format!(
                    "{} keys of bot {} replaced (the functions use them within their cache time).",
                    rotated.channel, rotated.bot_id
                ),
            );
        }
        Command::Bot { action: BotAction::List { tenant } } => {
            let bots = admin.list_bots(&tenant).await.map_err(err)?;
            let lines: Vec<String> = bots.iter().map(describe_bot).collect();
            let text = if lines.is_empty() { "no bots".to_owned() } else { lines.join("\n") };
            print(cli.json, json!({"tenant_id": tenant, "bots": bots}), text);
        }
        Command::Bot { action: BotAction::Show { bot } } => {
            let view = admin.show_bot(&bot).await.map_err(err)?;
            let mut text = describe_bot(&view);
            for c in &view.channels {
                text.push_str(&format!("\n  {}: {}", c.kind, c.webhook_url));
            }
            print(cli.json, json!(view), text);
        }
        Command::Bot { action: BotAction::Disable { bot } } => {
            let view = admin.set_bot_status(&bot, BotStatus::Disabled).await.map_err(err)?;
            print(cli.json, json!(view), format!("bot disabled: {}", describe_bot(&view)));
        }
        Command::Bot { action: BotAction::Enable { bot } } => {
            let view = admin.set_bot_status(&bot, BotStatus::Active).await.map_err(err)?;
            print(cli.json, json!(view), format!("bot enabled: {}", describe_bot(&view)));
        }
        Command::Bot { action: BotAction::Delete { bot } } => {
            admin.delete_bot(&bot).await.map_err(err)?;
            print(cli.json, json!({"bot_id": bot, "deleted": true}), format!("bot {bot} deleted"));
        }
        Command::User { action: UserAction::Add { tenant, email, role, password } } => {
            let u = admin.add_user(&tenant, &email, &role, password.as_deref()).await.map_err(err)?;
            print(
                cli.json,
                json!({"tenant_id": u.tenant_id, "email": u.email, "role": u.role, "username": u.username}),
                format!("user {} ({}) added to tenant {}", u.email, u.role, u.tenant_id),
            );
        }
        Command::User { action: UserAction::List { tenant } } => {
            let users = admin.list_users(&tenant).await.map_err(err)?;
            let lines: Vec<String> = users.iter().map(|u| format!("{}  {}", visible(&u.email), u.role)).collect();
            let text = if lines.is_empty() { "no console users".to_owned() } else { lines.join("\n") };
            let shown: Vec<_> = users
                .iter()
                .map(|u| json!({"tenant_id": u.tenant_id, "email": u.email, "role": u.role, "username": u.username}))
                .collect();
            print(cli.json, json!({"tenant_id": tenant, "users": shown}), text);
        }
        Command::User { action: UserAction::Remove { tenant, email } } => {
            let u = admin.remove_user(&tenant, &email).await.map_err(err)?;
            print(
                cli.json,
                json!({"tenant_id": u.tenant_id, "email": u.email, "removed": true}),
                format!("user {} removed from tenant {}", u.email, u.tenant_id),
            );
        }
        Command::Profile { action: ProfileAction::Set { tenant, user, preset, tools } } => {
            let shown =
                admin.set_profile(&tenant, user.as_deref(), preset.as_deref(), tools.as_deref()).await.map_err(err)?;
            print(cli.json, json!(shown), format!("profile set. {}", describe_profile(&shown)));
        }
        Command::Profile { action: ProfileAction::Show { tenant, user } } => {
            let shown = admin.show_profile(&tenant, user.as_deref()).await.map_err(err)?;
            print(cli.json, json!(shown), describe_profile(&shown));
        }
        Command::Approver { action: ApproverAction::Set { tenant, bot, channel, user } } => {
            let a = admin.set_approver(&tenant, &bot, &channel, &user).await.map_err(err)?;
            print(
                cli.json,
                json!({"tenant_id": a.tenant_id, "bot_id": a.bot_id, "channel": a.channel, "user_id": a.user_id}),
                format!("approver of tenant {}: {}:{} via bot {}", a.tenant_id, a.channel, a.user_id, a.bot_id),
            );
        }
        Command::Approvals { action: ApprovalsAction::List { tenant, status } } => {
            let requests = admin.list_approvals(&tenant, status.as_deref()).await.map_err(err)?;
            let lines: Vec<String> = requests
                .iter()
                .map(|r| {
                    format!(
                        "{}  {:?}  {}  risk {}  asked by {} ({})  args {}",
                        r.request_id,
                        r.status,
                        r.tool,
                        r.risk.as_str(),
                        // A terminal would act on control characters in what a requester chose.
                        visible(&r.requester_name),
                        visible(&r.requester_id),
                        visible(&r.arguments.chars().take(80).collect::<String>())
                    )
                })
                .collect();
            let text = if lines.is_empty() { "no permission requests".to_owned() } else { lines.join("\n") };
            print(cli.json, json!({"tenant_id": tenant, "requests": requests}), text);
        }
        Command::Approvals { action: ApprovalsAction::Notice { action } } => {
            let (shown, text) = clawless_cli::notice::run(&admin, action).await.map_err(err)?;
            print(cli.json, shown, text);
        }
        Command::Tasks { action: TasksAction::List { bot } } => {
            let tasks = admin.list_tasks(&bot).await.map_err(err)?;
            let lines: Vec<String> = tasks.iter().map(describe_task).collect();
            let text = if lines.is_empty() { "no scheduled tasks".to_owned() } else { lines.join("\n") };
            print(cli.json, json!({"bot_id": bot, "tasks": tasks}), text);
        }
        Command::Tasks { action } => {
            let (bot, task, what, done) = match action {
                TasksAction::Pause { bot, task } => (bot, task, TaskAction::Pause, "paused"),
                TasksAction::Resume { bot, task } => (bot, task, TaskAction::Resume, "resumed"),
                TasksAction::Cancel { bot, task } => (bot, task, TaskAction::Cancel, "cancelled"),
                TasksAction::List { .. } => unreachable!("handled above"),
            };
            let view = admin.task_action(&bot, &task, what).await.map_err(err)?;
            let mut shown = json!(view);
            if what == TaskAction::Cancel {
                shown["status"] = json!("cancelled");
                shown["next_run"] = serde_json::Value::Null;
            }
            print(cli.json, shown, format!("task {done}: {}", describe_task(&view)));
        }
        Command::Dlq { action: DlqAction::List { limit } } => {
            let queues = Dlq::new(&sdk, &cli.stack).list(usize::from(limit)).await.map_err(|e| e.to_string())?;
            print(cli.json, json!({"queues": queues}), dlq::describe_list(&queues));
        }
        Command::Dlq { action: DlqAction::Redrive { queue, dry_run } } => {
            let done = Dlq::new(&sdk, &cli.stack).redrive(queue, dry_run).await.map_err(|e| e.to_string())?;
            print(cli.json, json!(done), dlq::describe_redrive(&done));
            if done.failed > 0 {
                // Scripts see the exit status; what failed and why is printed above.
                return Err(format!("{} message(s) stay in {}", done.failed, done.name));
            }
        }
        Command::Local { .. } => unreachable!("handled above"),
    }
    Ok(())
}

async fn local_command(action: LocalAction, stack: &str) -> Result<(), String> {
    let LocalAction::Up { api_port, moto_port, aws_endpoint, channel_apis, no_demo } = action;
    let root = repo_root()?;
    let mut options = LocalOptions::new(root.clone(), default_bin_dir());
    options.stack = stack.to_owned();
    options.api_port = api_port;
    options.aws = match aws_endpoint {
        Some(url) => AwsTarget::Endpoint(url),
        None => AwsTarget::SpawnMoto { port: moto_port },
    };
    options.channel_apis = channel_apis.into_iter().collect();
    let stack_handle = LocalStack::start(options).await.map_err(|e| e.to_string())?;
    let local_json =
        stack_handle.write_endpoints(&root).map_err(|e| format!("cannot write .clawless/local.json: {e}"))?;
    let endpoints = &stack_handle.endpoints;

    println!("clawless is running locally (stack {stack}).");
    println!("  API:          {}", endpoints.api_url);
    println!("  AWS emulator: {} (region {})", endpoints.aws_endpoint_url, endpoints.region);
    for (channel, url) in &stack_handle.channel_apis {
        println!("  {channel} API: {url}");
    }
    if let Some(console) = &endpoints.console_url {
        println!("  Console:      {console}");
    }
    if let Some(admin_api) = &endpoints.admin_api_url {
        println!("  Admin API:    {admin_api}");
    }
    println!("  Endpoints written to {}", local_json.display());
    // Kept running until Ctrl-C.
    let mut demo_mcp = None;
    if !no_demo {
        let (script, tenant_id) = clawless_cli::demo::seed_demo(&stack_handle, &root.join(".clawless")).await?;
        println!();
        println!("A demo tenant, bot and Telegram channel are ready. Send a message as Telegram would:");
        println!("  {} 'hello bot'", script.display());
        println!("The bot's answer is printed below and listed at {}/_outbox", stack_handle.stand_in_url);
        match clawless_cli::demo::attach_demo_mcp(&stack_handle, &tenant_id).await {
            Ok(server) => {
                println!();
                println!("A demo MCP server ({}) is attached to the demo bot as `demo`. Call its tool:", server.url());
                println!("  {} 'call mcp__demo__lookup_order {{\"order_id\": \"A-1001\"}}'", script.display());
                demo_mcp = Some(server);
            }
            Err(e) => eprintln!("warning: no demo MCP server ({e})"),
        }
        if let Some(console) = &endpoints.console_url {
            match clawless_cli::demo::seed_demo_login(&stack_handle, &tenant_id).await {
                Ok(login) => {
                    println!();
                    println!("Sign in to the console at {console} as the demo tenant's admin:");
                    println!("  email:    {}", login.email);
                    println!("  password: {}", login.password);
                }
                Err(e) => eprintln!("warning: no demo console login ({e})"),
            }
        }
    }
    println!();
    println!("Use the CLI against this stack with --local, e.g. `clawless --local tenant create --name acme`.");
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    drop(demo_mcp);
    Ok(())
}
