//! A bot's access policy as an operator (the CLI) or a tenant admin (the API) sees and changes it:
//! its modes, allowed users and groups, pending pairing codes. Every change goes straight to the
//! table; the dispatcher reads the allow items fresh, so a revocation holds at the user's next
//! message.

use serde::Serialize;

use super::{Acting, AdminError, AdminService};
use crate::access::{AllowedUser, DmPolicy, GroupPolicy, MAX_ALLOWED_GROUPS, approve_code};
use crate::domain::model::now_ms;
use crate::domain::permissions::UserRef;
use crate::domain::records::BotRecord;

/// What `access show` prints and `GET …/access` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessView {
    pub bot_id: String,
    pub dm: DmPolicy,
    pub groups: GroupPolicy,
    pub allowed: Vec<AllowedEntry>,
    pub allowed_groups: Vec<String>,
    pub pending: Vec<PendingEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AllowedEntry {
    pub user: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PendingEntry {
    pub code: String,
    pub user: String,
    pub expires_at_ms: i64,
}

/// Who an allow or a revocation names: a user (admitted in DMs) or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `<channel>:<user id>`.
    User(String),
    /// `<channel>:<group id>`.
    Group(String),
}

impl AdminService {
    async fn access_view(&self, record: &BotRecord) -> Result<AccessView, AdminError> {
        let b = &record.bot;
        let items = self.ports.access.access_items(&b.tenant_id, &b.bot_id, now_ms()).await?;
        Ok(AccessView {
            bot_id: b.bot_id.to_string(),
            dm: b.access.dm,
            groups: b.access.groups,
            allowed: items.allowed.into_iter().map(|a| AllowedEntry { user: a.user }).collect(),
            allowed_groups: b.access.allowed_groups.clone(),
            pending: items
                .pending
                .into_iter()
                .map(|p| PendingEntry { code: p.code, user: p.user, expires_at_ms: p.expires_at_ms })
                .collect(),
        })
    }

    /// The bot's modes, allowed users and groups, and pending pairing codes.
    pub async fn access(&self, acting: &Acting, bot: &str) -> Result<AccessView, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        self.access_view(&record).await
    }

    /// Changes the bot's modes (applies within the functions' bot cache time).
    pub async fn set_access(
        &self,
        acting: &Acting,
        bot: &str,
        dm: Option<DmPolicy>,
        groups: Option<GroupPolicy>,
    ) -> Result<AccessView, AdminError> {
        if dm.is_none() && groups.is_none() {
            return Err(AdminError::Invalid("give dm, groups or both".into()));
        }
        let record = self.bot_record(acting, bot).await?;
        let mut access = record.bot.access.clone();
        access.dm = dm.unwrap_or(access.dm);
        access.groups = groups.unwrap_or(access.groups);
        self.ports.access.set_bot_access(&record.bot.bot_id, &access).await?;
        self.access(acting, bot).await
    }

    /// Allows a user in DMs or a group (`allow`), or revokes one (a user's pending code too).
    /// Revoking someone not allowed is not an error: the answer shows the state.
    pub async fn change_access(
        &self,
        acting: &Acting,
        bot: &str,
        subject: Subject,
        allow: bool,
        by: &str,
    ) -> Result<AccessView, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        let (t, id) = (&record.bot.tenant_id, &record.bot.bot_id);
        match subject {
            Subject::User(user) => {
                let user = UserRef::parse(user.trim()).map_err(AdminError::Invalid)?;
                if allow {
                    let allowed =
                        AllowedUser { user: user.to_string(), added_at_ms: now_ms(), added_by: by.to_owned() };
                    self.ports.access.allow_dm(t, id, &allowed).await?;
                } else {
                    self.ports.access.revoke_dm(t, id, &user).await?;
                }
            }
            Subject::Group(group) => {
                let group = UserRef::parse(group.trim()).map_err(AdminError::Invalid)?.to_string();
                let mut access = record.bot.access.clone();
                access.allowed_groups.retain(|g| *g != group);
                if allow {
                    if access.allowed_groups.len() >= MAX_ALLOWED_GROUPS {
                        return Err(AdminError::Invalid(format!(
                            "a bot's group allowlist holds at most {MAX_ALLOWED_GROUPS} groups"
                        )));
                    }
                    access.allowed_groups.push(group);
                }
                self.ports.access.set_bot_access(id, &access).await?;
            }
        }
        self.access(acting, bot).await
    }

    /// Approves a pairing code a stranger was sent: they may then write to the bot directly.
    /// Returns who was admitted and the bot's access afterwards.
    pub async fn approve_pairing(
        &self,
        acting: &Acting,
        bot: &str,
        code: &str,
        by: &str,
    ) -> Result<(String, AccessView), AdminError> {
        let record = self.bot_record(acting, bot).await?;
        let (t, id) = (&record.bot.tenant_id, &record.bot.bot_id);
        let allowed = approve_code(self.ports.access.as_ref(), t, id, code, by, now_ms()).await?.ok_or_else(|| {
            AdminError::Invalid(format!(
                "no pending pairing code {:?} on bot {id} (wrong, used or expired)",
                crate::domain::visible::visible(code.trim())
            ))
        })?;
        Ok((allowed.user, self.access_view(&record).await?))
    }
}
