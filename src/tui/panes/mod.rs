//! The dashboard's panes. Each owns its state (scroll, selection, text) and draws itself and
//! handles its keys and mouse; what it needs of the session is passed in, and what it asks of the
//! app comes back as a small value the app acts on. Panes never call each other.

pub(super) mod agent;
pub(super) mod input;
mod list;
pub(super) mod logs;
pub(super) mod notes;
pub(super) mod tasks;

pub(super) use list::ListKey;
