//! Chat commands answered by trusted code (the dispatcher), never by an agent, so none of them
//! calls a model: `/help`, `/new`, `/status`, `/usage`. They arrive as text on every channel
//! (Telegram appends `@botname` in groups; it is ignored), after the bot's access policy has
//! admitted the sender and before the budget check, so a tenant over its budget can still read
//! its usage.
//!
//! `/new` stores its own line marked as a fresh start: the next run's history, and the lost work
//! the dispatcher hands over, begin after it. The agent's memory layers stay. `/reset`, which
//! would also clear the conversation's memory layer, is answered with what it cannot do yet.

use std::sync::Arc;

use crate::approvals::{ApprovalError, ApprovalFlow, command_verb};
use crate::domain::ids::TenantId;
use crate::domain::model::{Bot, ConversationMessage, month_of, now_ms};
use crate::domain::permissions::UserRef;
use crate::ports::UsageRepo;

/// A chat command the platform answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCommand {
    Help,
    New,
    Reset,
    Status,
    Usage,
}

/// The command `text` is, if it is one: its first word, case-insensitive, without `@botname`.
pub fn parse_chat_command(text: &str) -> Option<ChatCommand> {
    match command_verb(text.split_whitespace().next()?).as_str() {
        "/help" => Some(ChatCommand::Help),
        "/new" => Some(ChatCommand::New),
        "/reset" => Some(ChatCommand::Reset),
        "/status" => Some(ChatCommand::Status),
        "/usage" => Some(ChatCommand::Usage),
        _ => None,
    }
}

/// The commands as a channel's command menu lists them (Telegram's `setMyCommands`).
pub const COMMAND_MENU: &[(&str, &str)] = &[
    ("help", "What you can do here"),
    ("new", "Start a fresh conversation"),
    ("status", "Model, tools, usage and pending requests"),
    ("usage", "This month's token use"),
];

/// `/reset` as a menu lists it. Discord's commands include it (a slash command has to be
/// registered to be typed at all); Telegram's menu leaves it out while it only says what it
/// cannot do yet.
pub const RESET_MENU_ENTRY: (&str, &str) = ("reset", "Start fresh and forget this conversation's memory");

pub const NEW_ANSWER: &str = "Fresh start: I will not see the messages before this one. What I saved to memory stays.";

pub const RESET_ANSWER: &str = "/reset (a fresh start that also forgets this conversation's memory) is not available \
     yet. /new starts a fresh conversation; what was saved to memory stays.";

const HELP: &str = "/new: start a fresh conversation (earlier messages are not shown to me again)\n\
     /status: the model, the tools I may use for you, this month's usage and pending requests\n\
     /usage: this month's token use\n\
     /help: this list";

const APPROVER_HELP: &str = "\nAs this workspace's approver:\n\
     /pending: permission requests waiting for you\n\
     /approve ID, /reject ID: decide one\n\
     /pair CODE: let someone who got a pairing code talk to this bot";

/// What handling a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Not a chat command: the agent answers it.
    No,
    /// Answered; store the line as usual.
    Answered(ChatCommand),
    /// `/new`: answered; store the line as a fresh start.
    FreshStart,
}

/// The dispatcher's chat commands.
pub struct ChatCommands {
    usage: Arc<dyn UsageRepo>,
    flow: ApprovalFlow,
}

impl ChatCommands {
    pub fn new(usage: Arc<dyn UsageRepo>, flow: ApprovalFlow) -> Self {
        Self { usage, flow }
    }

    /// Answers `item` if it is a chat command of `bot`'s conversation.
    pub async fn handle(&self, bot: &Bot, item: &ConversationMessage) -> Result<Handled, ApprovalError> {
        let Some(command) = parse_chat_command(&item.message.text) else { return Ok(Handled::No) };
        let c = &item.conversation;
        let text = match command {
            ChatCommand::Help if self.flow.sent_by_approver(item).await? => format!("{HELP}{APPROVER_HELP}"),
            ChatCommand::Help => HELP.to_owned(),
            ChatCommand::New => NEW_ANSWER.to_owned(),
            ChatCommand::Reset => RESET_ANSWER.to_owned(),
            ChatCommand::Usage => self.usage_text(&c.tenant_id).await?,
            ChatCommand::Status => {
                let model = format!(
                    "Model: {} {}",
                    bot.model_provider.as_deref().unwrap_or("platform default"),
                    bot.model_id.as_deref().unwrap_or("(its default model)")
                );
                let user = UserRef::new(c.channel, &item.message.sender.id).ok();
                let (profile, source) = self.flow.ports().profiles.resolve(&c.tenant_id, user.as_ref()).await?;
                let tools = profile.allowed_tools().into_iter().collect::<Vec<_>>().join(", ");
                let tools = format!("Tools I may use for you ({} profile): {tools}", source.as_str());
                let usage = self.usage_text(&c.tenant_id).await?;
                let pending = self.flow.ports().approvals.pending_requests(&c.tenant_id, now_ms()).await?.len();
                format!("{model}\n{tools}\n{usage}\nPending permission requests: {pending}")
            }
        };
        self.flow.answer(item, &text).await?;
        tracing::info!(event = "chat_command", tenant_id = %c.tenant_id, bot_id = %c.bot_id, message_id = %item.message.message_id, command = ?command);
        Ok(if command == ChatCommand::New { Handled::FreshStart } else { Handled::Answered(command) })
    }

    /// This month's token use against the tenant's budget.
    async fn usage_text(&self, tenant_id: &TenantId) -> Result<String, ApprovalError> {
        let month = month_of(now_ms());
        let used = self.usage.month_use(tenant_id, &month).await?;
        let budget = match self.usage.monthly_budget(tenant_id).await? {
            Some(budget) => format!("budget {budget}, {} left", budget.saturating_sub(used.tokens())),
            None => "no monthly budget".to_owned(),
        };
        Ok(format!(
            "This month ({month}): {} input + {} output tokens over {} runs; {budget}",
            used.input_tokens, used.output_tokens, used.runs
        ))
    }
}

#[cfg(test)]
mod tests;
