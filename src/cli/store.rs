//! Which store holds the sessions: the embedded SQLite log, a NATS server or cluster, or a local
//! nats-server iteratr runs itself.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;

use super::Cli;
use crate::store::{EventLog, SqliteLog, StoreError};

/// Where sessions are kept: the embedded store, a NATS server or cluster, or a managed local one.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub nats: NatsChoice,
}

#[derive(Debug, Clone)]
pub enum NatsChoice {
    Embedded,
    Url(crate::store::NatsOptions),
    Managed { replicas: usize },
}

impl StoreConfig {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let nats = match (&cli.nats_url, cli.nats_server) {
            (Some(url), _) => {
                crate::store::nats::parse_urls(url)
                    .map_err(|e| anyhow::anyhow!("--nats-url / ITERATR_NATS_URL: {e}"))?;
                if let Some(creds) = &cli.nats_creds
                    && !creds.is_file()
                {
                    bail!(
                        "--nats-creds / ITERATR_NATS_CREDS: {} is not a file",
                        creds.display()
                    );
                }
                let mut opts = crate::store::NatsOptions::new(url.clone());
                opts.creds = cli.nats_creds.clone();
                opts.token = cli.nats_token.clone().filter(|t| !t.is_empty());
                opts.replicas = usize::from(cli.nats_replicas);
                NatsChoice::Url(opts)
            }
            (None, true) => NatsChoice::Managed {
                replicas: usize::from(cli.nats_replicas),
            },
            (None, false) => {
                if cli.nats_creds.is_some() || cli.nats_token.is_some() {
                    bail!("--nats-creds and --nats-token go with --nats-url");
                }
                NatsChoice::Embedded
            }
        };
        Ok(StoreConfig {
            data_dir: cli.data_dir.clone(),
            nats,
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
                env.push(("ITERATR_NATS_URL".to_string(), o.url.clone()));
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
            NatsChoice::Url(o) => format!("NATS {}", crate::store::nats::redact(&o.url)),
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
) -> anyhow::Result<Option<Arc<dyn EventLog>>> {
    match &cfg.nats {
        NatsChoice::Embedded => {
            let opened = if create {
                SqliteLog::open(&cfg.data_dir)
            } else {
                SqliteLog::open_existing(&cfg.data_dir)
            };
            match opened {
                Ok(log) => Ok(Some(Arc::new(log))),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        NatsChoice::Url(opts) => Ok(Some(Arc::new(crate::store::NatsLog::connect(opts).await?))),
        NatsChoice::Managed { replicas } => {
            let Some(server) = crate::store::managed::ensure(&cfg.data_dir, create).await? else {
                return Ok(None);
            };
            let mut opts = crate::store::NatsOptions::new(server.url.clone());
            opts.replicas = *replicas;
            let log = crate::store::NatsLog::connect_keeping(&opts, Some(Box::new(server))).await?;
            Ok(Some(Arc::new(log)))
        }
    }
}
