//! What a read-only profile lets `shell` run.
//!
//! With `shell_read_only` in the profile, only one simple command from [`READ_ONLY_COMMANDS`] runs,
//! without a shell: no metacharacters, no options that write files or run programs, and only
//! workspace-relative paths.

use std::path::{Path, PathBuf};

use super::process::CHILD_PATH;
use crate::tools::ToolError;

/// The commands a read-only profile may run.
pub const READ_ONLY_COMMANDS: [&str; 18] = [
    "ls", "cat", "head", "tail", "wc", "grep", "find", "stat", "du", "df", "date", "echo", "pwd", "sort", "uniq",
    "cut", "tr", "file",
];

/// Characters a read-only command may not contain anywhere (shell syntax, escapes).
const READ_ONLY_FORBIDDEN: [char; 11] = [';', '&', '|', '>', '<', '`', '$', '(', ')', '\\', '\n'];

/// The argv of a read-only command, or a refusal saying what the profile allows.
pub fn read_only_argv(command: &str) -> Result<Vec<String>, ToolError> {
    if let Some(c) = command.chars().find(|c| READ_ONLY_FORBIDDEN.contains(c) || (c.is_control() && *c != '\t')) {
        return Err(read_only_refusal(&format!("`{}` is not allowed", c.escape_default())));
    }
    let words = split_words(command)?;
    let Some((name, args)) = words.split_first() else {
        return Err(ToolError::InvalidInput("`command` is empty".into()));
    };
    if !READ_ONLY_COMMANDS.contains(&name.as_str()) {
        return Err(read_only_refusal(&format!("`{}` is not one of the allowed commands", name.escape_default())));
    }
    check_read_only_args(name, args)?;
    let program = find_program(name)
        .ok_or_else(|| ToolError::Failed(format!("`{name}` is not installed in this environment")))?;
    let mut argv = vec![program.to_string_lossy().into_owned()];
    argv.extend(args.iter().cloned());
    Ok(argv)
}

fn read_only_refusal(why: &str) -> ToolError {
    ToolError::Refused(format!(
        "{why}: this profile allows read-only commands only: one command from {} with workspace-relative \
         paths, and no pipes, redirections, `;`, `&`, `$`, backticks or parentheses",
        READ_ONLY_COMMANDS.join(", ")
    ))
}

/// Splits on whitespace; single and double quotes group words (no escapes: `\` and `$` are
/// refused before this).
fn split_words(command: &str) -> Result<Vec<String>, ToolError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ToolError::InvalidInput("`command` has an unclosed quote".into()));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Refuses options that would write files, run programs or change the system, and paths that
/// leave the workspace.
fn check_read_only_args(name: &str, args: &[String]) -> Result<(), ToolError> {
    let mut options_done = false;
    for arg in args {
        if escapes_workspace(arg) {
            return Err(read_only_refusal(&format!(
                "`{}` is outside the workspace (absolute paths and `..` are not allowed)",
                arg.escape_default()
            )));
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if options_done || !arg.starts_with('-') || arg == "-" {
            continue;
        }
        let bad = match name {
            "find" => matches!(
                arg.as_str(),
                "-delete" | "-exec" | "-execdir" | "-ok" | "-okdir" | "-fprint" | "-fprint0" | "-fprintf" | "-fls"
            ),
            "sort" => {
                short_cluster_has(arg, &['o', 'T'])
                    || long_option_is(arg, &["output", "compress-program", "temporary-directory"])
            }
            "date" => short_cluster_has(arg, &['s']) || long_option_is(arg, &["set"]),
            "file" => short_cluster_has(arg, &['C']) || long_option_is(arg, &["compile"]),
            _ => false,
        };
        if bad {
            return Err(read_only_refusal(&format!(
                "`{name} {}` can change files or run programs",
                arg.escape_default()
            )));
        }
    }
    // uniq's second operand is an output file.
    if name == "uniq" && count_uniq_operands(args) > 1 {
        return Err(read_only_refusal("`uniq INPUT OUTPUT` writes a file; give at most one file"));
    }
    Ok(())
}

/// `-abc` style arguments containing one of `letters`.
fn short_cluster_has(arg: &str, letters: &[char]) -> bool {
    !arg.starts_with("--") && arg.len() > 1 && arg[1..].chars().any(|c| letters.contains(&c))
}

/// `--name[=value]` where `name` is one of `names` or an abbreviation of it (GNU accepts those).
fn long_option_is(arg: &str, names: &[&str]) -> bool {
    let Some(rest) = arg.strip_prefix("--") else { return false };
    let name = rest.split('=').next().unwrap_or("");
    !name.is_empty() && names.iter().any(|n| n.starts_with(name))
}

/// uniq's file operands (options taking a separate value skipped).
fn count_uniq_operands(args: &[String]) -> usize {
    let mut count = 0;
    let mut skip_next = false;
    let mut options_done = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if options_done || !arg.starts_with('-') || arg == "-" {
            count += 1;
        } else if arg == "--" {
            options_done = true;
        } else if matches!(arg.as_str(), "-f" | "-s" | "-w") {
            skip_next = true;
        }
    }
    count
}

/// Whether an argument names a path outside the workspace: absolute, `..`, or such a value
/// attached to an option (`--from=/x`, `-f/x`).
fn escapes_workspace(arg: &str) -> bool {
    let mut values = vec![arg];
    if let Some((_, value)) = arg.split_once('=') {
        values.push(value);
    }
    if let Some(rest) = arg.strip_prefix('-').filter(|r| !r.starts_with('-')) {
        values.push(rest.trim_start_matches(|c: char| c.is_ascii_alphabetic()));
    }
    values.iter().any(|v| v.starts_with('/') || v.starts_with('~') || v.split('/').any(|part| part == ".."))
}

fn find_program(name: &str) -> Option<PathBuf> {
    CHILD_PATH.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(command: &str) -> bool {
        matches!(read_only_argv(command), Err(ToolError::Refused(_)))
    }

    #[test]
    fn read_only_refuses_shell_syntax_and_other_commands() {
        for c in [
            "rm x",
            "cat a; rm b",
            "echo $(id)",
            "echo `id`",
            "ls > f",
            "cat < /etc/passwd",
            "ls | sh",
            "ls && rm x",
            "ls &",
            "ls\nrm x",
            "/bin/rm x",
            "sh -c ls",
            "env",
            "find . -delete",
            "find . -exec rm {} +",
            "find . -fprint out",
            "sort -o out in",
            "sort -ro out in",
            "sort --output=out in",
            "sort --out=out in",
            "sort --compress-program=sh in",
            "date -s 2020-01-01",
            "date --set=2020-01-01",
            "file -C",
            "uniq in out",
            "cat /etc/passwd",
            "cat ../other/secret",
            "cat a/../../b",
            "grep -f/etc/passwd x",
            "grep --file=/etc/passwd x",
            "cat ~/x",
            "echo \\x",
        ] {
            assert!(refused(c), "{c:?} should be refused");
        }
    }

    #[test]
    fn read_only_allows_simple_reads() {
        for c in [
            "ls -la",
            "cat notes.txt",
            "grep -rn 'two words' .",
            "find . -name '*.md'",
            "sort -k2 -n data.csv",
            "uniq -c sorted.txt",
            "date +%s",
            "wc -l a b",
            "head -n 5 \"my file.txt\"",
        ] {
            let argv = read_only_argv(c).unwrap_or_else(|e| panic!("{c:?} should be allowed: {e}"));
            assert!(argv[0].starts_with('/'), "runs the program by absolute path");
        }
        let argv = read_only_argv("grep -n 'a b' \"c d\"").unwrap();
        assert_eq!(&argv[1..], ["-n", "a b", "c d"]);
        assert!(matches!(read_only_argv("cat 'open"), Err(ToolError::InvalidInput(_))));
    }
}
