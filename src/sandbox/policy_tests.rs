use std::path::{Path, PathBuf};

use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

/// A build of /home/ana/p with its data dir and `.git` inside, as a person runs it.
fn single() -> Places {
    Places {
        project: p("/home/ana/p"),
        protected: vec![p("/home/ana/p/.iteratr"), p("/home/ana/p/.git")],
        readable: Vec::new(),
        agent_state: vec![p("/home/ana/.local/share/opencode")],
        home: Some(p("/home/ana")),
        runtime_dir: Some(p("/run/user/1000")),
        sockets: vec![p("/home/ana/.ssh/agent.sock"), p("/var/run/agent.sock")],
        set_env: Vec::new(),
    }
}

/// Every path exists, where it is said to be.
fn everything(p: &Path) -> Option<PathBuf> {
    Some(p.to_path_buf())
}

#[test]
fn the_project_is_writable_but_not_its_git_and_data_dir() {
    let mounts = Policy::default().plan(&single(), &everything);
    let at = |m: &Mount| mounts.iter().position(|x| x == m).unwrap();
    let project = at(&Mount::Writable(p("/home/ana/p")));
    assert!(at(&Mount::ReadOnly(p("/home/ana/p/.git"))) > project);
    assert!(at(&Mount::ReadOnly(p("/home/ana/p/.iteratr"))) > project);
    // The home is emptied first, then what shows through it.
    let home = at(&Mount::Empty {
        path: p("/home/ana"),
        writable: false,
    });
    assert!(home < project);
    assert!(home < at(&Mount::ReadOnly(p("/home/ana/.rustup"))));
    assert!(home < at(&Mount::Writable(p("/home/ana/.local/share/opencode"))));
    assert_eq!(
        mounts[0],
        Mount::Empty {
            path: p("/tmp"),
            writable: true
        }
    );
    assert!(mounts.contains(&Mount::Empty {
        path: p("/run/user/1000"),
        writable: false
    }));
    // A socket outside the hidden places is masked; one inside needs nothing more.
    assert!(mounts.contains(&Mount::Masked(p("/var/run/agent.sock"))));
    assert!(!mounts.contains(&Mount::Masked(p("/home/ana/.ssh/agent.sock"))));
    // No secret of the home is mounted.
    assert!(
        !mounts
            .iter()
            .any(|m| m.path().starts_with("/home/ana/.ssh"))
    );
}

#[test]
fn a_workers_worktree_in_the_data_dir_is_writable_and_nothing_else_there() {
    let places = Places {
        project: p("/home/ana/p/.iteratr/worktrees/demo/w1"),
        protected: vec![
            p("/home/ana/p/.iteratr"),
            p("/home/ana/p/.iteratr/worktrees/demo/w1/.git"),
            p("/home/ana/p/.git"),
            p("/home/ana/p/.git/worktrees/w1"),
        ],
        ..single()
    };
    let policy = Policy {
        // Asking to write into another worktree or the repository does not make it writable.
        writable: vec![
            p("/home/ana/p/.iteratr/worktrees/demo/w2"),
            p("/home/ana/p/.git/hooks"),
        ],
        ..Policy::default()
    };
    let mounts = policy.plan(&places, &everything);
    let writable: Vec<&Path> = mounts
        .iter()
        .filter(|m| matches!(m, Mount::Writable(_)))
        .map(Mount::path)
        .collect();
    assert_eq!(
        writable,
        [
            Path::new("/home/ana/.local/share/opencode"),
            Path::new("/home/ana/p/.iteratr/worktrees/demo/w1")
        ]
    );
    let at = |m: &Mount| mounts.iter().position(|x| x == m).unwrap();
    let tree = at(&Mount::Writable(places.project.clone()));
    assert!(at(&Mount::ReadOnly(p("/home/ana/p/.iteratr"))) < tree);
    assert!(
        at(&Mount::ReadOnly(p(
            "/home/ana/p/.iteratr/worktrees/demo/w1/.git"
        ))) > tree
    );
    // The main project is not writable: under the emptied home, only its git directory shows.
    assert!(!mounts.contains(&Mount::Writable(p("/home/ana/p"))));
    assert!(mounts.contains(&Mount::ReadOnly(p("/home/ana/p/.git"))));
}

#[test]
fn the_persons_paths_are_added_and_missing_ones_left_out() {
    let policy = Policy {
        writable: vec![p("/home/ana/.npm"), p("/opt/missing")],
        readable: vec![p("/home/ana/.config/tool")],
        ..Policy::default()
    };
    let mounts = policy.plan(&single(), &|path| {
        (!path.starts_with("/opt")).then(|| path.to_path_buf())
    });
    assert!(mounts.contains(&Mount::Writable(p("/home/ana/.npm"))));
    assert!(mounts.contains(&Mount::ReadOnly(p("/home/ana/.config/tool"))));
    assert!(!mounts.iter().any(|m| m.path().starts_with("/opt")));
    // Every mount comes after the mounts of its parents.
    for (i, m) in mounts.iter().enumerate() {
        for later in &mounts[i + 1..] {
            assert!(
                !m.path().starts_with(later.path()) || m.path() == later.path(),
                "{m:?} before its parent {later:?}"
            );
        }
    }
}

#[test]
fn credentials_leave_the_environment_and_provider_keys_stay() {
    let policy = Policy::default();
    for gone in [
        "SSH_AUTH_SOCK",
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "CARGO_REGISTRIES_MINE_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ] {
        assert!(policy.drops_env(gone), "{gone}");
    }
    for kept in [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "PATH",
        "HOME",
        "CARGO_REGISTRIES_MINE_INDEX",
    ] {
        assert!(!policy.drops_env(kept), "{kept}");
    }
    let policy = Policy {
        env_allow: vec!["AWS_REGION".into(), "AWS_BEARER_*".into()],
        env_deny: vec!["MY_*_SECRET".into()],
        ..Policy::default()
    };
    assert!(!policy.drops_env("AWS_REGION"));
    assert!(!policy.drops_env("AWS_BEARER_TOKEN_BEDROCK"));
    assert!(policy.drops_env("AWS_SECRET_ACCESS_KEY"));
    assert!(policy.drops_env("MY_DB_SECRET"));
    assert!(!policy.drops_env("MY_DB"));
}

#[test]
fn env_patterns() {
    assert!(env_matches("A*", "A"));
    assert!(env_matches("*", "ANY"));
    assert!(env_matches("A*B*C", "AxxBxxC"));
    assert!(!env_matches("A*B*C", "AxxC"));
    assert!(!env_matches("AB", "ABC"));
    assert!(!env_matches("*_TOKEN", "TOKEN"));
    assert!(check_env_pattern("AWS_*").is_ok());
    assert!(check_env_pattern("").is_err());
    assert!(check_env_pattern("A=B").unwrap_err().contains("'='"));
}

#[test]
fn links_are_mounted_where_they_lead_and_made_again_in_the_hidden_home() {
    // ~/.cargo/bin is a link to /opt/cargo/bin; the project sits under a linked directory.
    let resolve = |path: &Path| {
        Some(
            if let Ok(rest) = path.strip_prefix("/home/ana/.cargo/bin") {
                Path::new("/opt/cargo/bin").join(rest)
            } else {
                path.to_path_buf()
            },
        )
    };
    let mounts = Policy::default().plan(&single(), &resolve);
    assert!(mounts.contains(&Mount::ReadOnly(p("/opt/cargo/bin"))));
    assert!(mounts.contains(&Mount::Link {
        path: p("/home/ana/.cargo/bin"),
        target: p("/opt/cargo/bin")
    }));
    assert!(!mounts.contains(&Mount::ReadOnly(p("/home/ana/.cargo/bin"))));
    // A link outside the hidden places is there already: only its target is mounted.
    let places = Places {
        readable: vec![p("/work/target/agents/bin")],
        ..single()
    };
    let resolve = |path: &Path| {
        Some(match path.strip_prefix("/work/target/agents") {
            Ok(rest) => Path::new("/srv/agents").join(rest),
            Err(_) => path.to_path_buf(),
        })
    };
    let mounts = Policy::default().plan(&places, &resolve);
    assert!(mounts.contains(&Mount::ReadOnly(p("/srv/agents/bin"))));
    assert!(
        !mounts.iter().any(|m| m.path().starts_with("/work")),
        "{mounts:?}"
    );
}
