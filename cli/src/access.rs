//! `clawless access`: a bot's access policy ([`clawless_core::access`]) as an operator sees and
//! changes it, through the core's admin operations (`clawless_core::admin::access`).

use clap::{ArgGroup, Args, Subcommand};
use clawless_core::access::{DmPolicy, GroupPolicy};
use clawless_core::admin::Acting;
use clawless_core::admin::access::Subject as AccessSubject;
use clawless_core::domain::visible::visible;
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

/// Runs one `access` command: the JSON object it prints and its text form. The operations are
/// the core's ([`clawless_core::admin::access`]), shared with the admin API.
pub async fn run(admin: &Admin, action: AccessAction) -> Result<(Value, String), AdminError> {
    let service = admin.service();
    let operator = Acting::Operator;
    let (view, what) = match action {
        AccessAction::Show { bot } => (service.access(&operator, &bot).await?, None),
        AccessAction::Set { bot, dm, groups } => {
            if dm.is_none() && groups.is_none() {
                return Err(AdminError::Invalid("give --dm, --groups or both".into()));
            }
            (service.set_access(&operator, &bot, dm, groups).await?, Some("access set".to_owned()))
        }
        AccessAction::Allow(subject) => {
            let (bot, subject) = subject.parse()?;
            (service.change_access(&operator, &bot, subject, true, "operator").await?, Some("allowed".to_owned()))
        }
        AccessAction::Revoke(subject) => {
            let (bot, subject) = subject.parse()?;
            (service.change_access(&operator, &bot, subject, false, "operator").await?, Some("revoked".to_owned()))
        }
        AccessAction::Approve { bot, code } => {
            let (user, view) = service.approve_pairing(&operator, &bot, &code, "operator").await?;
            let what = format!("approved: {} may now message bot {} directly", visible(&user), view.bot_id);
            (view, Some(what))
        }
    };
    let shown = json!(view);
    let text = match what {
        Some(what) => format!("{what}.\n{}", describe(&shown)),
        None => describe(&shown),
    };
    Ok((shown, text))
}

impl Subject {
    fn parse(self) -> Result<(String, AccessSubject), AdminError> {
        match (self.user, self.group) {
            (Some(user), None) => Ok((self.bot, AccessSubject::User(user))),
            (None, Some(group)) => Ok((self.bot, AccessSubject::Group(group))),
            _ => Err(AdminError::Invalid("give exactly one of --user and --group".into())),
        }
    }
}
