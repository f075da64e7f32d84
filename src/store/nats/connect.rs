//! Reaching the server and the stream: options, connection, stream creation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::CreateStreamError};
use tokio::sync::watch;

use super::codec::ALL_SUBJECTS;
use super::retry::retry;
use super::url::{NatsUrl, NatsUrlError};
use crate::store::Cause;
use crate::store::{NatsError, OutputRetention};

pub const DEFAULT_STREAM: &str = "ITERATR";

/// How to reach the server and what the stream looks like.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// A bad URL given to [`NatsOptions::new`] is reported by `connect`.
    url: Result<NatsUrl, NatsUrlError>,
    /// A `.creds` file (JWT + NKey), as `nats` tools take it.
    pub creds: Option<PathBuf>,
    /// A token, when it is not in the URL.
    pub token: Option<String>,
    /// Copies of the stream in a cluster (1 for a single server; 3 or 5 for a cluster).
    pub replicas: usize,
    pub stream: String,
    /// How long an operation keeps retrying while the server is unreachable (restart, leader
    /// election) before it fails.
    pub retry_for: Duration,
    /// The limits of the output stream (`<stream>_OUTPUT`), set when it is created or opened.
    pub output_retention: OutputRetention,
}

impl NatsOptions {
    /// Options for `url`: one URL or several separated by commas.
    pub fn new(url: impl AsRef<str>) -> Self {
        Self::with_url(NatsUrl::parse(url.as_ref()))
    }

    pub fn for_url(url: NatsUrl) -> Self {
        Self::with_url(Ok(url))
    }

    fn with_url(url: Result<NatsUrl, NatsUrlError>) -> Self {
        NatsOptions {
            url,
            creds: None,
            token: None,
            replicas: 1,
            stream: DEFAULT_STREAM.to_string(),
            retry_for: Duration::from_secs(60),
            output_retention: OutputRetention::default(),
        }
    }

    /// The server's URL, or why the one given is not one.
    pub fn url(&self) -> Result<&NatsUrl, &NatsUrlError> {
        self.url.as_ref()
    }
}

/// A connection with the stream ready.
pub(super) struct Connected {
    pub url: NatsUrl,
    pub js: jetstream::Context,
    pub stream: jetstream::stream::Stream,
    /// Whether the client is connected to a server now.
    pub link: watch::Receiver<bool>,
}

/// Connects, and creates the stream if it does not exist yet.
pub(super) async fn connect(opts: &NatsOptions) -> Result<Connected, NatsError> {
    let url = opts.url.clone()?;
    if opts.replicas == 0 || opts.replicas > 5 {
        return Err(NatsError::Replicas {
            url,
            replicas: opts.replicas,
        });
    }
    if opts.stream.is_empty()
        || !opts
            .stream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NatsError::StreamName {
            url,
            stream: opts.stream.clone(),
        });
    }
    let mut options = async_nats::ConnectOptions::new()
        .name("iteratr")
        .connection_timeout(Duration::from_secs(5))
        // Reconnect quickly after a server restart: the backend retries meanwhile.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(1_000))
        });
    if let Some(creds) = &opts.creds {
        options = match options.credentials_file(creds).await {
            Ok(options) => options,
            Err(source) => {
                return Err(NatsError::Credentials {
                    url,
                    path: creds.clone(),
                    source,
                });
            }
        };
    }
    // The client reconnects by itself and hides the outage from a live feed; the feed watches
    // this to tell its reader when the server stays away too long.
    let (link_tx, link) = watch::channel(true);
    let link_tx = Arc::new(link_tx);
    options = options.event_callback(move |event| {
        let link_tx = Arc::clone(&link_tx);
        async move {
            match event {
                async_nats::Event::Connected => {
                    link_tx.send_replace(true);
                }
                async_nats::Event::Disconnected | async_nats::Event::Closed => {
                    link_tx.send_replace(false);
                }
                _ => {}
            }
        }
    });
    if let Some(token) = &opts.token {
        options = options.token(token.clone());
    }
    let client = match options.connect(url.addrs()).await {
        Ok(client) => client,
        Err(e) => {
            return Err(NatsError::Connect {
                url,
                source: Cause(e),
            });
        }
    };
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client);
    let config = jetstream::stream::Config {
        name: opts.stream.clone(),
        subjects: vec![ALL_SUBJECTS.to_string()],
        storage: jetstream::stream::StorageType::File,
        num_replicas: opts.replicas,
        // Never expire sessions; keep the duplicate window at its default (2 minutes).
        max_age: Duration::ZERO,
        allow_direct: true,
        ..Default::default()
    };
    let created = retry(
        "opening the stream",
        opts.retry_for.min(Duration::from_secs(30)),
        is_permanent_stream_error,
        || js.get_or_create_stream(config.clone()),
    )
    .await;
    let stream = match created {
        Ok(stream) => stream,
        Err(source) => {
            return Err(NatsError::Stream {
                url,
                stream: opts.stream.clone(),
                replicas: opts.replicas,
                source: Cause(source),
            });
        }
    };
    let subjects = &stream.cached_info().config.subjects;
    if !subjects
        .iter()
        .any(|s| s == ALL_SUBJECTS || s == "iteratr.>" || s == ">")
    {
        return Err(NatsError::ForeignStream {
            url,
            stream: opts.stream.clone(),
            ours: ALL_SUBJECTS,
            subjects: subjects.clone(),
        });
    }
    Ok(Connected {
        url,
        js,
        stream,
        link,
    })
}

pub(super) fn is_permanent_stream_error(e: &CreateStreamError) -> bool {
    use jetstream::context::CreateStreamErrorKind as K;
    match e.kind() {
        K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet => true,
        K::JetStreamUnavailable => false,
        K::JetStream(err) => {
            // 10039: JetStream not enabled for the account; 10074: insufficient resources
            // (replicas > cluster size).
            let code = err.error_code().0;
            code == 10039 || code == 10074 || code == 10023
        }
        _ => false,
    }
}
