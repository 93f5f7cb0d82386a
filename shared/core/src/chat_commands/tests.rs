//! Parsing; the dispatcher's side (answers, no agent run, `/new`) is in
//! `flows/dispatch/tests/commands.rs`.

use super::*;

#[test]
fn commands_are_the_first_word_without_the_bot_name() {
    assert_eq!(parse_chat_command("/help"), Some(ChatCommand::Help));
    assert_eq!(parse_chat_command("  /NEW please"), Some(ChatCommand::New));
    assert_eq!(parse_chat_command("/status@clawd_bot"), Some(ChatCommand::Status));
    assert_eq!(parse_chat_command("/usage\nnow"), Some(ChatCommand::Usage));
    assert_eq!(parse_chat_command("/reset"), Some(ChatCommand::Reset));
    for not in ["", "help", "what is /help?", "/helpme", "/newt", "/approve abc", "/ help"] {
        assert_eq!(parse_chat_command(not), None, "{not:?}");
    }
}

#[test]
fn the_menu_lists_only_commands_that_parse() {
    for (name, description) in COMMAND_MENU {
        assert!(parse_chat_command(&format!("/{name}")).is_some(), "{name}");
        assert!(!description.is_empty() && description.len() <= 256, "Telegram's limit");
    }
}
