//! A run's limits hold through the real agent: a model that asks for a dozen slow commands at
//! once is stopped at the run's deadline, and a tool input is refused whole, by field name,
//! just past its limit (never cut and run as something else).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clawless_agent::agent_loop::LIMITS_ANSWER;
use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_local::LocalStack;
use serde_json::json;

use crate::agent::{bedrock_tool_results, converse};
use crate::support::*;
use crate::telegram::telegram_stand_in;

/// A workspace root of the test's own, so it can look at what the agent's tools left.
struct Workspaces(PathBuf);

impl Workspaces {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let root = std::env::temp_dir().join(format!("clawless-e2e-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        Self(root)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }

    /// Names of the files anywhere under the root, sorted.
    fn files(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &mut out);
        out.sort();
        out
    }

    /// The size of the file `name` somewhere under the root.
    fn size_of(&self, name: &str) -> Option<u64> {
        fn find(dir: &Path, name: &str) -> Option<u64> {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if let Some(size) = find(&path, name) {
                        return Some(size);
                    }
                } else if entry.file_name() == name {
                    return entry.metadata().ok().map(|m| m.len());
                }
            }
            None
        }
        find(&self.0, name)
    }
}

impl Drop for Workspaces {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn stack_with(model: &ModelStandIn, telegram: &wiremock::MockServer, extra: Vec<(&str, String)>) -> LocalStack {
    let mut env = vec![("CLAWLESS_MODEL_PROVIDER", "bedrock".to_owned()), ("CLAWLESS_BEDROCK_ENDPOINT", model.url())];
    env.extend(extra);
    start_stack_with_agent_env(telegram.uri(), env).await
}

/// Twelve `sleep 2` commands in one answer against a 6-second run: two finish, the third is
/// killed at the deadline, the rest never start, no model call follows, and the user gets the
/// limits answer (before, each command ran, past the documented run time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_slow_tool_calls_end_at_the_runs_deadline() {
    let calls = (1..=12).map(|i| ("shell".to_owned(), json!({ "command": format!("sleep 2 && touch done-{i}") })));
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCalls(calls.collect()),
        ScriptedTurn::Text("All twelve done.".into()),
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let workspaces = Workspaces::new("deadline");
    let stack = stack_with(
        &model,
        &telegram,
        vec![("CLAWLESS_RUN_SECONDS", "6".into()), ("CLAWLESS_WORKSPACE_ROOT", workspaces.path())],
    )
    .await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--tools", "shell"]).unwrap();

    let started = std::time::Instant::now();
    let sent = converse(&bot, &telegram, 1).await;
    assert_eq!(sent[0]["text"], LIMITS_ANSWER);
    assert!(started.elapsed() < Duration::from_secs(20), "answered after {:?}", started.elapsed());
    assert_eq!(model.requests().len(), 1, "no model call after the deadline");
    // Whatever was cut off at the deadline was killed with its call: nothing finishes later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let done = workspaces.files();
    assert!(
        done == ["done-1", "done-2"] || done == ["done-1"],
        "only the commands that fit in 6 s ran to the end: {done:?}"
    );
}

/// One answer writes exactly 1 MiB (the documented limit) and one byte more: the first is
/// written, the second refused by name, and nothing of it reaches the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_1_mib_file_write_works_and_one_byte_more_is_refused_by_name() {
    let mib = 1024 * 1024;
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCalls(vec![
            ("file_write".into(), json!({ "path": "exact.txt", "content": "a".repeat(mib) })),
            ("file_write".into(), json!({ "path": "over.txt", "content": "b".repeat(mib + 1) })),
        ]),
        ScriptedTurn::Text("Wrote one of two.".into()),
    ])
    .await;
    // Counted from their size, these inputs alone would pass the run's token limit.
    model.fix_usage(100, 100);
    let telegram = telegram_stand_in().await;
    let workspaces = Workspaces::new("write");
    let stack = stack_with(&model, &telegram, vec![("CLAWLESS_WORKSPACE_ROOT", workspaces.path())]).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--tools", "file,file_write"]).unwrap();

    let sent = converse(&bot, &telegram, 1).await;
    assert_eq!(sent[0]["text"], "Wrote one of two.");
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let results = bedrock_tool_results(&requests[1]);
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0].0, "success", "{:?}", results[0]);
    assert!(results[0].1.starts_with("wrote 1048576 bytes to `exact.txt`"), "{:?}", results[0]);
    assert_eq!(
        results[1],
        ("error".to_owned(), "invalid input: input field `content` is 1048577 bytes; the limit is 1048576".to_owned())
    );
    assert_eq!(workspaces.size_of("exact.txt"), Some(mib as u64));
    assert_eq!(workspaces.size_of("over.txt"), None, "nothing of the refused write was written");
}
