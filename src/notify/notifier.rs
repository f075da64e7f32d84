//! The notifier of a build: a task that follows the session log and the build's news, gathers
//! what comes within the window into one notification, and hands it to each channel's queue.
//! Each channel sends from its own task, so a slow or dead one holds up nothing else; a queue that
//! is full drops the notification with a warning rather than wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::deliver::Sender;
use super::message::{Item, Notification};
use super::needs::{Needs, Scope};
use super::{Channel, NotifySettings, Trigger};
use crate::frontend::{BuildEvent, WorkerPhase};
use crate::session::SessionState;
use crate::store::{EventLog, READ_PAGE, Subscription};

/// Notifications a channel may have waiting to be sent.
const QUEUE: usize = 16;
/// How long the end of the build waits for the log's last events.
const CATCH_UP: Duration = Duration::from_secs(2);

/// How the build ended, as the notifier tells it.
#[derive(Debug, Clone)]
pub struct BuildEnd {
    pub completed: bool,
    /// The build's last line ("stopped after 5 iterations (-i 5)").
    pub message: String,
}

/// What the build's loop says that the log does not: a worker stopped, the build ended.
enum News {
    WorkerStopped { worker: String, message: String },
    End(BuildEnd),
}

/// The notifier running beside a build.
pub struct Notifier {
    news: mpsc::Sender<News>,
    task: JoinHandle<()>,
    timeout: Duration,
    warn: Warn,
}

/// What the notifier needs to start.
pub struct Start {
    pub settings: NotifySettings,
    pub log: Arc<dyn EventLog>,
    pub session: String,
    pub scope: Scope,
    /// The session's page on the build's dashboard (`--web`), for "what to do".
    pub link: Option<String>,
    /// Where command channels run (the project).
    pub cwd: PathBuf,
    /// Where warnings go: the build's front end.
    pub events: mpsc::UnboundedSender<BuildEvent>,
}

/// A warning for the build's front end (and the log file when there is one).
#[derive(Clone)]
struct Warn(mpsc::UnboundedSender<BuildEvent>);

impl Warn {
    fn say(&self, message: String) {
        if crate::logging::to_file() {
            tracing::warn!("{message}");
        }
        let _ = self.0.send(BuildEvent::Warning { message });
    }
}

impl Notifier {
    /// Starts following the session from where it is now (before the build appends anything);
    /// none when no channel is declared.
    pub async fn start(start: Start) -> Option<Notifier> {
        if start.settings.channels.is_empty() {
            return None;
        }
        let until = start.log.last_seq(&start.session).await.unwrap_or(0);
        let (news, rx) = mpsc::channel(64);
        let timeout = start.settings.timeout;
        let warn = Warn(start.events.clone());
        let task = tokio::spawn(run(start, rx, until));
        Some(Notifier {
            news,
            task,
            timeout,
            warn,
        })
    }

    /// The build ended: that is told at once with whatever was gathering, and the channels get
    /// one attempt's time (and a little) to send what they hold.
    pub async fn finish(mut self, end: BuildEnd) {
        let bound = self.timeout + CATCH_UP;
        let told = async {
            let _ = self.news.send(News::End(end)).await;
            (&mut self.task).await
        };
        if tokio::time::timeout(bound, told).await.is_err() {
            self.task.abort();
            let _ = (&mut self.task).await;
            self.warn.say(format!(
                "notifications still being sent {} after the build ended are dropped",
                humantime::format_duration(bound)
            ));
        }
    }

    /// Where the build's loop news goes (its events, as they pass).
    pub fn observer(&self) -> Observer {
        Observer {
            news: self.news.clone(),
        }
    }
}

/// Takes the build loop's events as they pass to the front end.
#[derive(Clone)]
pub struct Observer {
    news: mpsc::Sender<News>,
}

impl Observer {
    /// Without waiting: a worker that stopped is news.
    pub fn observe(&self, event: &BuildEvent) {
        if let BuildEvent::Worker { worker, event } = event
            && let BuildEvent::Phase {
                phase: WorkerPhase::Stopped,
                message,
            } = event.as_ref()
        {
            let _ = self.news.try_send(News::WorkerStopped {
                worker: worker.clone(),
                message: message.clone(),
            });
        }
    }
}

/// A channel's queue and the task that sends from it (which goes when the notifier does).
struct Queue {
    channel: Channel,
    tx: mpsc::Sender<Notification>,
    task: AbortOnDrop,
}

/// A task that ends with its owner: a notifier given up on at the end of the build takes its
/// channels' sending with it (and their hold on the front end's stream).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn queue(channel: Channel, sender: Sender, warn: Warn) -> Queue {
    let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE);
    let c = channel.clone();
    let task = tokio::spawn(async move {
        while let Some(n) = rx.recv().await {
            let d = sender.deliver(&c, &n).await;
            match d.result {
                Ok(said) => tracing::info!("notified {c} ({said}): {}", n.title()),
                Err(why) => warn.say(format!(
                    "notification to {c} not sent ({} attempts): {why}",
                    d.attempts
                )),
            }
        }
    });
    Queue {
        channel,
        tx,
        task: AbortOnDrop(task),
    }
}

/// What gathers during the window, and where it goes.
struct Gather {
    pending: Vec<Item>,
    deadline: Option<Instant>,
    window: Duration,
    session: String,
    link: Option<String>,
    queues: Vec<Queue>,
    warn: Warn,
}

impl Gather {
    fn add(&mut self, items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        self.pending.extend(items);
        self.deadline
            .get_or_insert_with(|| Instant::now() + self.window);
    }

    /// Sends what is still true of what gathered, to each channel that wants some of it.
    fn flush(&mut self, needs: &Needs) {
        self.deadline = None;
        let items: Vec<Item> = std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|i| i.need.is_none_or(|n| needs.still(n)))
            // A worker that stops once the session is complete is no news.
            .filter(|i| i.event != Trigger::WorkerStopped || !needs.completed())
            .collect();
        if items.is_empty() {
            return;
        }
        let n = Notification {
            session: self.session.clone(),
            items,
            link: self.link.clone(),
            test: false,
        };
        for q in &self.queues {
            let Some(part) = n.for_channel(&q.channel.on) else {
                continue;
            };
            if q.tx.try_send(part).is_err() {
                self.warn.say(format!(
                    "notifications to {} pile up (it has not answered the earlier ones); this one is dropped",
                    q.channel
                ));
            }
        }
    }
}

/// The session as the build found it (up to `until`), folded a page at a time: what waited then
/// is known, not news, and everything after it is.
async fn session_at(
    log: &Arc<dyn EventLog>,
    session: &str,
    until: u64,
) -> Result<SessionState, crate::store::StoreError> {
    let mut state = SessionState::default();
    while state.last_seq < until {
        let page = log.read(session, state.last_seq, READ_PAGE).await?;
        let before = state.last_seq;
        for e in page.iter().take_while(|e| e.seq <= until) {
            state.apply(e.seq, &e.event);
        }
        if state.last_seq == before {
            break;
        }
    }
    Ok(state)
}

async fn next_event(
    sub: &mut Option<Subscription>,
) -> Option<Result<crate::store::StoredEvent, String>> {
    match sub {
        Some(s) => s.next().await.map(|r| r.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

async fn run(start: Start, mut news: mpsc::Receiver<News>, until: u64) {
    let Start {
        settings,
        log,
        session,
        scope,
        link,
        cwd,
        events,
    } = start;
    let warn = Warn(events);
    let sender = Sender::new(&settings, &cwd);
    let mut queues = Vec::new();
    for c in &settings.channels {
        // Said once here rather than at every notification.
        if c.kind == super::ChannelKind::Desktop && super::desktop_program().is_none() {
            warn.say(
                "[notify.desktop]: this machine has no desktop notifier (notify-send, osascript); desktop notifications are off".into(),
            );
            continue;
        }
        queues.push(queue(c.clone(), sender.clone(), warn.clone()));
    }
    let builder = scope.builder;
    let state = session_at(&log, &session, until).await.unwrap_or_else(|e| {
        warn.say(format!("notifications: cannot read the session: {e}"));
        SessionState::default()
    });
    let mut needs = Needs::new(state, scope, &session);
    let mut sub = match log.subscribe(&session, needs.last_seq()).await {
        Ok(sub) => Some(sub),
        Err(e) => {
            warn.say(format!("notifications: cannot follow the session log: {e}"));
            None
        }
    };
    let mut gather = Gather {
        pending: Vec::new(),
        deadline: None,
        window: settings.window,
        session: session.clone(),
        link,
        queues,
        warn: warn.clone(),
    };
    let status = format!("iteratr status --session {session}");
    loop {
        let deadline = gather.deadline;
        let due = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            next = next_event(&mut sub) => match next {
                Some(Ok(e)) => {
                    let items = needs.observe(e.seq, &e.event);
                    gather.add(items);
                }
                Some(Err(e)) => {
                    warn.say(format!("notifications: stopped following the session log: {e}"));
                    sub = None;
                }
                None => sub = None,
            },
            () = due => gather.flush(&needs),
            said = news.recv() => match said {
                Some(News::WorkerStopped { worker, message }) => {
                    let message = message.strip_prefix("stopped: ").unwrap_or(&message);
                    gather.add(vec![Item {
                        event: Trigger::WorkerStopped,
                        text: format!("worker {worker} stopped: {message}"),
                        action: format!("{status} shows the session; the other workers go on"),
                        id: Some(worker),
                        need: None,
                    }]);
                }
                Some(News::End(end)) => {
                    catch_up(&log, &session, &mut sub, &mut needs, &mut gather).await;
                    if builder {
                        // The build's end says what a worker's would have.
                        gather.pending.retain(|i| i.event != Trigger::WorkerStopped);
                        gather.add(vec![end_item(&end, &status)]);
                    } else if end.completed {
                        gather.pending.retain(|i| i.event != Trigger::WorkerStopped);
                    }
                    gather.flush(&needs);
                    break;
                }
                None => break,
            },
        }
    }
    // The queues close; each channel sends what it holds (the caller bounds the wait).
    let mut tasks = Vec::new();
    for q in gather.queues {
        drop(q.tx);
        tasks.push(q.task);
    }
    for mut task in tasks {
        let _ = (&mut task.0).await;
    }
}

/// The log's last events before the build's end (a task blocked just before it stopped).
async fn catch_up(
    log: &Arc<dyn EventLog>,
    session: &str,
    sub: &mut Option<Subscription>,
    needs: &mut Needs,
    gather: &mut Gather,
) {
    let last = log.last_seq(session).await.unwrap_or(0);
    let until = Instant::now() + CATCH_UP;
    while needs.last_seq() < last {
        match tokio::time::timeout_at(until, next_event(sub)).await {
            Ok(Some(Ok(e))) => {
                let items = needs.observe(e.seq, &e.event);
                gather.add(items);
            }
            _ => return,
        }
    }
}

fn end_item(end: &BuildEnd, status: &str) -> Item {
    if end.completed {
        Item {
            event: Trigger::Completed,
            id: None,
            text: format!("The session is complete: {}", end.message),
            action: format!("{status} shows what was done"),
            need: None,
        }
    } else {
        Item {
            event: Trigger::Stopped,
            id: None,
            text: format!("The build stopped: {}", end.message),
            action: format!(
                "{status} shows where it stopped; the same build command goes on from there"
            ),
            need: None,
        }
    }
}
