//! clawless-aws: the adapters around `clawless-core`, one module per AWS service, each
//! implementing the core's ports with the AWS SDK for Rust.
//!
//! - [`dynamodb`]: the platform table (bots, conversations, usage, approvals, tasks).
//! - [`sqs`]: the inbound and reply FIFO queues; [`sqs_batch`] runs a Lambda SQS batch;
//!   [`sqs_dlq`] looks into dead-letter queues and moves their messages back.
//! - [`ssm`]: channel secrets, permission profiles and approval-notice settings in Parameter Store.
//! - [`bedrock`]: the model behind the approval notices' optional summary.
//! - [`scheduler`]: EventBridge Scheduler (task schedules, approval timeouts).
//! - [`agentcore`]: invoking the agent runtime.
//! - [`sts`]: tenant-scoped credentials; [`secrets_manager`]: the scope key.
//! - [`sdk`] and [`tls`]: the SDK configuration and its HTTP client with bundled roots.
//! - [`wiring`]: the flows assembled from these adapters, as the functions build them.

pub mod agentcore;
pub mod bedrock;
pub mod cognito;
pub mod dynamodb;
pub mod s3;
pub mod scheduler;
pub mod sdk;
pub mod secrets_manager;
pub mod skills;
pub mod sqs;
pub mod sqs_batch;
pub mod sqs_dlq;
pub mod ssm;
pub mod sts;
pub mod tls;
pub mod wiring;

pub use aws_lambda_events;
