//! `clawless access`: a bot's access policy ([`clawless_core::access`]) as an operator sees and
//! changes it. Every change goes straight to the table; the dispatcher reads the allow items
//! fresh, so a revocation holds at the user's next message.

use clap::{ArgGroup, Args, Subcommand};
use clawless_core::access::{
    AccessRepo, AllowedUser, BotAccess, DmPolicy, GroupPolicy, MAX_ALLOWED_GROUPS, approve_code,
};
use clawless_core::domain::ids::BotId;
use clawless_core::domain::model::now_ms;
use clawless_core::domain::permissions::UserRef;
use clawless_core::domain::records::BotRecord;
use clawless_core::domain::visible::visible;
use clawless_core::ports::BotRepo;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

#[derive(Subcommand)]
pub enum AccessAction {
    /// The bot's modes, allowed users and groups, and pending pairing codes.
    Show {
        #[arg(long)]
        bot: String,
    },
    /// Change the bot's modes (applies within the functions' bot cache time, a minute by default).
    Set {
        #[arg(long)]
        bot: String,
        /// Direct messages: pairing | allowlist | open | disabled.
        #[arg(long, value_parser = parse_dm)]
        dm: Option<DmPolicy>,
        /// Groups: mention | allowlist | open | disabled.
        #[arg(long, value_parser = parse_groups)]
        groups: Option<GroupPolicy>,
    },
    /// Allow a user in DMs, or a group (for `--groups allowlist`).
    Allow(Subject),
    /// Remove a user's DM allow item (and any pending code of theirs), or a group.
    Revoke(Subject),
    /// Approve a pairing code a stranger was sent: they may then write to the bot directly.
    Approve {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        code: String,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["user", "group"])))]
pub struct Subject {
    #[arg(long)]
    bot: String,
    /// <channel>:<user id>, e.g. telegram:12345 or slack:U123 (admitted in DMs only).
    #[arg(long)]
    user: Option<String>,
    /// <channel>:<group id>, e.g. telegram:-1001234 (admitted in that group only).
    #[arg(long)]
    group: Option<String>,
}

pub fn parse_dm(raw: &str) -> Result<DmPolicy, String> {
    raw.parse().map_err(|e: clawless_core::access::UnknownPolicy| e.to_string())
}

pub fn parse_groups(raw: &str) -> Result<GroupPolicy, String> {
    raw.parse().map_err(|e: clawless_core::access::UnknownPolicy| e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

async fn bot(admin: &Admin, bot: &str) -> Result<BotRecord, AdminError> {
    let bot_id = BotId::parse(bot.trim()).map_err(invalid)?;
    admin.store().load_bot(&bot_id).await?.ok_or_else(|| invalid(format!("bot {bot_id} does not exist")))
}

/// `access show`'s object.
async fn show(admin: &Admin, record: &BotRecord) -> Result<Value, AdminError> {
    let b = &record.bot;
    let items = admin.store().access_items(&b.tenant_id, &b.bot_id, now_ms()).await?;
    Ok(json!({
        "bot_id": b.bot_id,
        "dm": b.access.dm,
        "groups": b.access.groups,
        "allowed": items.allowed.iter().map(|a| json!({"user": a.user})).collect::<Vec<_>>(),
        "allowed_groups": b.access.allowed_groups,
        "pending": items.pending.iter().map(|p| json!({"code": p.code, "user": p.user, "expires_at_ms": p.expires_at_ms})).collect::<Vec<_>>(),
    }))
}

fn describe(shown: &Value) -> String {
    let list = |key: &str, field: Option<&str>| -> String {
        let items: Vec<String> = shown[key]
            .as_array()
            .map(|a| {
                a.iter().map(|v| visible(field.map_or(v, |f| &v[f]).as_str().unwrap_or_default()).to_string()).collect()
            })
            .unwrap_or_default();
        if items.is_empty() { "-".to_owned() } else { items.join(", ") }
    };
    let pending: Vec<String> = shown["pending"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{} for {}",
                        p["code"].as_str().unwrap_or_default(),
                        visible(p["user"].as_str().unwrap_or_default())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "bot {}: dm {}, groups {}\nallowed users: {}\nallowed groups: {}\npending codes: {}",
        shown["bot_id"].as_str().unwrap_or_default(),
        shown["dm"].as_str().unwrap_or_default(),
        shown["groups"].as_str().unwrap_or_default(),
        list("allowed", Some("user")),
        list("allowed_groups", None),
        if pending.is_empty() { "-".to_owned() } else { pending.join(", ") },
    )
}

/// Runs one `access` command: the JSON object it prints and its text form.
pub async fn run(admin: &Admin, action: AccessAction) -> Result<(Value, String), AdminError> {
    let store = admin.store();
    match action {
        AccessAction::Show { bot: b } => {
            let shown = show(admin, &bot(admin, &b).await?).await?;
            let text = describe(&shown);
            Ok((shown, text))
        }
        AccessAction::Set { bot: b, dm, groups } => {
            if dm.is_none() && groups.is_none() {
                return Err(invalid("give --dm, --groups or both"));
            }
            let record = bot(admin, &b).await?;
            let mut access: BotAccess = record.bot.access.clone();
            access.dm = dm.unwrap_or(access.dm);
            access.groups = groups.unwrap_or(access.groups);
            store.set_bot_access(&record.bot.bot_id, &access).await?;
            changed(admin, &record.bot.bot_id, "access set").await
        }
        AccessAction::Allow(subject) => subject_change(admin, subject, true).await,
        AccessAction::Revoke(subject) => subject_change(admin, subject, false).await,
        AccessAction::Approve { bot: b, code } => {
            let record = bot(admin, &b).await?;
            let (t, id) = (&record.bot.tenant_id, &record.bot.bot_id);
            let allowed = approve_code(store, t, id, &code, "operator", now_ms()).await?.ok_or_else(|| {
                invalid(format!(
                    "no pending pairing code {:?} on bot {id} (wrong, used or expired)",
                    visible(code.trim())
                ))
            })?;
            let shown = show(admin, &record).await?;
            let text = format!(
                "approved: {} may now message bot {id} directly.\n{}",
                visible(&allowed.user),
                describe(&shown)
            );
            Ok((shown, text))
        }
    }
}

async fn changed(admin: &Admin, bot_id: &BotId, what: &str) -> Result<(Value, String), AdminError> {
    let shown = show(admin, &bot(admin, bot_id.as_str()).await?).await?;
    let text = format!("{what}.\n{}", describe(&shown));
    Ok((shown, text))
}

async fn subject_change(admin: &Admin, subject: Subject, allow: bool) -> Result<(Value, String), AdminError> {
    let store = admin.store();
    let record = bot(admin, &subject.bot).await?;
    let (t, id) = (&record.bot.tenant_id, &record.bot.bot_id);
    match (subject.user, subject.group) {
        (Some(user), None) => {
            let user = UserRef::parse(user.trim()).map_err(AdminError::Invalid)?;
            if allow {
                let allowed =
                    AllowedUser { user: user.to_string(), added_at_ms: now_ms(), added_by: "operator".into() };
                store.allow_dm(t, id, &allowed).await?;
            } else {
                // Revoking someone not allowed is not an error: `show` below tells the state.
                store.revoke_dm(t, id, &user).await?;
            }
        }
        (None, Some(group)) => {
            let group = UserRef::parse(group.trim()).map_err(AdminError::Invalid)?.to_string();
            let mut access = record.bot.access.clone();
            access.allowed_groups.retain(|g| *g != group);
            if allow {
                if access.allowed_groups.len() >= MAX_ALLOWED_GROUPS {
                    return Err(invalid(format!("a bot's group allowlist holds at most {MAX_ALLOWED_GROUPS} groups")));
                }
                access.allowed_groups.push(group);
            }
            store.set_bot_access(id, &access).await?;
        }
        _ => return Err(invalid("give exactly one of --user and --group")),
    }
    changed(admin, id, if allow { "allowed" } else { "revoked" }).await
}
