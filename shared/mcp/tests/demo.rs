//! The client against the demo server, over real HTTP: tools listed with their schemas, a call
//! with the secret header answered, a call without it refused.

use std::time::Duration;

use clawless_core::domain::secrets::Secret;
use clawless_mcp::demo::{DEMO_HEADER, DemoMcpServer};
use clawless_mcp::{Endpoint, McpConnection};

#[tokio::test]
async fn the_client_lists_and_calls_with_the_secret_header() {
    let server = DemoMcpServer::start(DEMO_HEADER, "demo-key-123").unwrap();
    let http = reqwest::Client::new();
    let key = Secret::new("demo-key-123");
    let endpoint = Endpoint { url: server.url(), header: Some((DEMO_HEADER, &key)), timeout: Duration::from_secs(10) };
    let connection = McpConnection::connect(&http, &endpoint).await.unwrap();
    let tools = connection.tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"lookup_order") && names.contains(&"add"), "{names:?}");
    let lookup = tools.iter().find(|t| t.name == "lookup_order").unwrap();
    assert_eq!(lookup.input_schema["type"], "object");
    assert!(lookup.input_schema["properties"]["order_id"].is_object(), "{}", lookup.input_schema);

    let out = connection.call("add", &serde_json::json!({"a": 2, "b": 40})).await.unwrap();
    assert_eq!((out.text.as_str(), out.is_error), ("42", false));
    let out = connection.call("lookup_order", &serde_json::json!({"order_id": "A-1001"})).await.unwrap();
    assert!(out.text.contains("A-1001") && out.text.contains("shipped"), "{}", out.text);
    assert_eq!(server.calls().len(), 2);
    assert_eq!(server.refused(), 0);
    connection.close().await;

    let wrong = Secret::new("not-the-key");
    let endpoint = Endpoint { header: Some((DEMO_HEADER, &wrong)), ..endpoint };
    let refused = McpConnection::connect(&http, &endpoint).await;
    assert!(refused.is_err());
    let shown = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!shown.contains("not-the-key") && !shown.contains("demo-key-123"), "{shown}");
    assert!(server.refused() >= 1);
    assert_eq!(server.calls().len(), 2, "nothing ran without the header");
}
