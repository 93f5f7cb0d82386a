//! clawless: the operator tool ([`admin`]) and the local run of the platform ([`local`]).

pub mod admin;
pub mod local;
