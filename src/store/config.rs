//! Which store a command uses: the embedded SQLite log, a NATS server or cluster, or a local
//! nats-server that iteratr runs itself; and how a child `iteratr` is pointed at the same one.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::nats::managed;
use super::nats::{NatsOptions, NatsUrl, NatsUrlError};
use super::{EventLog, NatsLog, OutputSetting, SqliteLog, StoreError};

/// Where sessions are kept: the embedded store, a NATS server or cluster, or a managed local one.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub nats: NatsChoice,
    /// How much of the agent's output each session keeps (default: 24 h and 64 MiB), or `off`:
    /// builds write none.
    pub output_retention: OutputSetting,
}

#[derive(Debug, Clone)]
pub enum NatsChoice {
    Embedded,
    /// A server or cluster somebody runs (its URL is valid: [`NatsOptions::url`] is `Ok`).
    Url(NatsOptions),
    Managed {
        replicas: usize,
    },
}

/// The store settings do not fit together. The messages name the flags and variables that set
/// them.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("--nats-url / ITERATR_NATS_URL")]
    Url(#[source] NatsUrlError),
    #[error("--nats-creds / ITERATR_NATS_CREDS: {} is not a file", .0.display())]
    CredsNotAFile(PathBuf),
    #[error("--nats-creds and --nats-token go with --nats-url")]
    CredentialsWithoutUrl,
}

impl StoreConfig {
    /// The store the settings name: a NATS URL wins over `managed` (the local server); without
    /// either, the embedded store in `data_dir`. `replicas` is the stream's copies when iteratr
    /// creates it; an empty token counts as none.
    pub fn new(
        data_dir: PathBuf,
        nats_url: Option<&str>,
        creds: Option<PathBuf>,
        token: Option<String>,
        replicas: u8,
        managed: bool,
    ) -> Result<Self, ConfigError> {
        let replicas = usize::from(replicas);
        let nats = match nats_url {
            Some(url) => {
                let url = NatsUrl::parse(url).map_err(ConfigError::Url)?;
                if let Some(creds) = &creds
                    && !creds.is_file()
                {
                    return Err(ConfigError::CredsNotAFile(creds.clone()));
                }
                let mut opts = NatsOptions::for_url(url);
                opts.creds = creds;
                opts.token = token.filter(|t| !t.is_empty());
                opts.replicas = replicas;
                NatsChoice::Url(opts)
            }
            None if managed => NatsChoice::Managed { replicas },
            None => {
                if creds.is_some() || token.is_some() {
                    return Err(ConfigError::CredentialsWithoutUrl);
                }
                NatsChoice::Embedded
            }
        };
        Ok(StoreConfig {
            data_dir,
            nats,
            output_retention: OutputSetting::default(),
        })
    }

    /// Arguments that make a child `iteratr` (the stdio MCP server an agent runs) use this store.
    pub fn child_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            std::path::absolute(&self.data_dir)
                .unwrap_or_else(|_| self.data_dir.clone())
                .display()
                .to_string(),
        ];
        if let NatsChoice::Managed { .. } = self.nats {
            args.push("--nats-server".into());
        }
        args
    }

    /// Environment for such a child: the NATS connection, secrets included, stays out of `ps`.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        match &self.nats {
            NatsChoice::Url(o) => {
                if let Ok(url) = o.url() {
                    env.push(("ITERATR_NATS_URL".to_string(), url.as_str().to_string()));
                }
                if let Some(creds) = &o.creds {
                    let creds = std::path::absolute(creds).unwrap_or_else(|_| creds.clone());
                    env.push((
                        "ITERATR_NATS_CREDS".to_string(),
                        creds.display().to_string(),
                    ));
                }
                if let Some(token) = &o.token {
                    env.push(("ITERATR_NATS_TOKEN".to_string(), token.clone()));
                }
                env.push(("ITERATR_NATS_REPLICAS".to_string(), o.replicas.to_string()));
            }
            NatsChoice::Managed { replicas } => {
                env.push(("ITERATR_NATS_REPLICAS".to_string(), replicas.to_string()));
            }
            NatsChoice::Embedded => {}
        }
        env
    }

    /// For people: where the sessions are.
    pub fn describe(&self) -> String {
        match &self.nats {
            NatsChoice::Embedded => self.data_dir.display().to_string(),
            NatsChoice::Url(o) => match o.url() {
                Ok(url) => format!("NATS {url}"),
                Err(_) => "NATS (no valid URL)".to_string(),
            },
            NatsChoice::Managed { .. } => {
                format!("the local nats-server of {}", self.data_dir.display())
            }
        }
    }
}

/// Opens the configured store. With `create` false (commands that only read) it creates
/// nothing: `None` when there is no data yet.
pub async fn open_store(
    cfg: &StoreConfig,
    create: bool,
) -> Result<Option<Arc<dyn EventLog>>, StoreError> {
    match &cfg.nats {
        NatsChoice::Embedded => {
            let opened = if create {
                SqliteLog::open_with(&cfg.data_dir, cfg.output_retention.retention())
            } else {
                SqliteLog::open_existing_with(&cfg.data_dir, cfg.output_retention.retention())
            };
            match opened {
                Ok(log) => Ok(Some(Arc::new(log))),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
        NatsChoice::Url(opts) => {
            let mut opts = opts.clone();
            opts.output_retention = cfg.output_retention.retention();
            Ok(Some(Arc::new(NatsLog::connect(&opts).await?)))
        }
        NatsChoice::Managed { replicas } => {
            let Some(server) = managed::ensure(&cfg.data_dir, create).await? else {
                return Ok(None);
            };
            let mut opts = NatsOptions::for_url(server.url.clone());
            opts.replicas = *replicas;
            opts.output_retention = cfg.output_retention.retention();
            let log = NatsLog::connect_keeping(&opts, Some(Box::new(server))).await?;
            Ok(Some(Arc::new(log)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        url: Option<&str>,
        creds: Option<PathBuf>,
        token: Option<&str>,
        managed: bool,
    ) -> Result<StoreConfig, ConfigError> {
        StoreConfig::new(
            ".iteratr".into(),
            url,
            creds,
            token.map(String::from),
            3,
            managed,
        )
    }

    #[test]
    fn the_settings_choose_the_store() {
        assert!(matches!(
            config(None, None, None, false).unwrap().nats,
            NatsChoice::Embedded
        ));
        assert!(matches!(
            config(None, None, None, true).unwrap().nats,
            NatsChoice::Managed { replicas: 3 }
        ));
        let cfg = config(Some("nats://u:secret@h:4222"), None, Some(""), true).unwrap();
        let NatsChoice::Url(opts) = &cfg.nats else {
            panic!("{cfg:?}")
        };
        assert_eq!(opts.replicas, 3);
        assert_eq!(opts.token, None, "an empty token is none");
        assert_eq!(cfg.describe(), "NATS nats://***@h:4222");
        assert!(!format!("{cfg:?}").contains("secret"));
        assert!(
            cfg.child_env()
                .contains(&("ITERATR_NATS_URL".into(), "nats://u:secret@h:4222".into())),
            "the child gets the whole URL"
        );
    }

    #[test]
    fn bad_settings_say_which_flag() {
        let e = config(Some("nats://a b"), None, None, false).unwrap_err();
        assert_eq!(e.to_string(), "--nats-url / ITERATR_NATS_URL");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(cause.contains("'nats://a b' is not a NATS URL"), "{cause}");
        let e = config(Some("nats://h"), Some("/no/such.creds".into()), None, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--nats-creds / ITERATR_NATS_CREDS: /no/such.creds is not a file"
        );
        let e = config(None, None, Some("t"), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--nats-creds and --nats-token go with --nats-url"
        );
    }
}
