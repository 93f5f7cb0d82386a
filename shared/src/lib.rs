//! clawless-shared: the domain and the AWS adapters every clawless function uses.
//!
//! Domain: [`ids`], [`model`], [`envelope`], [`text`]. Adapters, one per AWS service:
//! [`store`] (DynamoDB), [`secrets`] (SSM), [`queue`] (SQS), [`agentcore`] (Bedrock AgentCore).
//! Flows the Lambda handlers call: [`webhook`], [`dispatch`], [`reply`]. Scheduled tasks:
//! [`tasks`] (domain, records, the scheduler function's flow) and [`schedules`] (EventBridge
//! Scheduler).

pub mod agentcore;
pub mod approvals;
pub mod approvals_caps;
pub mod approvals_notice;
pub mod aws;
pub mod cache;
pub mod channels;
pub mod config;
pub mod credentials;
pub mod directory;
pub mod dispatch;
pub mod envelope;
pub mod ids;
pub mod model;
pub mod permissions;
pub mod profiles;
pub mod queue;
pub mod reply;
pub mod reports;
pub mod safety;
pub mod schedules;
pub mod scope;
pub mod secrets;
pub mod sqs_batch;
pub mod store;
pub mod tasks;
pub mod text;
pub mod tls;
pub mod trigger;
pub mod visible;
pub mod webhook;

pub use aws_lambda_events;
pub use reqwest;
