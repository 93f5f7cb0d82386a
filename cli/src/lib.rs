//! clawless: the operator tool ([`admin`], [`access`] for who may talk to a bot, and [`dlq`] for
//! the dead-letter queues). The local run
//! of the platform is its own crate, `clawless-local`.

pub mod access;
pub mod admin;
pub mod demo;
pub mod dlq;
pub mod quota;
