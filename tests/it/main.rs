//! The integration tests, as one binary (one link of the crate instead of one per file): each
//! module is one area, run against the real binary and real parts. `tests/common` holds what they
//! share.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod auto_commit;
mod browser_smoke;
mod build;
mod build_lease;
mod build_runs;
mod cli;
mod controls;
mod doctor;
mod fake_agent_script;
mod fake_agent_smoke;
mod fake_llm;
mod fuzz_mcp;
mod golden_events;
mod hooks;
mod long_build;
mod mcp_conformance;
mod mcp_files;
mod mcp_python;
mod mcp_resources;
mod mcp_tools;
mod mcp_transport;
mod nats_cli;
mod pause;
mod questions;
mod real_agent_hooks;
mod real_agent_permissions;
mod real_agent_questions;
mod real_agents;
mod reliability_agent;
mod reliability_agent_io;
mod reliability_kills;
mod reliability_kills_opencode;
mod reliability_security;
mod reliability_store;
mod settings;
mod store_nats;
mod store_processes;
mod store_sqlite;
mod templates;
mod tui;
mod tui_markdown;
mod tui_tmux;
mod tui_workers;
mod watch_output;
mod watch_tmux;
mod web;
mod web_browser;
mod workers;
mod workers_real;
mod workers_remote;
