//! The app's side of `--workers`: a worker's events go to its own pane (the one shown while it has
//! the focus), and the strip follows them.

use super::App;
use crate::frontend::BuildEvent;

impl App {
    /// A worker's event: its own output goes to its pane, the one shown while it has the focus.
    pub(super) fn on_worker_event(&mut self, worker: &str, mut event: BuildEvent) {
        self.workers.on_worker_event(worker, &event);
        // The approval window is for every worker: it says which one asks.
        if let BuildEvent::Agent {
            update: crate::frontend::AgentUpdate::PermissionAsked { title, .. },
        } = &mut event
        {
            *title = format!("{worker}: {title}");
        }
        if self.workers.is_focused(worker) {
            return self.on_build_event(event);
        }
        let mut shown = std::mem::take(self.workers.pane(worker));
        std::mem::swap(&mut self.agent, &mut shown);
        self.on_build_event(event);
        std::mem::swap(&mut self.agent, &mut shown);
        *self.workers.pane(worker) = shown;
    }

    pub fn workers(&self) -> &crate::tui::workers::WorkerStrip {
        &self.workers
    }
}
