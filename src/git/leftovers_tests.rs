//! What a worker puts aside before it takes a task: its worktree is clean afterwards, untracked
//! files included, and nothing is lost (it is all in git's stash).

use std::path::Path;

use super::{Repo, git};

async fn repository(dir: &Path) -> Repo {
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["config", "user.name", "iteratr test"],
        &["config", "user.email", "test@example.com"],
    ] {
        git(dir, args, None).await.unwrap();
    }
    std::fs::write(dir.join("chain-0.txt"), "0-0\n").unwrap();
    git(dir, &["add", "chain-0.txt"], None).await.unwrap();
    git(dir, &["commit", "--quiet", "-m", "first"], None)
        .await
        .unwrap();
    Repo::at(dir.to_path_buf())
}

#[tokio::test]
async fn leftovers_go_to_the_stash_untracked_files_too_and_the_worktree_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path()).await;
    std::fs::write(dir.path().join("chain-0.txt"), "0-0\n0-1\n").unwrap();
    std::fs::create_dir(dir.path().join("new")).unwrap();
    std::fs::write(dir.path().join("new/chain-5.txt"), "5-2\n").unwrap();
    std::fs::write(dir.path().join("chain-3.txt"), "3-0\n").unwrap();

    assert!(repo.stash_leftovers("left by a killed run").await.unwrap());

    assert_eq!(repo.uncommitted().await.unwrap(), Vec::<String>::new());
    assert!(!dir.path().join("chain-3.txt").exists());
    assert!(!dir.path().join("new/chain-5.txt").exists());
    let kept = git(
        dir.path(),
        &["stash", "show", "--include-untracked", "--name-only"],
        None,
    )
    .await
    .unwrap();
    let mut kept: Vec<&str> = kept.lines().collect();
    kept.sort_unstable();
    assert_eq!(kept, ["chain-0.txt", "chain-3.txt", "new/chain-5.txt"]);
    // Nothing left to put aside: said so, and no empty stash.
    assert!(!repo.stash_leftovers("again").await.unwrap());
}
