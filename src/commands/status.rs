//! `iteratr status`: a session's tasks, notes and iterations, or the list of sessions.

use std::process::ExitCode;

use anyhow::{Context, bail};

use super::{Picked, open_for_reading, pick_session};
use crate::session::SessionName;
use crate::session_handle::SessionHandle;
use crate::status;
use crate::store::StoreConfig;

pub async fn run(
    store: &StoreConfig,
    session: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = store.describe();
    tracing::info!(data_dir = %dir, session = ?session, "status");
    // A bad name is refused before anything is opened.
    if let Some(name) = session {
        SessionName::parse(name)?;
    }
    let Some(log) = open_for_reading(store).await? else {
        if let Some(name) = session {
            bail!(
                "there is no session '{name}': {dir} holds no iteratr data yet (set --data-dir or ITERATR_DATA_DIR if your sessions live elsewhere)"
            );
        }
        if json {
            println!("{}", serde_json::json!({ "data_dir": dir, "sessions": [] }));
        } else {
            println!(
                "No sessions in {dir} yet. A session appears here once iteratr or an agent records something in it."
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let name = match pick_session(log.as_ref(), session, store, true).await? {
        Picked::One(name) => name,
        Picked::None => {
            if json {
                println!("{}", serde_json::json!({ "data_dir": dir, "sessions": [] }));
            } else {
                println!("No sessions in {dir} yet.");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Picked::Several(many) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "data_dir": dir, "sessions": many })
                );
            } else {
                print!("{}", status::render_sessions(&dir, &many));
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let handle = SessionHandle::open(log, &name)
        .await
        .with_context(|| format!("cannot read session '{name}'"))?;
    let state = handle.refresh().await?;
    if json {
        println!("{}", status::session_json(&name, &state));
    } else {
        print!("{}", status::render_session(&name, &state));
    }
    Ok(ExitCode::SUCCESS)
}
