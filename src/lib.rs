//! iteratr: run an AI coding agent in a loop until a spec is built.
//!
//! The heart is [`session`]: pure event types, the fold into state and the validation of commands.
//! [`store`] persists events in an append-only log that several processes share; [`session_handle`]
//! ties the two together with optimistic concurrency.
#![deny(unsafe_code)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acp;
pub mod cli;
mod clock;
pub mod commands;
pub mod config;
mod control;
mod doctor;
pub mod fault;
pub mod fd_limit;
pub mod frontend;
mod git;
mod headless;
mod hooks;
pub mod logging;
pub mod malloc;
pub mod mcp;
mod narrate;
pub mod notify;
mod orchestrator;
pub mod output;
pub mod process;
mod render;
pub mod sandbox;
mod secret;
pub mod session;
pub mod session_handle;
mod signal;
pub mod spec;
mod status;
pub mod store;
pub mod template;
pub mod tui;
pub mod web;

#[cfg(test)]
mod fuzz_tests;
