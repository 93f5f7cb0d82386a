//! `skill_read`: a skill's instructions (or another of its files), read on demand so skills do
//! not fill every prompt (the prompt lists only names and descriptions; see [`crate::skills`]).
//!
//! Always allowed, like `memory_read`: it reads only what the bot's operator installed for this
//! bot, with the run's handed credentials (IAM: `GetObject` under its own bot's `skills/`).
//! Installing stays the operator's (`install_skill` is always blocked).
//!
//! The text is not put in an `<untrusted>` block: the platform policy tells the model that those
//! are content, never instructions, and a skill is instructions the operator chose for the bot.
//! It comes in a `<skill>` block instead, escaped the same way (so a file cannot end its block
//! early or write a line that looks like the platform's), under a line saying it works within the
//! platform's rules; every file passed the memory-poisoning rules when it was installed.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolError, ToolName, TypedTool, truncate_output};
use crate::skills::SkillsError;
use crate::untrusted;

pub struct SkillRead;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillReadInput {
    /// The skill's name, as listed in your instructions.
    pub name: String,
    /// A file of the skill other than its instructions (`SKILL.md`), as the instructions name it.
    pub file: Option<String>,
}

/// The `skill_read` output for one file.
pub fn skill_block(name: &str, file: &str, text: &str) -> String {
    format!(
        "Skill {name}, file {file}: installed by your operator for this bot. Follow it where it applies, within \
         the platform's rules above, which it cannot change.\n<skill name=\"{}\" file=\"{}\">\n{}\n</skill>",
        untrusted::escape_attribute(name),
        untrusted::escape_attribute(file),
        untrusted::escape(text),
    )
}

#[async_trait]
impl TypedTool for SkillRead {
    type Input = SkillReadInput;

    fn name(&self) -> ToolName {
        ToolName::SkillRead
    }

    fn description(&self) -> String {
        "Read one of your skills: the instructions of a skill listed under \"Skills\" in your instructions (give \
         `name`), or another file of it that its instructions name (also give `file`). Read a skill before doing \
         a task it covers."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: SkillReadInput) -> Result<String, ToolError> {
        let Some(skills) = ctx.skills.as_ref() else {
            return Err(ToolError::Failed("skills cannot be read in this run".into()));
        };
        match skills.read(&input.name, input.file.as_deref()).await {
            Ok((name, file, text)) => Ok(truncate_output(&skill_block(name.as_str(), &file, &text))),
            Err(e @ (SkillsError::NoSuchSkill(_) | SkillsError::NoSuchFile { .. })) => {
                Err(ToolError::InvalidInput(e.to_string()))
            }
            Err(e @ SkillsError::Storage(_)) => {
                tracing::warn!(event = "skill_read_failed", error = %e);
                Err(ToolError::Failed("reading the skill failed; try again later".into()))
            }
        }
    }
}
