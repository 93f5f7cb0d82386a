//! clawless: the operator tool ([`admin`]). The local run of the platform is its own crate,
//! `clawless-local`.

pub mod admin;
