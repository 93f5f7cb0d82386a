//! clawless: the operator tool ([`admin`], [`access`] for who may talk to a bot, [`notice`] for how
//! approver notices are worded, and [`dlq`] for the dead-letter queues). The local run
//! of the platform is its own crate, `clawless-local`.

pub mod access;
pub mod admin;
pub mod demo;
pub mod dlq;
pub mod mcp;
pub mod notice;
pub mod provider;
pub mod quota;
pub mod skill;
