//! iteratr: run an AI coding agent in a loop until a spec is built.
//!
//! The heart is [`session`]: pure event types, the fold into state and the validation of commands.
//! [`store`] persists events in an append-only log that several processes share; [`service`] ties
//! the two together with optimistic concurrency.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acp;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod doctor;
pub mod fault;
pub mod fd_limit;
pub mod git;
pub mod headless;
pub mod hooks;
pub mod logging;
pub mod mcp;
pub mod narrate;
pub mod orchestrator;
pub mod output;
pub mod process;
pub mod protocol;
pub mod render;
pub mod service;
pub mod session;
pub mod signal;
pub mod status;
pub mod store;
pub mod template;
pub mod tui;

#[cfg(test)]
mod fuzz_tests;
