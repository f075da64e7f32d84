//! `iteratr spec`'s domain: what a finished spec must hold (`check.rs`: its sections and the
//! priority tags of its checklist lines, which the build's import reads too), the interview's
//! prompt template (`prompt.rs`), and saving: the file name, the index `specs/README.md`, whole
//! files only (`save.rs`).

pub mod check;
pub mod prompt;
pub mod save;

pub use check::{check, checklist_item, priority_tag};
