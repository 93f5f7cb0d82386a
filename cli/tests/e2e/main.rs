//! The CLI's integration tests, one binary: each module starts its own local stack (moto, the
//! real function binaries, the stand-ins). One binary instead of one per file keeps link time
//! and disk use down; every test still runs in parallel with the others.

mod support;

mod access;
mod admin_api;
mod agent;
mod agent_image;
mod approvals;
mod budget;
mod commands;
mod console;
mod discord;
mod dlq;
mod feishu;
mod isolation;
mod limits;
mod liveness;
mod long_term_memory;
mod mcp;
mod media;
mod notice;
mod observe;
mod providers;
mod quotas;
mod redelivery;
mod sample_events;
mod secrets_in_logs;
mod skills;
mod slack;
mod soak;
mod tasks;
mod telegram;
mod template;
mod threads;
mod untrusted;
mod webhook_calls;
mod whatsapp;
