//! `iteratr stop`, `iteratr message`, `iteratr approve` and `iteratr deny`: from any terminal (or
//! machine, on JetStream), ask the build that runs a session to stop (after its iteration, or
//! `--now`), tell its agent something, or answer its agent's permission request `P-n`. All are
//! events in the session's log, recorded with who asked; the build, every `watch` and `status`
//! see them.

use std::process::ExitCode;

use super::pause::open_picked;
use crate::session::{Author, Command, PermissionDecision, permission_id};
use crate::store::StoreConfig;

pub async fn stop(
    store: &StoreConfig,
    session: Option<&str>,
    now: bool,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::RequestStop {
        now,
        who: crate::process::who(),
    };
    let done = handle
        .execute(&cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {name}: {e}"))?;
    let message = match (done.events.is_empty(), now) {
        (true, _) => format!("session {name}: its build was already asked to stop"),
        (false, false) => {
            format!("session {name}: stop requested; its build stops after the iteration that runs")
        }
        (false, true) => {
            format!("session {name}: stop requested; its build stops the turn now")
        }
    };
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}

pub async fn message(
    store: &StoreConfig,
    session: Option<&str>,
    text: &str,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::UserMessage {
        text: text.into(),
        who: crate::process::who(),
    };
    handle
        .execute(&cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {name}: {e}"))?;
    println!(
        "session {name}: message recorded; the agent gets it when its turn ends (or in the next iteration)"
    );
    Ok(ExitCode::SUCCESS)
}

/// `P-3`, `p3` or `3`: the request's number.
fn request_number(id: &str) -> anyhow::Result<u64> {
    let digits = id
        .trim()
        .trim_start_matches(['P', 'p'])
        .trim_start_matches('-');
    digits.parse().map_err(|_| {
        anyhow::anyhow!(
            "'{id}' is not a permission request; they look like P-3 (`iteratr status` lists those that wait)"
        )
    })
}

pub async fn answer(
    store: &StoreConfig,
    session: Option<&str>,
    id: &str,
    decision: PermissionDecision,
) -> anyhow::Result<ExitCode> {
    let request = request_number(id)?;
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::AnswerPermission {
        request,
        decision,
        who: crate::process::who(),
    };
    handle
        .execute(&cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {name}: {e}"))?;
    println!(
        "session {name}: {} {}",
        permission_id(request),
        decision.describe(None)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_read_as_people_write_them() {
        for id in ["P-3", "p-3", "P3", " 3 "] {
            assert_eq!(super::request_number(id).unwrap(), 3, "{id}");
        }
        let e = super::request_number("TAS-3").unwrap_err().to_string();
        assert!(e.contains("look like P-3"), "{e}");
    }
}
