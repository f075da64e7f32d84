//! The chaos run (`tests/it/chaos.rs` runs one seeded round in the suite, `./chaos.sh` as many
//! as fit in `--duration`): a 3-node JetStream cluster (the session stream with 3 replicas), a
//! bare git remote, `build --workers 2 --remote origin` in one clone and an `iteratr worker
//! --remote origin` in each of two more clones, the fake agent doing real work (each task adds a
//! line to its chain's file, so a task builds on the file the tasks it depends on wrote). After
//! planning, a driver injects faults at seeded random times (see `faults.rs`) until the session is
//! complete; then the checker (`checker.rs`) reads the history and proves the invariants. A
//! violation fails the run with the events that break it and the seed to replay.

pub mod checker;
pub mod faults;
pub mod supervised;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iteratr::session::EventKind;
use iteratr::store::{NatsLog, NatsOptions, StoredEvent, read_all};
use serde_json::json;

use super::fake_agent::script::{Action, Script, Turn};
use super::nats::Cluster;
use super::project::{
    Project, bare_remote, build_command, git, second_clone, summary, team_project, tool,
};
use super::reliability::Rng;
use checker::{Checker, Planned, Seen};
use faults::Counts;
use supervised::Supervised;

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Rounds are run until this much time has passed (zero: one round).
    pub duration: Duration,
    pub chains: usize,
    pub chain_len: usize,
    pub claim_ttl: Duration,
    /// Milliseconds between two faults: at least, at most.
    pub gap_ms: (u64, u64),
    /// How long a round may take before it counts as stuck.
    pub round_limit: Duration,
}

impl Config {
    /// The suite's run, with `ITERATR_CHAOS_SEED` and `ITERATR_CHAOS_DURATION` (`30m`) when set.
    pub fn from_env(default_seed: u64) -> Config {
        let seed = std::env::var("ITERATR_CHAOS_SEED")
            .ok()
            .map(|s| s.parse().expect("ITERATR_CHAOS_SEED is a number"))
            .unwrap_or(default_seed);
        let duration = std::env::var("ITERATR_CHAOS_DURATION")
            .ok()
            .map(|s| humantime::parse_duration(&s).expect("ITERATR_CHAOS_DURATION: say 30m"))
            .unwrap_or_default();
        Config {
            seed,
            duration,
            chains: 6,
            chain_len: 4,
            claim_ttl: Duration::from_secs(3),
            gap_ms: (500, 3000),
            round_limit: Duration::from_secs(240),
        }
    }

    /// The tasks: `chains` chains of `chain_len` tasks, interleaved in the spec, each task after
    /// the first of its chain depending on the one before.
    pub fn plan(&self) -> Vec<Planned> {
        let mut out = Vec::new();
        for k in 0..self.chain_len {
            for c in 0..self.chains {
                let id = (k * self.chains + c + 1) as u64;
                out.push(Planned {
                    id,
                    file: format!("chain-{c}.txt"),
                    line: format!("{c}-{k}"),
                    depends_on: if k == 0 {
                        Vec::new()
                    } else {
                        vec![id - self.chains as u64]
                    },
                });
            }
        }
        out
    }
}

/// Everything a round runs. Fields drop in order: the processes before the cluster.
pub struct Scene {
    pub build: Supervised,
    pub workers: Vec<Supervised>,
    pub cluster: Cluster,
    pub clones: Vec<Project>,
    pub bare: PathBuf,
    _remote: tempfile::TempDir,
    pub rng: Rng,
    pub claim_ttl: Duration,
    pub runtime: tokio::runtime::Runtime,
}

/// What a round saw, for the figures.
#[derive(Debug, Default)]
pub struct Round {
    pub faults: Counts,
    pub seen: Seen,
    pub restarts_after_failure: usize,
    pub zombie_refusals: usize,
    pub secs: u64,
    pub tasks: usize,
}

/// How long the fake agents take over a task (each agent its own, seeded).
fn agent_sleep(rng: &mut Rng) -> u64 {
    rng.range(200, 1200)
}

impl Scene {
    fn new(cfg: &Config, seed: u64, planned: &[Planned]) -> Scene {
        let mut rng = Rng::new(seed);
        let cluster = Cluster::start();
        let url = cluster.url();
        let (remote, bare) = bare_remote();
        let tasks: Vec<String> = planned
            .iter()
            .map(|t| format!("append {}: {}", t.file, t.line))
            .collect();
        let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
        let mut planning: Vec<Action> = planned
            .iter()
            .flat_map(|t| {
                t.depends_on.iter().map(move |d| {
                    tool(
                        "task-depends",
                        json!({"id": format!("TAS-{}", t.id), "depends_on": format!("TAS-{d}")}),
                    )
                })
            })
            .collect();
        planning.push(summary("Planned the chains"));
        let a = team_project(&tasks, planning, agent_sleep(&mut rng));
        let remote_path = bare.display().to_string();
        git(a.path(), &["remote", "add", "origin", &remote_path]);
        git(a.path(), &["push", "--quiet", "origin", "main"]);
        let mut clones = vec![a];
        for _ in 0..2 {
            let work = Turn::of([Action::work(agent_sleep(&mut rng))]);
            clones.push(second_clone(&bare, Script::turns([]).repeat(work)));
        }
        let clones: Vec<Project> = clones
            .into_iter()
            .map(|p| {
                p.with_env("ITERATR_NATS_URL", &url)
                    .with_env("ITERATR_NATS_REPLICAS", "3")
            })
            .collect();
        let ttl = format!("{}ms", cfg.claim_ttl.as_millis());
        let build_cmd = {
            let args: Vec<String> = ["--headless", "--workers", "2", "--remote", "origin"]
                .iter()
                .map(|s| s.to_string())
                .chain(["--claim-ttl".into(), ttl.clone()])
                .collect();
            let (dir, env) = (clones[0].path().to_path_buf(), clones[0].env.clone());
            move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                build_command(&dir, &env, "build", &args)
            }
        };
        // The processes' output, kept in target/ when the round fails.
        let outputs = output_dir(seed);
        let _ = std::fs::remove_dir_all(&outputs);
        std::fs::create_dir_all(&outputs).unwrap();
        let output = |name: &str| outputs.join(format!("{name}.out"));
        let build = Supervised::new("build", output("build"), build_cmd);
        let workers = (1..=2)
            .map(|i| {
                let (dir, env) = (clones[i].path().to_path_buf(), clones[i].env.clone());
                let ttl = ttl.clone();
                let name = format!("worker-{}", ["a", "b", "c"][i]);
                Supervised::new(&name, output(&name), move || {
                    build_command(
                        &dir,
                        &env,
                        "worker",
                        &[
                            "--headless",
                            "-n",
                            "demo",
                            "--remote",
                            "origin",
                            "--claim-ttl",
                            &ttl,
                        ],
                    )
                })
            })
            .collect();
        Scene {
            build,
            workers,
            cluster,
            clones,
            bare,
            _remote: remote,
            rng,
            claim_ttl: cfg.claim_ttl,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn observer(&self) -> NatsLog {
        let mut opts = NatsOptions::new(self.cluster.url());
        opts.replicas = 3;
        self.runtime.block_on(NatsLog::connect(&opts)).unwrap()
    }

    /// The session's events now (empty while the stream or the session does not exist yet).
    fn events(&self, log: &NatsLog) -> Vec<StoredEvent> {
        self.runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(20), read_all(log, "demo", 0)).await
            })
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Restarts, a second after, what ended without success (as a supervisor would); returns
    /// how many it restarted.
    fn supervise(&mut self) -> usize {
        let mut restarted = 0;
        for p in std::iter::once(&mut self.build).chain(self.workers.iter_mut()) {
            let a_while = p
                .ended_at
                .is_some_and(|t| t.elapsed() > Duration::from_secs(1));
            if !p.alive() && !p.done && a_while {
                p.start();
                restarted += 1;
            }
        }
        restarted
    }

    fn tails(&self) -> String {
        std::iter::once(&self.build)
            .chain(&self.workers)
            .map(|p| {
                format!(
                    "--- {} (started {} times):\n{}",
                    p.name,
                    p.starts,
                    p.tail(30)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// For a failed round: the remote's history (each commit's message and lines) and each clone's
/// branches, worktrees and stash, next to the processes' output.
fn keep_git_state(bare: &Path, clones: &[&Path], out: &Path) {
    // Never a panic here: the violations are what the round reports.
    let git = |dir: &Path, args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).into_owned())
            .unwrap_or_else(|e| e.to_string())
    };
    let mut text = git(
        bare,
        &[
            "log",
            "--reverse",
            "--format=commit %H%n%B",
            "-p",
            "--unified=0",
            "main",
        ],
    );
    for (i, clone) in clones.iter().enumerate() {
        text.push_str(&format!("\n=== clone {i}: {}\n", clone.display()));
        for args in [
            &["branch", "-a", "-v"][..],
            &["worktree", "list"],
            &["stash", "list"],
            &["log", "--all", "--oneline", "--graph", "-n", "60"],
        ] {
            text.push_str(&format!(
                "--- git {}\n{}\n",
                args.join(" "),
                git(clone, args)
            ));
        }
        let worktrees = clone.join(".iteratr/worktrees/demo");
        for dir in std::fs::read_dir(&worktrees)
            .into_iter()
            .flatten()
            .flatten()
        {
            let args = ["status", "--porcelain", "--untracked-files=all"];
            let status = git(&dir.path(), &args);
            let dir = dir.path().display().to_string();
            text.push_str(&format!("--- {dir}: git status\n{status}\n"));
        }
    }
    let _ = std::fs::write(out.join("git.txt"), text);
}

/// Where a round's processes write their output: kept when the round fails.
fn output_dir(seed: u64) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{seed}"))
}

/// Runs one round with `seed`; panics with the violations (and how to replay) when the history
/// breaks an invariant.
pub fn round(cfg: &Config, seed: u64) -> Round {
    let started = Instant::now();
    let planned = cfg.plan();
    let mut scene = Scene::new(cfg, seed, &planned);
    let replay = format!(
        "replay: ITERATR_CHAOS_SEED={seed} ./test.sh --test it -- --exact --nocapture chaos::a_seeded_chaos_run_keeps_every_invariant"
    );
    let mut result = Round {
        tasks: planned.len(),
        ..Round::default()
    };
    scene.build.start();
    for w in &mut scene.workers {
        w.start();
    }
    let observer = scene.observer();
    // Faults begin once planning is over and a first task is claimed.
    super::wait_until(
        super::PATIENCE,
        || format!("no task was ever claimed:\n{}", scene.tails()),
        || {
            scene
                .events(&observer)
                .iter()
                .any(|e| matches!(e.event.kind, EventKind::TaskClaimed { .. }))
        },
    );
    let mut lines = Vec::new();
    let mut next_fault = Instant::now();
    let mut order = faults::ALL.to_vec();
    scene.rng.shuffle(&mut order);
    loop {
        result.restarts_after_failure += scene.supervise();
        if scene.build.done {
            break;
        }
        if started.elapsed() > cfg.round_limit {
            let events = scene.events(&observer);
            let stories: String = planned
                .iter()
                .filter(|t| {
                    !events.iter().any(|e| {
                        matches!(e.event.kind, EventKind::TaskIntegrated { task, .. } if task == t.id)
                    })
                })
                .map(|t| format!("  TAS-{}:\n{}", t.id, Checker::story(&events, t.id)))
                .collect();
            panic!(
                "chaos round (seed {seed}) not complete after {:?}; the tasks not integrated:\n{stories}faults: {lines:#?}\n{}\nthe processes' output: {}\n{replay}",
                cfg.round_limit,
                scene.tails(),
                output_dir(seed).display()
            );
        }
        if Instant::now() >= next_fault {
            // Every kind once first, in a seeded order, then at random.
            let fault = match order.pop() {
                Some(f) => f,
                None => faults::ALL[scene.rng.range(0, faults::ALL.len() as u64 - 1) as usize],
            };
            let line = scene.inject(fault);
            println!(
                "CHAOS: seed {seed}, {:.1} s: {line}",
                started.elapsed().as_secs_f64()
            );
            *result.faults.entry(fault).or_default() += 1;
            lines.push(line);
            // Until every kind has been injected, one follows another quickly (a round can be
            // short on a fast machine).
            let gap = if order.is_empty() {
                scene.rng.range(cfg.gap_ms.0, cfg.gap_ms.1)
            } else {
                scene.rng.range(100, 500)
            };
            next_fault = Instant::now() + Duration::from_millis(gap);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 0..scene.workers.len() {
        let ended = scene.workers[i].wait_end(super::PATIENCE) && scene.workers[i].done;
        assert!(
            ended,
            "{} did not end with success after the session completed:\n{}\n{replay}",
            scene.workers[i].name,
            scene.tails()
        );
    }
    let events = scene.events(&observer);
    drop(observer);
    let dump: String = events
        .iter()
        .map(|e| {
            format!(
                "{} {}\n",
                e.seq,
                serde_json::to_string(&e.event).unwrap_or_default()
            )
        })
        .collect();
    std::fs::write(output_dir(seed).join("events.jsonl"), dump).unwrap();
    let mut checker = Checker::default();
    checker.log(&events, &planned);
    let (acked, agents, refusals) = agents_told(&scene.clones);
    result.zombie_refusals = refusals;
    checker.acknowledged(&events, &acked);
    checker.branch(&scene.bare, "main", &planned, &events);
    let clones: Vec<&Path> = scene.clones.iter().map(Project::path).collect();
    let servers: Vec<u32> = scene.cluster.nodes.iter().map(|n| n.pid()).collect();
    checker.leftovers(&clones, &agents, &[]);
    // The processes have ended; the cluster stops now, and none of its servers may stay.
    drop(scene.build);
    drop(scene.workers);
    drop(scene.cluster);
    checker.leftovers(&[], &[], &servers);
    result.seen = checker.seen.clone();
    result.secs = started.elapsed().as_secs();
    if !checker.violations.is_empty() {
        keep_git_state(&scene.bare, &clones, &output_dir(seed));
    }
    assert!(
        checker.violations.is_empty(),
        "chaos round (seed {seed}) broke {} invariant(s):\n{}\nfaults injected:\n{}\nthe processes' output: {}\n{replay}",
        checker.violations.len(),
        checker.report(&events),
        lines.join("\n"),
        output_dir(seed).display()
    );
    let _ = std::fs::remove_dir_all(output_dir(seed));
    result
}

/// What the agents of the clones were told: per agent process, the task status changes that
/// succeeded, in order; every agent pid; and how many status changes were refused because the
/// task was not (or no longer) the worker's.
fn agents_told(clones: &[Project]) -> (checker::Acked, Vec<u32>, usize) {
    use super::fake_agent::log::{Event, Record};
    let mut acked = checker::Acked::new();
    let mut pids = Vec::new();
    let mut refused = 0;
    for p in clones {
        let log: Vec<Record> = p.agent_log();
        for r in &log {
            match &r.event {
                Event::Start(_) => pids.push(r.pid),
                Event::Tool(t) if t.name == "task-status" => {
                    if t.is_error {
                        if t.text.contains("not your task") || t.text.contains("is held by") {
                            refused += 1;
                        }
                        continue;
                    }
                    let id = t.args["id"].as_str().unwrap_or_default();
                    let n = id.trim_start_matches("TAS-").parse().unwrap_or(0);
                    let status = t.args["status"].as_str().unwrap_or_default().to_string();
                    acked.entry(r.pid).or_default().push((n, status));
                }
                _ => {}
            }
        }
        pids.extend(
            super::fake_agent::processes(&log)
                .into_iter()
                .map(|(p, _)| p),
        );
    }
    pids.sort();
    pids.dedup();
    (acked, pids, refused)
}

/// Runs rounds until `cfg.duration` has passed (one round when it is zero), each with a seed
/// drawn from `cfg.seed`, and prints the figures (`RELIABILITY: chaos ...` lines).
pub fn run(cfg: &Config) -> Vec<Round> {
    let started = Instant::now();
    let mut seeds = Rng::new(cfg.seed);
    let mut rounds = Vec::new();
    loop {
        let seed = if rounds.is_empty() {
            cfg.seed
        } else {
            seeds.next()
        };
        let r = round(cfg, seed);
        super::reliability::report(format!(
            "chaos round {} (seed {seed}): {} tasks integrated once each in {} s; faults {}; claims {}, expiries {}, redone completions {}, releases {}, zombie writes refused {}, acknowledged changes {} all in the log, restarts after a failed exit {}",
            rounds.len() + 1,
            r.tasks,
            r.secs,
            fault_list(&r.faults),
            r.seen.claims,
            r.seen.expiries,
            r.seen.redone,
            r.seen.released,
            r.zombie_refusals,
            r.seen.acked,
            r.restarts_after_failure,
        ));
        rounds.push(r);
        if started.elapsed() >= cfg.duration {
            break;
        }
    }
    let mut all: Counts = BTreeMap::new();
    for r in &rounds {
        for (f, n) in &r.faults {
            *all.entry(*f).or_default() += n;
        }
    }
    let sum = |f: fn(&Round) -> usize| rounds.iter().map(f).sum::<usize>();
    super::reliability::report(format!(
        "chaos seed {} ({} s): {} rounds passed every check; faults {} ({} in all); tasks {}; claims {}, expiries {}, redone completions {}, zombie writes refused {}, acknowledged changes {} all kept, restarts after a failed exit {}",
        cfg.seed,
        started.elapsed().as_secs(),
        rounds.len(),
        fault_list(&all),
        all.values().sum::<usize>(),
        sum(|r| r.tasks),
        sum(|r| r.seen.claims),
        sum(|r| r.seen.expiries),
        sum(|r| r.seen.redone),
        sum(|r| r.zombie_refusals),
        sum(|r| r.seen.acked),
        sum(|r| r.restarts_after_failure),
    ));
    rounds
}

fn fault_list(c: &Counts) -> String {
    faults::ALL
        .iter()
        .map(|f| format!("{f:?} {}", c.get(f).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}
