//! Who may talk to a bot: the access policy trusted code enforces before any agent run and
//! before anything is stored beyond a pairing request.
//!
//! - DMs: `pairing` (new bots), `allowlist`, `open` or `disabled`. Under `pairing` a stranger's
//!   first DM gets one reply with a short code ([`PairingCode`]) and no agent run; at most one
//!   code per user per hour, each valid for an hour. The operator approves it
//!   (`clawless access approve`), or the tenant's approver with `/pair <code>` in their chat with
//!   the bot; approving turns it into the user's DM allow item. `allowlist` admits only allowed
//!   users and sends no codes.
//! - Groups: `mention` (any group; a mention, a reply to the bot or the trigger gets an answer),
//!   `allowlist` (only the listed groups, with the same rule), `open` (any group; every message
//!   is answered) or `disabled`.
//! - A DM allow item names a user and admits them in DMs only; a group entry names a group and
//!   admits that group only. Neither ever stands for the other.
//!
//! Where it is stored: the modes and the (small) group list on the bot item, so the webhook can
//! pre-filter from its cached bot record without another AWS call; the DM allow items and
//! pending codes in the partition `{tenant}#ACCESS#{bot}`, one item each, read strongly
//! consistent by the dispatcher, so a revocation holds at the user's next message. No agent's
//! credentials reach that partition or the bot item (template.yaml, TenantAccessRole).

pub mod gate;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{BotId, TenantId};
use crate::domain::model::ConversationMessage;
use crate::domain::permissions::UserRef;
use crate::ports::StoreError;

pub use gate::{AccessGate, Admission, PAIR_USAGE, parse_pair};

/// How long a pairing code is valid, and how long a user waits for another.
pub const PAIRING_TTL_MS: i64 = 3_600_000;
/// Letters of a pairing code.
pub const CODE_LEN: usize = 8;
/// No 0/O, 1/I/L: a code read aloud or copied by hand comes out right. 31 symbols, so a code
/// holds over 39 random bits; guessing one of a bot's few live codes within its hour is hopeless.
const CODE_ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Most groups an allowlist holds (they live on the bot item, which every function caches).
pub const MAX_ALLOWED_GROUPS: usize = 100;

/// Who may write to the bot directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

/// Where the bot answers in groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    Mention,
    Allowlist,
    Open,
    Disabled,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown {what} policy {value:?} (accepted: {accepted})")]
pub struct UnknownPolicy {
    what: &'static str,
    value: String,
    accepted: &'static str,
}

impl DmPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmPolicy::Pairing => "pairing",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Open => "open",
            DmPolicy::Disabled => "disabled",
        }
    }
}

impl GroupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPolicy::Mention => "mention",
            GroupPolicy::Allowlist => "allowlist",
            GroupPolicy::Open => "open",
            GroupPolicy::Disabled => "disabled",
        }
    }
}

impl FromStr for DmPolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [DmPolicy::Pairing, DmPolicy::Allowlist, DmPolicy::Open, DmPolicy::Disabled]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicy {
                what: "DM",
                value: s.chars().take(40).collect(),
                accepted: "pairing, allowlist, open, disabled",
            })
    }
}

impl FromStr for GroupPolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [GroupPolicy::Mention, GroupPolicy::Allowlist, GroupPolicy::Open, GroupPolicy::Disabled]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicy {
                what: "group",
                value: s.chars().take(40).collect(),
                accepted: "mention, allowlist, open, disabled",
            })
    }
}

impl fmt::Display for DmPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for GroupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bot item stored before access policies existed had no such fields: it keeps the behaviour
/// it was deployed with (anyone in DMs, mentions in groups), so an upgrade locks nobody out. New
/// bots are created with [`BotAccess::for_new_bot`].
fn stored_before_policies_dm() -> DmPolicy {
    DmPolicy::Open
}

fn stored_before_policies_groups() -> GroupPolicy {
    GroupPolicy::Mention
}

/// The access part of a bot item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotAccess {
    #[serde(default = "stored_before_policies_dm")]
    pub dm: DmPolicy,
    #[serde(default = "stored_before_policies_groups")]
    pub groups: GroupPolicy,
    /// `<channel>:<group id>` of the groups `groups = allowlist` admits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
}

impl BotAccess {
    /// A new bot's policy: strangers pair first in DMs; mentions in groups.
    pub fn for_new_bot() -> Self {
        Self { dm: DmPolicy::Pairing, groups: GroupPolicy::Mention, allowed_groups: Vec::new() }
    }

    /// Anyone in DMs, mentions in groups (the local demo bot, tests; bots stored before policies).
    pub fn open() -> Self {
        Self { dm: DmPolicy::Open, groups: GroupPolicy::Mention, allowed_groups: Vec::new() }
    }

    pub fn group_listed(&self, group: &UserRef) -> bool {
        self.allowed_groups.contains(&group.to_string())
    }
}

/// A pairing code: [`CODE_LEN`] symbols of an unambiguous alphabet, from a CSPRNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode(String);

impl PairingCode {
    pub fn generate() -> Self {
        let mut code = String::with_capacity(CODE_LEN);
        while code.len() < CODE_LEN {
            // rand's thread generator is a CSPRNG seeded from the OS. Bytes from 248 up are
            // dropped so that every symbol is equally likely (248 = 8 × 31).
            let b: u8 = rand::random();
            if b < 248 {
                code.push(char::from(CODE_ALPHABET[usize::from(b) % CODE_ALPHABET.len()]));
            }
        }
        Self(code)
    }

    /// A code as typed: trimmed and upper-cased, then held to the alphabet and length exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        let code = raw.trim().to_ascii_uppercase();
        let ok = code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
        ok.then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pending pairing: the code, whose it is, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPairing {
    pub code: String,
    /// `<channel>:<id>`.
    pub user: String,
    pub expires_at_ms: i64,
    /// The DM that asked for it (a redelivery of that same DM is sent the same code again).
    pub message_id: String,
}

/// A DM allow item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedUser {
    /// `<channel>:<id>`.
    pub user: String,
    pub added_at_ms: i64,
    /// `operator`, or `pairing:<who approved>`.
    pub added_by: String,
}

/// What a bot's access partition holds, for `clawless access show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessItems {
    pub allowed: Vec<AllowedUser>,
    /// Unexpired pending codes at the time of the read.
    pub pending: Vec<PendingPairing>,
}

/// The access items of a bot. Only trusted code writes them (the dispatcher, the CLI).
#[async_trait]
pub trait AccessRepo: Send + Sync {
    /// Whether `user` has a DM allow item on `bot` (strongly consistent).
    async fn dm_allowed(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError>;
    /// Puts `user`'s DM allow item (an existing one is replaced).
    async fn allow_dm(&self, tenant: &TenantId, bot: &BotId, allowed: &AllowedUser) -> Result<(), StoreError>;
    /// Deletes `user`'s DM allow item and any pending code of theirs; `true` if an allow item was there.
    async fn revoke_dm(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError>;
    /// Records `pending` as `user`'s one code for the hour, in one conditional write: written if
    /// the user has no unexpired code at `now`, or the one they have came from the same message
    /// (a redelivery). Returns the code to send, or `None` (a code is pending: send nothing).
    async fn claim_pairing(
        &self,
        tenant: &TenantId,
        bot: &BotId,
        pending: &PendingPairing,
        now: i64,
    ) -> Result<Option<PendingPairing>, StoreError>;
    /// The pending pairing with `code` on `bot`, if any (expired ones included; strongly consistent).
    async fn pairing(&self, tenant: &TenantId, bot: &BotId, code: &str) -> Result<Option<PendingPairing>, StoreError>;
    /// Deletes a pending pairing (its code item and its user's marker).
    async fn delete_pairing(&self, tenant: &TenantId, bot: &BotId, pending: &PendingPairing) -> Result<(), StoreError>;
    /// Everything in the bot's access partition; pending codes expired at `now` left out.
    async fn access_items(&self, tenant: &TenantId, bot: &BotId, now: i64) -> Result<AccessItems, StoreError>;
    /// Writes the access part of an existing bot item.
    async fn set_bot_access(&self, bot: &BotId, access: &BotAccess) -> Result<(), StoreError>;
}

/// The webhook's part: what its cached bot record refuses (`disabled` modes, a group not on the
/// list), so that such a message is neither queued nor stored as context. `None`: pass it on (the
/// dispatcher decides with fresh reads). A group added a moment ago may be refused here until the
/// cache expires; a group removed may still have context lines kept that long, never answered.
pub fn prefilter(access: &BotAccess, item: &ConversationMessage) -> Option<&'static str> {
    let c = &item.conversation;
    if item.message.is_direct {
        return (access.dm == DmPolicy::Disabled).then_some("direct messages are disabled");
    }
    match access.groups {
        GroupPolicy::Disabled => Some("groups are disabled"),
        GroupPolicy::Allowlist => {
            let listed =
                UserRef::new(c.channel, c.conversation_id.chat()).is_ok_and(|group| access.group_listed(&group));
            (!listed).then_some("group is not on the allowlist")
        }
        GroupPolicy::Mention | GroupPolicy::Open => None,
    }
}

/// Turns a pending pairing into the user's DM allow item, then deletes the pending items. A
/// code approves only on its own bot (it is looked up in that bot's partition) and only until
/// it expires. `Ok(None)`: no such code, or it expired.
pub async fn approve_code(
    repo: &dyn AccessRepo,
    tenant: &TenantId,
    bot: &BotId,
    code: &str,
    approved_by: &str,
    now: i64,
) -> Result<Option<AllowedUser>, StoreError> {
    let Some(code) = PairingCode::parse(code) else { return Ok(None) };
    let Some(pending) = repo.pairing(tenant, bot, code.as_str()).await? else { return Ok(None) };
    // moto (and DynamoDB, for up to days) keeps items past their TTL: the expiry is checked here.
    if pending.expires_at_ms <= now || pending.code != code.as_str() {
        return Ok(None);
    }
    let allowed =
        AllowedUser { user: pending.user.clone(), added_at_ms: now, added_by: format!("pairing:{approved_by}") };
    repo.allow_dm(tenant, bot, &allowed).await?;
    repo.delete_pairing(tenant, bot, &pending).await?;
    Ok(Some(allowed))
}

#[cfg(test)]
mod tests;
