//! clawless-core: the application core every clawless function and the agent share.
//!
//! It cannot see the AWS SDK (no `aws-sdk-*` dependency); what it needs from the outside world
//! it asks through the traits in [`ports`], which `clawless-aws` implements around AWS and
//! [`testing`] implements in memory.
//!
//! - [`domain`]: ids, messages, envelopes, permissions, scope tokens, credentials, records.
//! - [`channels`]: the five chat channels (verify, parse, send), each behind one trait.
//! - [`safety`]: the memory-poisoning and response checks.
//! - [`flows`]: what the Lambda handlers call: webhook, dispatch, reply, agent reports.
//! - [`approvals`] and [`tasks`]: human approval of tools, and scheduled tasks.
//! - [`access`]: who may talk to a bot (DM pairing and allowlists, group policies).

pub mod access;
pub mod admin;
pub mod approvals;
pub mod cache;
pub mod channels;
pub mod chat_commands;
pub mod config;
pub mod domain;
pub mod flows;
pub mod observe;
pub mod ports;
pub mod quota;
pub mod safety;
pub mod skills;
pub mod tasks;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use reqwest;
