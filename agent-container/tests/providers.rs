//! The Bedrock and OpenAI providers over real HTTP: the SDK / reqwest paths against the scripted
//! stand-ins (and wiremock for service errors and edge cases).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use clawless_agent::provider::bedrock::BedrockProvider;
use clawless_agent::provider::openai::OpenAiProvider;
use clawless_agent::provider::{
    Block, ChatMessage, ChatRole, ModelError, ModelProvider, ModelRequest, ModelResponse, ModelSettings,
    ProviderBuildError, ProviderKind, Providers, StopReason, ToolSpec,
};
use clawless_agent::stand_ins::{ModelStandIn, SCRIPT_FINISHED, ScriptedTurn};
use clawless_core::domain::secrets::Secret;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "sk-test-very-secret-key";
const AWS_SECRET: &str = "test-secret-access-key";

async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", AWS_SECRET, None, None, "test"))
        .load()
        .await
}

async fn bedrock(endpoint: &str, model_id: Option<&str>) -> BedrockProvider {
    let settings = ModelSettings {
        provider: ProviderKind::Bedrock,
        model_id: model_id.map(str::to_owned),
        bedrock_endpoint: Some(endpoint.to_owned()),
        ..ModelSettings::default()
    };
    BedrockProvider::new(&settings, &sdk().await)
}

fn openai(base_url: &str, model_id: Option<&str>) -> OpenAiProvider {
    let settings = ModelSettings {
        provider: ProviderKind::OpenAi,
        model_id: model_id.map(str::to_owned),
        openai_base_url: Some(base_url.to_owned()),
        openai_api_key: Some(Secret::new(API_KEY)),
        ..ModelSettings::default()
    };
    OpenAiProvider::new(&settings).expect("provider")
}

fn clock_tool() -> ToolSpec {
    ToolSpec {
        name: "clock".into(),
        description: "Tells the time in a time zone.".into(),
        input_schema: json!({
            "type": "object",
            "properties": { "zone": { "type": "string" } },
            "required": ["zone"],
        }),
    }
}

fn ask(text: &str, tools: Vec<ToolSpec>) -> ModelRequest {
    ModelRequest {
        model_id: None,
        system: "You are a terse test bot.".into(),
        messages: vec![ChatMessage::user_text(text)],
        tools,
        max_output_tokens: 256,
    }
}

/// The request after the model's tool call: its message, then the tool's result.
fn with_tool_result(mut request: ModelRequest, response: &ModelResponse, result: &str, is_error: bool) -> ModelRequest {
    let (id, _, _) = response.tool_uses()[0];
    let result = Block::ToolResult { tool_use_id: id.to_owned(), content: result.to_owned(), is_error };
    request.messages.push(response.message.clone());
    request.messages.push(ChatMessage { role: ChatRole::User, content: vec![result] });
    request
}

// ---- Bedrock ----

#[tokio::test]
async fn bedrock_text_answer() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("Hello from Bedrock.".into())]).await;
    let provider = bedrock(&model.url(), None).await;

    let response = provider.complete(&ask("hi", vec![])).await.unwrap();

    assert_eq!(response.message, ChatMessage::assistant_text("Hello from Bedrock."));
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0, "{:?}", response.usage);
    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent["system"], json!([{ "text": "You are a terse test bot." }]));
    assert_eq!(sent["messages"], json!([{ "role": "user", "content": [{ "text": "hi" }] }]));
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 256);
    assert!(sent.get("toolConfig").is_none(), "no tools offered, so no toolConfig: {sent}");

    // Past the script's end the stand-in still answers.
    let response = provider.complete(&ask("again", vec![])).await.unwrap();
    assert_eq!(response.message.text(), SCRIPT_FINISHED);
}

#[tokio::test]
async fn bedrock_tool_call_round_trip() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall { name: "clock".into(), input: json!({ "zone": "UTC", "precise": true, "n": -2 }) },
        ScriptedTurn::EchoLastToolResult { prefix: "The clock says: ".into() },
    ])
    .await;
    let provider = bedrock(&model.url(), None).await;
    let first = ask("what time is it?", vec![clock_tool()]);

    let response = provider.complete(&first).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.message.content,
        vec![Block::ToolUse {
            id: "tooluse_1".into(),
            name: "clock".into(),
            input: json!({ "zone": "UTC", "precise": true, "n": -2 }),
        }]
    );

    let second = with_tool_result(first, &response, "12:00 UTC", false);
    let answer = provider.complete(&second).await.unwrap();
    assert_eq!(answer.stop_reason, StopReason::EndTurn);
    assert_eq!(answer.message.text(), "The clock says: 12:00 UTC");

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0]["toolConfig"]["tools"],
        json!([{ "toolSpec": {
            "name": "clock",
            "description": "Tells the time in a time zone.",
            "inputSchema": { "json": clock_tool().input_schema },
        } }])
    );
    let messages = &requests[1]["messages"];
    assert_eq!(
        messages[1],
        json!({ "role": "assistant", "content": [{ "toolUse": {
            "toolUseId": "tooluse_1", "name": "clock", "input": { "zone": "UTC", "precise": true, "n": -2 },
        } }] })
    );
    assert_eq!(
        messages[2],
        json!({ "role": "user", "content": [{ "toolResult": {
            "toolUseId": "tooluse_1", "content": [{ "text": "12:00 UTC" }], "status": "success",
        } }] })
    );
}

#[tokio::test]
async fn bedrock_failed_tool_result_has_error_status() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall { name: "clock".into(), input: json!({ "zone": "Mars" }) },
        ScriptedTurn::EchoLastToolResult { prefix: "Tool: ".into() },
    ])
    .await;
    let provider = bedrock(&model.url(), None).await;
    let first = ask("time on Mars?", vec![clock_tool()]);
    let response = provider.complete(&first).await.unwrap();

    let answer = provider.complete(&with_tool_result(first, &response, "unknown zone", true)).await.unwrap();

    assert_eq!(answer.message.text(), "Tool: unknown zone");
    let result = &model.requests()[1]["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "error");
    assert_eq!(result["content"], json!([{ "text": "unknown zone" }]));
}

/// A canned Converse answer for wiremock.
fn converse_answer(stop_reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": "cut" }] } },
        "stopReason": stop_reason,
        "usage": { "inputTokens": 11, "outputTokens": 7, "totalTokens": 18 },
        "metrics": { "latencyMs": 5 },
    }))
}

#[tokio::test]
async fn bedrock_maps_stop_reasons_and_usage() {
    let cases = [
        ("end_turn", StopReason::EndTurn),
        ("stop_sequence", StopReason::EndTurn),
        ("max_tokens", StopReason::MaxTokens),
        ("guardrail_intervened", StopReason::Filtered),
        ("content_filtered", StopReason::Filtered),
    ];
    for (wire, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(converse_answer(wire)).mount(&server).await;
        let provider = bedrock(&server.uri(), None).await;

        let response = provider.complete(&ask("hi", vec![])).await.unwrap();

        assert_eq!(response.stop_reason, expected, "{wire}");
        assert_eq!((response.usage.input_tokens, response.usage.output_tokens), (11, 7));
    }
}

#[tokio::test]
async fn bedrock_uses_the_requested_model_else_the_configured_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/model/configured-model/converse"))
        .respond_with(converse_answer("end_turn"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/model/bot-model/converse"))
        .respond_with(converse_answer("end_turn"))
        .expect(1)
        .mount(&server)
        .await;
    let provider = bedrock(&server.uri(), Some("configured-model")).await;
    assert_eq!(provider.default_model(), "configured-model");

    provider.complete(&ask("hi", vec![])).await.unwrap();
    provider.complete(&ModelRequest { model_id: Some("bot-model".into()), ..ask("hi", vec![]) }).await.unwrap();

    let unset = bedrock(&server.uri(), None).await;
    assert_eq!(unset.default_model(), clawless_agent::provider::DEFAULT_BEDROCK_MODEL);
}

#[tokio::test]
async fn bedrock_default_model_id_is_url_encoded_and_served_by_the_stand_in() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("ok".into())]).await;
    // The default model id has a ':' the SDK percent-encodes in the path.
    let provider = bedrock(&model.url(), None).await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude";

    let response = provider.complete(&ModelRequest { model_id: Some(arn.into()), ..ask("hi", vec![]) }).await.unwrap();
    assert_eq!(response.message.text(), "ok");
    provider.complete(&ask("hi", vec![])).await.unwrap();
    assert_eq!(model.requests().len(), 2);
}

#[tokio::test]
async fn bedrock_service_error_is_a_provider_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-amzn-errortype", "ValidationException")
                .set_body_json(json!({ "message": "The provided model identifier is invalid." })),
        )
        .mount(&server)
        .await;
    let provider = bedrock(&server.uri(), None).await;

    let err = provider.complete(&ask("hi", vec![])).await.unwrap_err();

    let ModelError::Provider { provider: "bedrock", detail } = &err else { panic!("unexpected {err:?}") };
    assert_eq!(detail, "ValidationException: The provided model identifier is invalid.");
    assert!(!err.to_string().contains(AWS_SECRET));
}

#[tokio::test]
async fn bedrock_unreachable_endpoint_is_a_provider_error() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let provider = bedrock(&format!("http://127.0.0.1:{port}"), None).await;

    let err = provider.complete(&ask("hi", vec![])).await.unwrap_err();

    assert!(
        matches!(&err, ModelError::Provider { provider: "bedrock", detail } if detail.starts_with("dispatch failure")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(AWS_SECRET));
}

// ---- OpenAI ----

#[tokio::test]
async fn openai_text_answer() {
    let model = ModelStandIn::openai(vec![ScriptedTurn::Text("Hello from the gateway.".into())]).await;
    assert!(model.url().ends_with("/v1"));
    let provider = openai(&model.url(), Some("llama3.1"));

    let response = provider.complete(&ask("hi", vec![])).await.unwrap();

    assert_eq!(response.message, ChatMessage::assistant_text("Hello from the gateway."));
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0, "{:?}", response.usage);
    let sent = &model.requests()[0];
    assert_eq!(
        sent,
        &json!({
            "model": "llama3.1",
            "messages": [
                { "role": "system", "content": "You are a terse test bot." },
                { "role": "user", "content": "hi" },
            ],
            "max_tokens": 256,
        })
    );
}

#[tokio::test]
async fn openai_tool_call_round_trip() {
    let model = ModelStandIn::openai(vec![
        ScriptedTurn::ToolCall { name: "clock".into(), input: json!({ "zone": "UTC" }) },
        ScriptedTurn::EchoLastToolResult { prefix: "The clock says: ".into() },
    ])
    .await;
    let provider = openai(&model.url(), Some("llama3.1"));
    let first = ask("what time is it?", vec![clock_tool()]);

    let response = provider.complete(&first).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.message.content,
        vec![Block::ToolUse { id: "call_1".into(), name: "clock".into(), input: json!({ "zone": "UTC" }) }]
    );

    let answer = provider.complete(&with_tool_result(first, &response, "12:00 UTC", false)).await.unwrap();
    assert_eq!(answer.stop_reason, StopReason::EndTurn);
    assert_eq!(answer.message.text(), "The clock says: 12:00 UTC");

    let requests = model.requests();
    assert_eq!(
        requests[0]["tools"],
        json!([{ "type": "function", "function": {
            "name": "clock",
            "description": "Tells the time in a time zone.",
            "parameters": clock_tool().input_schema,
        } }])
    );
    let messages = requests[1]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let call = &messages[2];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["content"], Value::Null);
    assert_eq!(call["tool_calls"][0]["id"], "call_1");
    assert_eq!(call["tool_calls"][0]["type"], "function");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "clock");
    let arguments = call["tool_calls"][0]["function"]["arguments"].as_str().expect("arguments as a JSON string");
    assert_eq!(serde_json::from_str::<Value>(arguments).unwrap(), json!({ "zone": "UTC" }));
    assert_eq!(messages[3], json!({ "role": "tool", "tool_call_id": "call_1", "content": "12:00 UTC" }));
}

#[tokio::test]
async fn openai_sends_the_key_as_bearer_and_the_request_model_wins() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {API_KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "bot-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "cut" }, "finish_reason": "length" }],
            "usage": { "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13 },
        })))
        .expect(1)
        .mount(&server)
        .await;
    let provider = openai(&format!("{}/v1", server.uri()), Some("configured-model"));

    let response =
        provider.complete(&ModelRequest { model_id: Some("bot-model".into()), ..ask("hi", vec![]) }).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    assert_eq!((response.usage.input_tokens, response.usage.output_tokens), (9, 4));
    let received = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["model"], "bot-model");
}

#[tokio::test]
async fn openai_content_filter_and_raw_arguments() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_9", "type": "function", "function": { "name": "clock", "arguments": "{zone: UTC" } }
            ] }, "finish_reason": "content_filter" }],
        })))
        .mount(&server)
        .await;
    let provider = openai(&format!("{}/v1", server.uri()), Some("m"));

    let response = provider.complete(&ask("hi", vec![clock_tool()])).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::Filtered);
    assert_eq!(response.tool_uses(), vec![("call_9", "clock", &json!({ "_raw": "{zone: UTC" }))]);
}

#[tokio::test]
async fn openai_http_500_is_a_provider_error_without_the_key() {
    let server = MockServer::start().await;
    // Some gateways echo the credentials they were sent.
    let body = format!("internal error while using key {API_KEY}; {}", "details ".repeat(100));
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500).set_body_string(body)).mount(&server).await;
    let provider = openai(&format!("{}/v1", server.uri()), Some("m"));

    let err = provider.complete(&ask("hi", vec![])).await.unwrap_err();

    let ModelError::Provider { provider: "openai", detail } = &err else { panic!("unexpected {err:?}") };
    assert!(detail.starts_with("HTTP 500: internal error while using key ***;"), "{detail}");
    assert!(detail.chars().count() <= "HTTP 500: ".len() + 201, "{detail}");
    assert!(!err.to_string().contains(API_KEY));
    assert!(!format!("{err:?}").contains(API_KEY));
}

#[tokio::test]
async fn openai_unreadable_answer_is_a_bad_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy</html>"))
        .mount(&server)
        .await;
    let provider = openai(&format!("{}/v1", server.uri()), Some("m"));

    let err = provider.complete(&ask("hi", vec![])).await.unwrap_err();

    assert!(matches!(err, ModelError::BadResponse { provider: "openai", .. }), "{err:?}");
}

#[tokio::test]
async fn openai_without_any_model_fails_clearly() {
    let model = ModelStandIn::openai(vec![]).await;
    let provider = openai(&model.url(), None);

    let err = provider.complete(&ask("hi", vec![])).await.unwrap_err();

    assert!(
        matches!(&err, ModelError::Provider { provider: "openai", detail } if detail.contains("CLAWLESS_MODEL_ID"))
    );
    assert!(model.requests().is_empty());
    // A bot that names its model is fine.
    let response = provider.complete(&ModelRequest { model_id: Some("m".into()), ..ask("hi", vec![]) }).await.unwrap();
    assert_eq!(response.message.text(), SCRIPT_FINISHED);
}

// ---- Providers::build and the stand-in itself ----

#[tokio::test]
async fn providers_build_checks_the_openai_default() {
    let sdk = sdk().await;
    let mut settings = ModelSettings {
        provider: ProviderKind::OpenAi,
        openai_base_url: Some("http://127.0.0.1:11434/v1".into()),
        ..ModelSettings::default()
    };
    assert_eq!(Providers::build(&settings, &sdk).err(), Some(ProviderBuildError::MissingOpenAiModel));
    settings.model_id = Some("llama3.1".into());
    let providers = Providers::build(&settings, &sdk).unwrap();
    assert_eq!(providers.get(None).name(), "openai");
    assert_eq!(providers.get(Some(ProviderKind::Bedrock)).name(), "bedrock");

    // Bedrock default without OpenAI settings: a bot asking for openai gets the default.
    let bedrock_default = ModelSettings { provider: ProviderKind::Bedrock, ..ModelSettings::default() };
    let providers = Providers::build(&bedrock_default, &sdk).unwrap();
    assert_eq!(providers.get(Some(ProviderKind::OpenAi)).name(), "bedrock");
}

/// The stand-in has its own thread: it answers even while the runtime that started it is blocked
/// (as when a test waits synchronously on another process that calls the stand-in).
#[tokio::test(flavor = "current_thread")]
async fn stand_in_answers_while_its_runtime_is_blocked() {
    let model = ModelStandIn::openai(vec![ScriptedTurn::Text("from elsewhere".into())]).await;
    let url = model.url();
    let elsewhere = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { openai(&url, Some("m")).complete(&ask("hi", vec![])).await })
    });
    // Blocks this runtime's only thread until the other side is done.
    let response = elsewhere.join().unwrap().unwrap();
    assert_eq!(response.message.text(), "from elsewhere");

    let url = model.url();
    model.shutdown().await;
    let err = openai(&url, Some("m")).complete(&ask("hi", vec![])).await.unwrap_err();
    assert!(matches!(err, ModelError::Provider { .. }), "stopped stand-in still answers: {err:?}");
}

#[tokio::test]
async fn both_stand_ins_call_several_tools_in_one_answer_with_fixed_usage_and_large_bodies() {
    let calls = || {
        ScriptedTurn::ToolCalls(vec![
            ("clock".into(), json!({ "zone": "UTC" })),
            ("clock".into(), json!({ "zone": "Asia/Tokyo", "pad": "x".repeat(3 * 1024 * 1024) })),
        ])
    };
    let expected = |prefix: &str| {
        vec![
            Block::ToolUse { id: format!("{prefix}1"), name: "clock".into(), input: json!({ "zone": "UTC" }) },
            Block::ToolUse {
                id: format!("{prefix}2"),
                name: "clock".into(),
                input: json!({ "zone": "Asia/Tokyo", "pad": "x".repeat(3 * 1024 * 1024) }),
            },
        ]
    };
    let bedrock_model = ModelStandIn::bedrock(vec![calls(), ScriptedTurn::Text("done".into())]).await;
    let openai_model = ModelStandIn::openai(vec![calls(), ScriptedTurn::Text("done".into())]).await;
    bedrock_model.fix_usage(3, 4);
    openai_model.fix_usage(3, 4);
    let bedrock_provider = bedrock(&bedrock_model.url(), None).await;
    let openai_provider = openai(&openai_model.url(), Some("llama3.1"));
    for (provider, prefix) in
        [(&bedrock_provider as &dyn ModelProvider, "tooluse_"), (&openai_provider as &dyn ModelProvider, "call_")]
    {
        let first = ask("what time is it here and in Tokyo?", vec![clock_tool()]);
        let response = provider.complete(&first).await.unwrap();
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.message.content, expected(prefix));
        assert_eq!((response.usage.input_tokens, response.usage.output_tokens), (3, 4));
        // The next request repeats the 3 MiB input, past axum's default body limit.
        let mut second = first;
        second.messages.push(response.message.clone());
        let results = response
            .tool_uses()
            .into_iter()
            .map(|(id, _, _)| Block::ToolResult {
                tool_use_id: id.to_owned(),
                content: "12:00".into(),
                is_error: false,
            })
            .collect();
        second.messages.push(ChatMessage { role: ChatRole::User, content: results });
        assert_eq!(provider.complete(&second).await.unwrap().message.text(), "done");
    }
}
