//! Remote MCP servers: [`client`] is what the agent (tool calls) and the CLI (`mcp add` lists a
//! server's tools) speak; [`demo`] is a demo server for the local run and the tests.

pub mod client;
#[cfg(feature = "demo")]
pub mod demo;

pub use client::{CallOutcome, Endpoint, McpConnection, McpError, RemoteTool};
