//! Tenants' own providers ([`Providers::for_grant`]) over real HTTP: the Anthropic Messages API
//! against its scripted stand-in (tool loop, headers, usage), and which key reaches an
//! OpenAI-compatible server; built clients are kept per type, base URL and key.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use clawless_agent::provider::{
    Block, ChatMessage, ChatRole, ModelRequest, ModelSettings, Providers, StopReason, ToolSpec,
};
use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_core::domain::extensions::{ProviderGrant, ProviderType};
use clawless_core::domain::secrets::Secret;
use serde_json::json;

fn grant(kind: ProviderType, base_url: &str, key: &str) -> ProviderGrant {
    ProviderGrant {
        kind,
        model: "tenant-model".into(),
        base_url: Some(base_url.to_owned()),
        api_key: Some(Secret::new(key)),
    }
}

async fn providers() -> Providers {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).load().await;
    Providers::build(&ModelSettings::default(), &sdk).expect("providers")
}

fn ask(text: &str) -> ModelRequest {
    ModelRequest {
        model_id: Some("tenant-model".into()),
        system: "You are a terse test bot.".into(),
        messages: vec![ChatMessage::user_text(text)],
        tools: vec![ToolSpec {
            name: "clock".into(),
            description: "Tells the time.".into(),
            input_schema: json!({ "type": "object", "properties": { "zone": { "type": "string" } } }),
        }],
        max_output_tokens: 256,
    }
}

#[tokio::test]
async fn anthropic_tool_loop_against_its_stand_in() {
    let model = ModelStandIn::anthropic(vec![
        ScriptedTurn::ToolCall { name: "clock".into(), input: json!({ "zone": "UTC" }) },
        ScriptedTurn::EchoLastToolResult { prefix: "The clock says: ".into() },
    ])
    .await;
    let provider = providers().await.for_grant(&grant(ProviderType::Anthropic, &model.url(), "sk-ant-tenant-a"));
    assert_eq!(provider.name(), "anthropic");
    let mut request = ask("what time is it?");

    let response = provider.complete(&request).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.message.content,
        vec![Block::ToolUse { id: "toolu_1".into(), name: "clock".into(), input: json!({ "zone": "UTC" }) }]
    );
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);

    request.messages.push(response.message.clone());
    request.messages.push(ChatMessage {
        role: ChatRole::User,
        content: vec![Block::ToolResult {
            tool_use_id: "toolu_1".into(),
            content: "12:00 UTC".into(),
            is_error: false,
        }],
    });
    let answer = provider.complete(&request).await.unwrap();
    assert_eq!(answer.stop_reason, StopReason::EndTurn);
    assert_eq!(answer.message.text(), "The clock says: 12:00 UTC");

    let requests = model.requests();
    assert_eq!(requests[0]["model"], "tenant-model");
    assert_eq!(requests[0]["system"], "You are a terse test bot.");
    assert_eq!(requests[0]["tools"][0]["input_schema"]["properties"]["zone"]["type"], "string");
    assert_eq!(
        requests[1]["messages"][2],
        json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "12:00 UTC" }] })
    );
    assert_eq!(model.credentials(), vec![Some("sk-ant-tenant-a".to_owned()); 2]);
}

#[tokio::test]
async fn each_grant_brings_its_own_key_and_clients_are_kept() {
    let model = ModelStandIn::openai(vec![ScriptedTurn::Text("a".into()), ScriptedTurn::Text("b".into())]).await;
    let providers = providers().await;
    let a = grant(ProviderType::Openai, &model.url(), "sk-tenant-a");
    let b = grant(ProviderType::Openai, &model.url(), "sk-tenant-b");

    let first = providers.for_grant(&a);
    assert!(Arc::ptr_eq(&first, &providers.for_grant(&a)), "a warm agent reuses the client");
    let other = providers.for_grant(&b);
    assert!(!Arc::ptr_eq(&first, &other), "another key, another client");

    first.complete(&ask("hi")).await.unwrap();
    other.complete(&ask("hi")).await.unwrap();
    assert_eq!(model.credentials(), vec![Some("sk-tenant-a".to_owned()), Some("sk-tenant-b".to_owned())]);
}

#[tokio::test]
async fn a_grant_that_cannot_be_built_fails_instead_of_using_the_platform_model() {
    let providers = providers().await;
    let broken = ProviderGrant { kind: ProviderType::Anthropic, model: "m".into(), base_url: None, api_key: None };
    let err = providers.for_grant(&broken).complete(&ask("hi")).await.unwrap_err().to_string();
    assert!(err.contains("anthropic API key"), "{err}");
}
