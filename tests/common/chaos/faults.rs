//! The faults a chaos run injects, chosen by its seeded generator: each is done and undone
//! (restart, wake, reconnect) before the next, with seeded pauses.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Scene;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL of an `iteratr worker` process, restarted after a pause with the same command.
    KillWorker,
    /// SIGKILL of the `build --workers 2`, restarted after a pause with the same command.
    KillBuild,
    /// SIGKILL of a nats-server node, restarted after a pause on the same store.
    KillNatsNode,
    /// The same, of the node leading the session stream.
    KillNatsLeader,
    /// SIGSTOP of a worker's process group past its claims' time to live, then SIGCONT.
    Zombie,
    /// The bare remote moved away (pushes and fetches fail), then back.
    RemoteAway,
}

pub const ALL: [Fault; 6] = [
    Fault::KillWorker,
    Fault::KillBuild,
    Fault::KillNatsNode,
    Fault::KillNatsLeader,
    Fault::Zombie,
    Fault::RemoteAway,
];

/// Faults injected, by kind.
pub type Counts = BTreeMap<Fault, usize>;

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

impl Scene {
    /// Injects `fault` and undoes it after a seeded pause; returns a line saying what it did.
    pub fn inject(&mut self, fault: Fault) -> String {
        let ttl_ms = self.claim_ttl.as_millis() as u64;
        match fault {
            Fault::KillWorker => {
                let i = self.rng.range(0, self.workers.len() as u64 - 1) as usize;
                let pause = self.rng.range(200, 3000);
                let w = &mut self.workers[i];
                if !w.alive() {
                    return format!("{} not running", w.name);
                }
                w.kill();
                sleep_ms(pause);
                w.start();
                format!("killed {}, restarted after {pause} ms", w.name)
            }
            Fault::KillBuild => {
                let pause = self.rng.range(200, 3000);
                if !self.build.alive() {
                    return "build not running".into();
                }
                self.build.kill();
                sleep_ms(pause);
                self.build.start();
                format!("killed the build, restarted after {pause} ms")
            }
            Fault::KillNatsNode | Fault::KillNatsLeader => {
                let leader = self.stream_leader();
                let i = match (fault, &leader) {
                    (Fault::KillNatsLeader, Ok(l)) => *l,
                    _ => self.rng.range(0, 2) as usize,
                };
                let pause = self.rng.range(300, 4000);
                self.cluster.nodes[i].kill();
                sleep_ms(pause);
                self.cluster.nodes[i].restart();
                let role = match leader {
                    Ok(l) if l == i => " (the leader)".to_string(),
                    Ok(_) => String::new(),
                    Err(e) => format!(" (leader unknown: {e})"),
                };
                format!("killed nats node n{i}{role}, restarted after {pause} ms")
            }
            Fault::Zombie => {
                let i = self.rng.range(0, self.workers.len() as u64 - 1) as usize;
                // Past the claim's expiry, and long enough for another worker to notice.
                let pause = ttl_ms + self.rng.range(1000, 4000);
                let w = &mut self.workers[i];
                if !w.alive() {
                    return format!("{} not running", w.name);
                }
                w.freeze();
                sleep_ms(pause);
                w.thaw();
                format!("froze {} for {pause} ms (claims last {ttl_ms} ms)", w.name)
            }
            Fault::RemoteAway => {
                let pause = self.rng.range(500, 5000);
                let away = self.bare.with_extension("away");
                std::fs::rename(&self.bare, &away).unwrap();
                sleep_ms(pause);
                std::fs::rename(&away, &self.bare).unwrap();
                format!("remote unreachable for {pause} ms")
            }
        }
    }

    /// The node that leads the session stream's replicas now, as the cluster says.
    fn stream_leader(&self) -> Result<usize, String> {
        let url = self.cluster.url();
        let stream = iteratr::store::NatsOptions::new(url.clone()).stream;
        let leader = self.runtime.block_on(async {
            let wait = Duration::from_secs(5);
            let servers: Vec<async_nats::ServerAddr> = url
                .split(',')
                .map(|u| u.parse().map_err(|e| format!("{u}: {e}")))
                .collect::<Result<_, String>>()?;
            let client = tokio::time::timeout(wait, async_nats::connect(servers))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let js = async_nats::jetstream::new(client);
            let mut stream = tokio::time::timeout(wait, js.get_stream(stream))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let info = stream.info().await.map_err(|e| e.to_string())?;
            info.cluster
                .as_ref()
                .and_then(|c| c.leader.clone())
                .ok_or_else(|| "the stream has no leader".to_string())
        })?;
        leader
            .strip_prefix('n')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("leader {leader} is not a node of the cluster"))
    }
}
