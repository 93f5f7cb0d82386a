//! The built-in tools' names, as the model and the permission profiles spell them.

use serde::{Deserialize, Serialize};

/// One built-in tool. Its wire name (`as_str`, `Display`, `FromStr`, serde) is the name the
/// model calls it by and the name a profile allows.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::AsRefStr,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ToolName {
    SendMessage,
    SendFile,
    MemoryRead,
    MemoryWrite,
    SkillRead,
    File,
    FileWrite,
    Shell,
    WebSearch,
    WebFetch,
    ScheduleTask,
    ListTasks,
    PauseTask,
    ResumeTask,
    CancelTask,
    UpdateTask,
}

impl ToolName {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use clawless_core::domain::permissions::KNOWN_TOOLS;
    use strum::VariantArray;

    use super::*;

    #[test]
    fn names_are_the_same_on_every_path_and_known_to_the_profiles() {
        for name in ToolName::VARIANTS {
            let wire = name.as_str();
            assert_eq!(name.to_string(), wire);
            assert_eq!(wire.parse::<ToolName>(), Ok(*name));
            assert_eq!(serde_json::to_value(name).unwrap(), wire);
            assert_eq!(serde_json::from_value::<ToolName>(wire.into()).unwrap(), *name);
            assert!(KNOWN_TOOLS.contains(&wire), "{wire} can be allowed in a profile");
        }
        assert_eq!(ToolName::FileWrite.as_str(), "file_write");
        assert!("eval".parse::<ToolName>().is_err());
    }
}
