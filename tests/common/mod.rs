//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod conformance;
pub mod fake_agent;
pub mod fake_llm;
pub mod mcp;
pub mod nats;
pub mod project;
pub mod real_agent;

use iteratr::session::{Author, Event, EventKind};

pub fn message(text: impl Into<String>) -> Event {
    Event::new(
        1_700_000_000_000,
        Author::User,
        EventKind::UserMessage { text: text.into() },
    )
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iteratr")
}
