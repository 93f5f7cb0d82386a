//! clawless: the operator tool ([`admin`], and [`dlq`] for the dead-letter queues). The local run
//! of the platform is its own crate, `clawless-local`.

pub mod admin;
pub mod dlq;
