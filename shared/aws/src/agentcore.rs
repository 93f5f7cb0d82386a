//! AgentCore adapter: `InvokeAgentRuntime` with the conversation's runtime session id. The agent
//! acknowledges at once; its answer comes back through the reply queue.

use async_trait::async_trait;
use aws_sdk_bedrockagentcore::Client;
pub use aws_sdk_bedrockagentcore::Client as AgentCoreClient;
use aws_sdk_bedrockagentcore::primitives::Blob;
use clawless_core::ports::AgentInvoker;

use crate::sdk::describe_sdk_error;
use clawless_core::domain::envelope::{AgentAck, AgentInvocation};
use clawless_core::domain::ids::RuntimeSessionId;

pub use clawless_core::ports::AgentCoreError;

#[derive(Clone)]
pub struct AgentRuntime {
    client: Client,
    runtime_arn: String,
}

impl AgentRuntime {
    pub fn new(client: Client, runtime_arn: impl Into<String>) -> Self {
        Self { client, runtime_arn: runtime_arn.into() }
    }
}

#[async_trait]
impl AgentInvoker for AgentRuntime {
    async fn invoke(
        &self,
        session: &RuntimeSessionId,
        invocation: &AgentInvocation,
    ) -> Result<AgentAck, AgentCoreError> {
        let payload = serde_json::to_vec(invocation).map_err(|e| AgentCoreError::BadAck(e.to_string()))?;
        let out = self
            .client
            .invoke_agent_runtime()
            .agent_runtime_arn(&self.runtime_arn)
            .runtime_session_id(session.as_str())
            .content_type("application/json")
            .accept("application/json")
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                let retryable = match e.as_service_error() {
                    Some(s) => {
                        !(s.is_validation_exception()
                            || s.is_access_denied_exception()
                            || s.is_resource_not_found_exception())
                    }
                    None => true,
                };
                AgentCoreError::Invoke { detail: describe_sdk_error(&e), retryable }
            })?;
        let body = out.response.collect().await.map_err(|e| AgentCoreError::BadAck(e.to_string()))?.into_bytes();
        serde_json::from_slice(&body).map_err(|e| {
            AgentCoreError::BadAck(format!("{e} in {:?}", String::from_utf8_lossy(&body[..body.len().min(200)])))
        })
    }
}
