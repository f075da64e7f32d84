//! Sending one notification to one channel: a webhook over HTTP(S), a command (run as hooks are:
//! values only as environment variables and JSON on stdin), the desktop's notifier. Every attempt
//! has a time limit; a failed one is tried again after a pause that doubles.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::message::Notification;
use super::{Channel, ChannelKind, Format, NotifySettings, WebhookUrl};
use crate::hooks::{HookCommand, Invocation};
use crate::session::text::error_chain;

/// The pause before the first retry (then 2×, 4×, ...).
const BACKOFF: Duration = Duration::from_millis(500);

/// How sending one notification to one channel went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub attempts: u32,
    /// What the attempt that got through said ("HTTP 200", "exit 0"), or why the last failed.
    pub result: Result<String, String>,
    /// Why each failed attempt failed, in order.
    pub failures: Vec<String>,
}

/// Why an attempt failed, and whether another could do better.
struct Failed {
    why: String,
    retry: bool,
}

impl Failed {
    fn again(why: String) -> Failed {
        Failed { why, retry: true }
    }
}

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Client = hyper_util::client::legacy::Client<Https, http_body_util::Full<bytes::Bytes>>;

/// What sends: the HTTP client (one for every webhook), the limits, where commands run.
#[derive(Clone)]
pub(crate) struct Sender {
    client: Result<Client, String>,
    timeout: Duration,
    retries: u32,
    cwd: PathBuf,
}

/// The HTTP client of webhooks: hyper's, with rustls on ring (the TLS stack async-nats already
/// brings) and certificates checked against the platform's roots (rustls-platform-verifier: the
/// system's store on Linux, honouring `SSL_CERT_FILE`; the keychain on macOS). It follows no
/// redirect: a webhook that moved answers with an error status, and the notification, secret
/// address and all, does not go on to another host.
fn http_client() -> Result<Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(provider)
        .map_err(|e| format!("cannot set up HTTPS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

impl Sender {
    pub(crate) fn new(settings: &NotifySettings, cwd: &Path) -> Sender {
        let webhooks = settings
            .channels
            .iter()
            .any(|c| matches!(c.kind, ChannelKind::Webhook { .. }));
        Sender {
            client: if webhooks {
                http_client()
            } else {
                Err("no webhook".into())
            },
            timeout: settings.timeout,
            retries: settings.retries,
            cwd: cwd.to_path_buf(),
        }
    }

    /// One attempt, then retries after a pause that doubles, until one gets through.
    pub(crate) async fn deliver(&self, channel: &Channel, n: &Notification) -> Delivery {
        let mut failures = Vec::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(BACKOFF * 2u32.saturating_pow(attempt - 1)).await;
            }
            match self.once(channel, n).await {
                Ok(said) => {
                    return Delivery {
                        attempts: attempt + 1,
                        result: Ok(said),
                        failures,
                    };
                }
                Err(Failed { why, retry }) => {
                    failures.push(why);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Delivery {
            attempts: failures.len() as u32,
            result: Err(failures.last().cloned().unwrap_or_default()),
            failures,
        }
    }

    async fn once(&self, channel: &Channel, n: &Notification) -> Result<String, Failed> {
        match &channel.kind {
            ChannelKind::Webhook { url, format } => {
                let client = self.client.as_ref().map_err(|e| Failed {
                    why: e.clone(),
                    retry: false,
                })?;
                post(client, url, *format, n, self.timeout).await
            }
            ChannelKind::Command(command) => {
                let inv = Invocation {
                    command,
                    timeout: self.timeout,
                    env: n.env(),
                    stdin: n.json().to_string(),
                };
                ran(crate::hooks::execute(inv, &self.cwd).await)
            }
            ChannelKind::Desktop => {
                let argv = desktop_argv(&n.title(), &n.message()).ok_or_else(|| Failed {
                    why: format!("{} is not installed", DESKTOP_PROGRAM),
                    retry: false,
                })?;
                let inv = Invocation {
                    command: &HookCommand::Args(argv),
                    timeout: self.timeout,
                    env: Vec::new(),
                    stdin: String::new(),
                };
                ran(crate::hooks::execute(inv, &self.cwd).await)
            }
        }
    }
}

/// A command's run as an attempt's result: its exit, and on failure the end of its output.
fn ran(run: crate::hooks::Ran) -> Result<String, Failed> {
    if run.succeeded() {
        return Ok(run.describe());
    }
    let last = run.output.lines().rev().find(|l| !l.trim().is_empty());
    Err(Failed {
        why: match last {
            Some(line) => format!("{}: {}", run.describe(), line.trim()),
            None => run.describe(),
        },
        retry: run.spawn_error.is_none(),
    })
}

async fn post(
    client: &Client,
    url: &WebhookUrl,
    format: Format,
    n: &Notification,
    timeout: Duration,
) -> Result<String, Failed> {
    let (content_type, body, headers) = match format {
        Format::Json => ("application/json", n.json().to_string(), Vec::new()),
        Format::Slack => ("application/json", n.slack().to_string(), Vec::new()),
        Format::Ntfy => {
            let (body, headers) = n.ntfy();
            ("text/plain; charset=utf-8", body, headers)
        }
    };
    let request = headers
        .into_iter()
        .fold(
            http::Request::post(url.full().as_str())
                .header("Content-Type", content_type)
                .header("User-Agent", concat!("iteratr/", env!("CARGO_PKG_VERSION"))),
            |r, (k, v)| r.header(k, v),
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        // The error's text may quote the address: only its shown part stays.
        .map_err(|e| Failed {
            why: url.scrub(&format!("cannot make the request: {e}")),
            retry: false,
        })?;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(answer)) if answer.status().is_success() => {
            Ok(format!("HTTP {}", answer.status().as_u16()))
        }
        Ok(Ok(answer)) => Err(Failed::again(format!("HTTP {}", answer.status()))),
        Ok(Err(e)) => Err(Failed::again(url.scrub(&error_chain(&e)))),
        Err(_) => Err(Failed::again(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        ))),
    }
}

#[cfg(target_os = "macos")]
const DESKTOP_PROGRAM: &str = "osascript";
#[cfg(not(target_os = "macos"))]
const DESKTOP_PROGRAM: &str = "notify-send";

/// The desktop notifier's command line, the title and body as arguments of their own (no shell,
/// no script text made of them); none when the program is not installed.
pub(crate) fn desktop_argv(title: &str, body: &str) -> Option<Vec<String>> {
    let program = crate::process::on_path(DESKTOP_PROGRAM)?;
    let program = program.to_string_lossy().into_owned();
    let mut argv = vec![program];
    if cfg!(target_os = "macos") {
        // AppleScript reads them from its arguments, never from its own text.
        for line in [
            "on run argv",
            "display notification (item 2 of argv) with title (item 1 of argv)",
            "end run",
        ] {
            argv.extend(["-e".to_string(), line.to_string()]);
        }
    } else {
        argv.push("--app-name=iteratr".into());
        argv.push("--".into());
    }
    argv.extend([title.to_string(), body.to_string()]);
    Some(argv)
}

/// The desktop notifier this machine has (`notify-send`, `osascript`), if any.
pub fn desktop_program() -> Option<PathBuf> {
    crate::process::on_path(DESKTOP_PROGRAM)
}

/// `iteratr notify --test`: one test notification to every channel at once (each with its
/// retries), and how each went, in the settings' order.
pub async fn test_all(
    settings: &NotifySettings,
    session: &str,
    cwd: &Path,
) -> Vec<(Channel, Delivery)> {
    let sender = Sender::new(settings, cwd);
    let notification = Notification::test(session);
    let running: Vec<_> = settings
        .channels
        .iter()
        .cloned()
        .map(|channel| {
            let (sender, n) = (sender.clone(), notification.clone());
            tokio::spawn(async move {
                let delivery = sender.deliver(&channel, &n).await;
                (channel, delivery)
            })
        })
        .collect();
    let mut out = Vec::new();
    for handle in running {
        if let Ok(done) = handle.await {
            out.push(done);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn settings(kind: ChannelKind, retries: u32) -> NotifySettings {
        NotifySettings {
            channels: vec![Channel {
                kind,
                on: BTreeSet::new(),
            }],
            timeout: Duration::from_secs(5),
            retries,
            ..NotifySettings::default()
        }
    }

    #[tokio::test]
    async fn a_command_gets_the_values_as_environment_and_nothing_runs_from_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(
            ChannelKind::Command(HookCommand::Shell(
                r#"printf '%s' "$ITERATR_NOTIFY_TITLE" > got; cat > stdin.json"#.into(),
            )),
            0,
        );
        let sender = Sender::new(&s, dir.path());
        let d = sender
            .deliver(&s.channels[0], &Notification::test("demo"))
            .await;
        assert_eq!(d.result, Ok("exit 0".into()), "{d:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("got")).unwrap(),
            "iteratr demo: test notification"
        );
        let stdin: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("stdin.json")).unwrap()).unwrap();
        assert_eq!(stdin["test"], true);
    }

    #[tokio::test]
    async fn a_failing_command_is_tried_again_and_its_last_words_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(
            ChannelKind::Command(HookCommand::Shell(
                "echo tried >> attempts; echo 'no route' >&2; exit 3".into(),
            )),
            2,
        );
        let d = Sender::new(&s, dir.path())
            .deliver(&s.channels[0], &Notification::test("demo"))
            .await;
        assert_eq!(d.attempts, 3, "{d:?}");
        assert_eq!(d.result, Err("exit 3: no route".into()));
        let attempts = std::fs::read_to_string(dir.path().join("attempts")).unwrap();
        assert_eq!(attempts.lines().count(), 3);
    }

    #[tokio::test]
    async fn a_missing_program_is_not_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(
            ChannelKind::Command(HookCommand::Args(vec!["/nonexistent/notifier".into()])),
            3,
        );
        let d = Sender::new(&s, dir.path())
            .deliver(&s.channels[0], &Notification::test("demo"))
            .await;
        assert_eq!(d.attempts, 1, "{d:?}");
        assert!(d.result.unwrap_err().starts_with("could not start"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_without_the_secret() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = WebhookUrl::parse(&format!(
            "http://127.0.0.1:{port}/T0/SECRETPATH?token=s3cr3t"
        ))
        .unwrap();
        let s = settings(
            ChannelKind::Webhook {
                url,
                format: Format::Json,
            },
            1,
        );
        let dir = tempfile::tempdir().unwrap();
        let d = Sender::new(&s, dir.path())
            .deliver(&s.channels[0], &Notification::test("demo"))
            .await;
        assert_eq!(d.attempts, 2, "{d:?}");
        let text = format!("{d:?}");
        assert!(
            !text.contains("SECRETPATH") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn the_desktop_gets_title_and_body_as_arguments() {
        if let Some(argv) = desktop_argv("t $(x)", "b `y`") {
            assert_eq!(argv[argv.len() - 2..], ["t $(x)", "b `y`"]);
        }
    }
}
