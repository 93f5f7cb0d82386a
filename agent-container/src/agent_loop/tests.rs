use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clawless_core::approvals::Grant;
use clawless_core::domain::permissions::{MAX_REQUEST_ARGUMENTS_BYTES, PermissionProfile, PermissionRequest};

use super::tool_calls::{RunScope, take_once_grant, tool_results};
use super::*;
use crate::provider::Block;
use crate::reply_sink::MemoryReplySink;
use crate::services::MemoryServices;
use crate::testing::{ScriptedProvider, agent_deps_with, answer, invocation, last_tool_results, tool_calls};
use crate::tools::{Tool, ToolError};

/// A tool that counts the calls that started and those that finished, and naps in between.
struct Probe {
    nap: Duration,
    started: AtomicU32,
    finished: AtomicU32,
}

impl Probe {
    fn new(nap: Duration) -> Arc<Self> {
        Arc::new(Self { nap, started: AtomicU32::new(0), finished: AtomicU32::new(0) })
    }
}

#[async_trait::async_trait]
impl Tool for Probe {
    fn spec(&self) -> crate::provider::ToolSpec {
        crate::provider::ToolSpec {
            name: "probe".into(),
            description: "test probe".into(),
            input_schema: serde_json::json!({"type": "object"}),
        }
    }
    async fn call(&self, _: &ToolContext, _: &Value) -> Result<String, ToolError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.nap).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok("probed".into())
    }
}

/// Deps with `model`, the probe tool allowed, and `limits`.
fn probe_deps(
    model: Arc<ScriptedProvider>,
    probe: &Arc<Probe>,
    limits: RunLimits,
) -> (AgentDeps, Arc<MemoryReplySink>) {
    let sink = Arc::new(MemoryReplySink::new());
    let profile = PermissionProfile { tools: ["probe".to_owned()].into(), ..PermissionProfile::least_privilege() };
    let services = Arc::new(MemoryServices::with_profile(profile));
    let mut deps = agent_deps_with(model, sink.clone(), services);
    deps.tools.add(Arc::clone(probe) as Arc<dyn Tool>);
    deps.limits = limits;
    (deps, sink)
}

fn probes(n: usize) -> ModelResponse {
    tool_calls((0..n).map(|_| ("probe", serde_json::json!({}))).collect())
}

async fn run_once(deps: &AgentDeps) -> Outcome {
    let inv = invocation("4242", "1001", "go", Vec::new());
    let session = inv.item.conversation.runtime_session_id();
    run(deps, &session, std::slice::from_ref(&inv)).await
}

#[tokio::test]
async fn a_response_runs_at_most_its_per_response_limit_of_tool_calls() {
    let max = MAX_TOOL_CALLS_PER_RESPONSE as usize;
    let model = Arc::new(ScriptedProvider::new(vec![probes(max), probes(max + 1), answer("done")]));
    let probe = Probe::new(Duration::ZERO);
    let (deps, sink) = probe_deps(model.clone(), &probe, RunLimits::default());
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    assert_eq!(sink.replies()[0].text, "done");

    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let exactly = last_tool_results(&requests[1]);
    assert_eq!(exactly.len(), max);
    assert!(exactly.iter().all(|(_, text, err)| !err && text == "probed"), "{exactly:?}");
    let over = last_tool_results(&requests[2]);
    assert_eq!(over.len(), max + 1, "every call gets a result");
    assert!(over[..max].iter().all(|(_, text, err)| !err && text == "probed"), "{over:?}");
    let (id, text, err) = &over[max];
    assert_eq!(id, &format!("call-{}", max + 1));
    assert!(*err && text.contains("at most 8 tool calls are run from one response"), "{text}");
    assert_eq!(probe.started.load(Ordering::SeqCst), 2 * MAX_TOOL_CALLS_PER_RESPONSE);
}

#[tokio::test]
async fn a_run_runs_at_most_its_per_run_limit_of_tool_calls() {
    let per_response = MAX_TOOL_CALLS_PER_RESPONSE as usize;
    let responses = (MAX_TOOL_CALLS_PER_RUN / MAX_TOOL_CALLS_PER_RESPONSE) as usize;
    let mut script: Vec<ModelResponse> = (0..responses).map(|_| probes(per_response)).collect();
    script.push(probes(1));
    script.push(answer("done"));
    let model = Arc::new(ScriptedProvider::new(script));
    let probe = Probe::new(Duration::ZERO);
    let (deps, sink) = probe_deps(model.clone(), &probe, RunLimits::default());
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    assert_eq!(sink.replies()[0].text, "done");

    let requests = model.requests();
    assert_eq!(requests.len(), responses + 2);
    let ran: usize = requests[1..=responses]
        .iter()
        .flat_map(last_tool_results)
        .filter(|(_, text, err)| !err && text == "probed")
        .count();
    assert_eq!(ran, MAX_TOOL_CALLS_PER_RUN as usize, "exactly the limit runs");
    let over = last_tool_results(&requests[responses + 1]);
    assert_eq!(over.len(), 1);
    assert!(over[0].2 && over[0].1.contains("all of its 32 tool calls"), "{over:?}");
    assert_eq!(probe.started.load(Ordering::SeqCst), MAX_TOOL_CALLS_PER_RUN);
}

#[tokio::test]
async fn a_run_makes_at_most_its_model_calls() {
    let tool_turns = |n: u32| (0..n).map(|_| probes(1)).collect::<Vec<_>>();
    // Exactly the limit: the last call answers.
    let mut script = tool_turns(MAX_TURNS - 1);
    script.push(answer("done"));
    let model = Arc::new(ScriptedProvider::new(script));
    let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
    run_once(&deps).await;
    assert_eq!(model.requests().len(), MAX_TURNS as usize);
    assert_eq!(sink.replies()[0].text, "done");
    // One more would be needed: the run stops with the limits answer.
    let mut script = tool_turns(MAX_TURNS);
    script.push(answer("done"));
    let model = Arc::new(ScriptedProvider::new(script));
    let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
    run_once(&deps).await;
    assert_eq!(model.requests().len(), MAX_TURNS as usize);
    assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
}

#[tokio::test]
async fn a_run_that_has_used_its_tokens_makes_no_further_model_call() {
    let spending = |total: u64| {
        let mut r = probes(1);
        r.usage = TokenUsage { input_tokens: total - 1, output_tokens: 1 };
        r
    };
    // One token short of the limit: the model is called again.
    let model = Arc::new(ScriptedProvider::new(vec![spending(MAX_RUN_TOKENS - 1), answer("done")]));
    let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
    run_once(&deps).await;
    assert_eq!(model.requests().len(), 2);
    assert_eq!(sink.replies()[0].text, "done");
    // At the limit: no further call, the limits answer.
    let model = Arc::new(ScriptedProvider::new(vec![spending(MAX_RUN_TOKENS), answer("done")]));
    let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
    run_once(&deps).await;
    assert_eq!(model.requests().len(), 1);
    assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
    assert_eq!(sink.usage(), (MAX_RUN_TOKENS - 1, 1), "the tokens are reported");
}

#[tokio::test]
async fn a_run_sends_at_most_its_intermediate_replies() {
    use crate::tools::send_message::MAX_MESSAGES_PER_RUN;
    let say = |n: usize| {
        tool_calls((0..n).map(|i| ("send_message", serde_json::json!({ "text": format!("step {i}") }))).collect())
    };
    // Over two responses: the limit counts the run, not one response.
    let first = MAX_MESSAGES_PER_RUN - 2;
    let model = Arc::new(ScriptedProvider::new(vec![say(first), say(2), say(1), answer("done")]));
    let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
    run_once(&deps).await;
    let texts: Vec<String> = sink.replies().into_iter().map(|r| r.text).collect();
    assert_eq!(texts.len(), MAX_MESSAGES_PER_RUN + 1, "exactly the limit, then the answer: {texts:?}");
    assert_eq!(texts.last().map(String::as_str), Some("done"));
    let over = last_tool_results(&model.requests()[3]);
    assert!(over[0].2 && over[0].1.contains("at most 5 messages per run"), "{over:?}");
}

#[tokio::test]
async fn the_run_deadline_covers_tool_calls() {
    // Twelve slow calls in one response: only those that fit before the deadline run, the
    // one running at the deadline is cut off, and the run ends there with the limits answer.
    let wall = Duration::from_millis(600);
    let nap = Duration::from_millis(200);
    let model = Arc::new(ScriptedProvider::new(vec![probes(12), answer("too late")]));
    let probe = Probe::new(nap);
    let limits = RunLimits { wall_time: wall, max_tool_calls_per_response: 12, ..RunLimits::default() };
    let (deps, sink) = probe_deps(model.clone(), &probe, limits);
    let started = Instant::now();
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    let took = started.elapsed();
    assert!(took < wall + Duration::from_millis(300), "the run ended at its deadline, not after {took:?}");
    assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
    assert_eq!(model.requests().len(), 1, "no model call after the deadline");
    let (began, ended) = (probe.started.load(Ordering::SeqCst), probe.finished.load(Ordering::SeqCst));
    assert!(began <= 3, "{began} calls started");
    assert_eq!(began, ended + 1, "exactly one call was cut off at the deadline ({began} started, {ended} ended)");
}

#[tokio::test]
async fn calls_at_and_after_the_deadline_are_cut_off_or_not_run() {
    let model = Arc::new(ScriptedProvider::new(Vec::new()));
    let probe = Probe::new(Duration::from_millis(100));
    let limits = RunLimits { wall_time: Duration::from_millis(250), ..RunLimits::default() };
    let (deps, _sink) = probe_deps(model, &probe, limits);
    let inv = invocation("4242", "1001", "go", Vec::new());
    let session = inv.item.conversation.runtime_session_id();
    let user = UserRef::new(inv.item.conversation.channel, "4242").unwrap();
    let profile = deps.services.profile(&inv.item.conversation, &user).await;
    let ctx = ToolContext {
        files: None,
        outgoing: std::sync::Mutex::new(Vec::new()),
        run_id: "test-run".into(),
        skills: None,
        conversation: inv.item.conversation.clone(),
        workspace: deps.workspace_root.join(session.as_str()),
        profile: profile.clone(),
        memory: deps.services.memory(&inv.item.conversation),
        outbox: Mutex::new(Vec::new()),
        web: deps.web.clone(),
    };
    let once_grants = Mutex::new(Vec::new());
    let scope = RunScope {
        deps: &deps,
        ctx: &ctx,
        profile: &profile,
        latest: &inv,
        once_grants: &once_grants,
        deadline: Instant::now() + limits.wall_time,
        heartbeat: None,
        tools: &deps.tools,
    };
    let calls = (1..=5).map(|i| (format!("c{i}"), "probe".to_owned(), serde_json::json!({}))).collect();
    let mut count = 0;
    let results = tool_results(&scope, calls, &mut count).await;
    let texts: Vec<(String, bool)> = results
        .into_iter()
        .map(|b| match b {
            Block::ToolResult { content, is_error, .. } => (content, is_error),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts[0], ("probed".to_owned(), false));
    assert_eq!(texts[1], ("probed".to_owned(), false));
    let cut = &texts[2].0;
    assert!(texts[2].1 && cut.starts_with("failed: stopped after "), "{texts:?}");
    assert!(cut.ends_with("ms: the run's time is up (its limit is 250 ms)"), "{cut}");
    for (text, is_error) in &texts[3..] {
        assert!(*is_error && text.starts_with("Not run: the run's time is up (its limit is 250 ms)"), "{text}");
    }
    assert_eq!(count, 3, "calls not run do not count");
}

#[tokio::test]
async fn a_tool_call_is_cut_at_its_own_time_limit() {
    let model = Arc::new(ScriptedProvider::new(vec![probes(1), answer("done")]));
    let probe = Probe::new(Duration::from_millis(400));
    let limits = RunLimits { tool_time: Duration::from_millis(100), ..RunLimits::default() };
    let (deps, sink) = probe_deps(model.clone(), &probe, limits);
    run_once(&deps).await;
    let results = last_tool_results(&model.requests()[1]);
    assert_eq!(results[0].1, "failed: timed out after 100 ms");
    assert_eq!(probe.finished.load(Ordering::SeqCst), 0);
    assert_eq!(sink.replies()[0].text, "done", "the run goes on");
    assert_eq!(model.requests()[0].max_output_tokens, MAX_OUTPUT_TOKENS, "every model call carries its cap");
}

#[tokio::test]
async fn oversized_inputs_are_refused_by_name_before_any_gate_and_approval_requests_are_bounded() {
    // `shell` needs approval under least privilege: the request carries the whole input.
    let command = |n: usize| serde_json::json!({"command": "x".repeat(n)});
    let fits = MAX_REQUEST_ARGUMENTS_BYTES - r#"{"command":""}"#.len();
    let model = Arc::new(ScriptedProvider::new(vec![
        tool_calls(vec![("shell", command(fits)), ("shell", command(fits + 1))]),
        tool_calls(vec![("shell", command(crate::tools::MAX_INPUT_STRING_CHARS + 1))]),
        answer("done"),
    ]));
    let sink = Arc::new(MemoryReplySink::new());
    let deps = agent_deps_with(model.clone(), sink.clone(), Arc::new(MemoryServices::default()));
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));

    let requests = sink.requests();
    assert_eq!(requests.len(), 1, "only the call that fits is put to an approver");
    assert_eq!(requests[0].arguments.len(), MAX_REQUEST_ARGUMENTS_BYTES);
    let expected = PermissionRequest::new(
        &requests[0].conversation,
        &invocation("4242", "1001", "go", Vec::new()).item.message,
        "shell",
        &command(fits),
        "",
        0,
        1,
    );
    assert_eq!(requests[0].arguments_hash, expected.arguments_hash, "the hash is of the whole input");

    let model_requests = model.requests();
    let first = last_tool_results(&model_requests[1]);
    assert!(first[0].2 && first[0].1.contains("approval request"), "{first:?}");
    assert!(
        first[1].2 && first[1].1.contains("its arguments are 32001 bytes; the limit for an approval request is 32000"),
        "{first:?}"
    );
    let second = last_tool_results(&model_requests[2]);
    assert_eq!(second[0].1, "invalid input: input field `command` is 32001 characters; the limit is 32000");
}

#[test]
fn the_approve_once_grant_lets_one_matching_call_of_its_requester_through() {
    let inv = invocation("4242", "1001", "go", Vec::new());
    let request = |sender: &str, args: Value| {
        let mut message = inv.item.message.clone();
        message.sender.id = sender.into();
        PermissionRequest::new(&inv.item.conversation, &message, "shell", &args, "", 0, 60_000)
    };
    let wanted = request("4242", serde_json::json!({"command": "ls"}));
    let grants = Mutex::new(vec![OnceGrant {
        request_id: "pr1".into(),
        tool: "shell".into(),
        arguments_hash: wanted.arguments_hash.clone(),
        requester_id: "4242".into(),
    }]);
    assert_eq!(take_once_grant(&grants, &request("5151", serde_json::json!({"command": "ls"}))), None, "another user");
    assert_eq!(
        take_once_grant(&grants, &request("4242", serde_json::json!({"command": "rm -rf /"}))),
        None,
        "other arguments"
    );
    assert_eq!(take_once_grant(&grants, &wanted), Some(Grant::Once { request_id: "pr1".into() }));
    assert_eq!(take_once_grant(&grants, &wanted), None, "once");
}

#[tokio::test]
async fn a_history_read_before_the_last_answer_was_recorded_shows_that_answer() {
    let model = Arc::new(ScriptedProvider::new(vec![answer("first answer"), answer("second answer")]));
    let sink = Arc::new(MemoryReplySink::new());
    let deps = agent_deps_with(model.clone(), sink.clone(), Arc::new(MemoryServices::default()));
    let first = invocation("4242", "1", "first question", vec![]);
    let session = first.item.conversation.runtime_session_id();
    assert!(matches!(run(&deps, &session, &[first]).await, Outcome::Replied { .. }));
    // The dispatcher read the second message's history before the reply function wrote the
    // first answer's line: the history has the question and not its answer.
    let asked = HistoryEntry {
        role: Role::User,
        message_id: "1".into(),
        sender_name: "Ada".into(),
        text: "first question".into(),
        at_ms: 1,
    };
    let second = invocation("4242", "2", "second question", vec![asked]);
    assert!(matches!(run(&deps, &session, &[second]).await, Outcome::Replied { .. }));
    let seen: Vec<(ChatRole, String)> = model.requests()[1].messages.iter().map(|m| (m.role, m.text())).collect();
    assert_eq!(seen.len(), 3, "question, this process's answer, new question: {seen:?}");
    assert_eq!(seen[1], (ChatRole::Assistant, "first answer".to_owned()));
    assert!(seen[0].1.ends_with("first question") && seen[2].1.ends_with("second question"));
}

/// The reports a run sent, in order, with where each stands relative to the replies: (the
/// number of replies queued before it, the report).
#[tokio::test]
async fn a_run_reports_progress_while_it_lasts_and_never_after_its_answer() {
    use clawless_core::domain::progress::ProgressPhase;
    // Two tool rounds of 250 ms each (one call, then two at once), then the answer.
    let model = Arc::new(ScriptedProvider::new(vec![probes(1), probes(2), answer("done")]));
    let probe = Probe::new(Duration::from_millis(250));
    let (mut deps, sink) = probe_deps(model, &probe, RunLimits::default());
    deps.progress_every = Some(Duration::from_millis(200));
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    let reports = sink.progress();
    let replies = sink.replies();
    assert_eq!(replies.len(), 1);

    // The first once the run has lasted an interval (the first tool running by then), then
    // heartbeats and tool starts.
    assert_eq!(reports[0].seq, 1);
    assert!(reports[0].elapsed_ms >= 200, "none before the first interval: {reports:?}");
    assert_eq!((reports[0].phase.clone(), reports[0].tools_used), (ProgressPhase::Tool { name: "probe".into() }, 1));
    assert!(reports.len() >= 3, "heartbeats during ~750 ms of tools at 200 ms: {reports:?}");
    let seqs: Vec<u32> = reports.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=reports.len() as u32).collect::<Vec<_>>(), "numbered in order, none lost");
    assert_eq!(reports.last().map(|r| r.tools_used), Some(3), "the run's three tool calls counted");
    assert!(reports.windows(2).all(|w| w[0].elapsed_ms <= w[1].elapsed_ms));
    let inv = invocation("4242", "1001", "go", Vec::new());
    for r in &reports {
        assert_eq!(
            (&r.conversation, &r.scope, &r.route),
            (&inv.item.conversation, &inv.scope, &inv.item.message.route)
        );
        assert_eq!((r.in_reply_to.as_str(), r.in_reply_to_at_ms), ("1001", inv.item.message.sent_at_ms));
    }

    // None after the answer: the heartbeat stopped before it was queued.
    let count = reports.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.progress().len(), count);
}

#[tokio::test]
async fn no_progress_when_off_or_nobody_waits() {
    let model = Arc::new(ScriptedProvider::new(vec![probes(1), answer("done")]));
    let probe = Probe::new(Duration::from_millis(50));
    let (deps, sink) = probe_deps(model, &probe, RunLimits::default());
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    assert!(sink.progress().is_empty(), "off by default in these deps");

    let model = Arc::new(ScriptedProvider::new(vec![probes(1), answer("done")]));
    let (mut deps, sink) = probe_deps(model, &probe, RunLimits::default());
    deps.progress_every = Some(Duration::from_millis(10));
    let inv = AgentInvocation { scheduled: true, ..invocation("4242", "1001", "go", Vec::new()) };
    let session = inv.item.conversation.runtime_session_id();
    assert!(matches!(run(&deps, &session, &[inv]).await, Outcome::Replied { .. }));
    assert!(sink.progress().is_empty(), "a scheduled run has nobody at the keyboard");

    // A run quicker than its first interval reports nothing (and costs nothing).
    let model = Arc::new(ScriptedProvider::new(vec![probes(1), answer("done")]));
    let (mut deps, sink) = probe_deps(model, &probe, RunLimits::default());
    deps.progress_every = Some(Duration::from_secs(4));
    assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
    assert!(sink.progress().is_empty(), "answered within 1.5 s: no report");
}
