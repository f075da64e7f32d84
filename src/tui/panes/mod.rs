//! The dashboard's panes. Each owns its state (scroll, selection, text) and draws itself and
//! handles its keys and mouse; what it needs of the session is passed in, and what it asks of the
//! app comes back as a small value the app acts on. Panes never call each other.

pub mod agent;
pub mod input;
mod list;
pub mod logs;
pub mod notes;
pub mod tasks;

pub use list::ListKey;
