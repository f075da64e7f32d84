//! What iteratr answers when the agent asks: permission for a tool call (approved unless it matches a
//! `--deny-tools` pattern) and file reads and writes (served only inside the project directory).

use std::path::{Path, PathBuf};

/// Case-insensitive glob (`*` any run of characters, `?` one character).
#[derive(Debug, Clone)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(p: &str) -> Self {
        Pattern(p.trim().to_lowercase())
    }

    pub fn matches(&self, text: &str) -> bool {
        wildcard(&self.0, &text.to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Glob match, case as given: `*` any run of characters, `?` one character. Also how opencode
/// matches its permission names.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub deny: Vec<Pattern>,
}

impl Policy {
    /// Deny rules from `--deny-tools` patterns; an empty pattern is refused (it would match nothing
    /// and look like a rule).
    pub fn from_patterns(patterns: &[String]) -> Result<Policy, EmptyPattern> {
        let mut deny = Vec::new();
        for p in patterns {
            if p.trim().is_empty() {
                return Err(EmptyPattern);
            }
            deny.push(Pattern::new(p));
        }
        Ok(Policy { deny })
    }

    /// The pattern that refuses a tool call described by these texts (title, tool name, kind).
    pub fn denies<'a>(&'a self, texts: &[&str]) -> Option<&'a Pattern> {
        self.deny
            .iter()
            .find(|p| texts.iter().any(|t| !t.is_empty() && p.matches(t)))
    }
}

/// A `--deny-tools` pattern that is empty (it would match nothing and look like a rule).
#[derive(Debug, thiserror::Error)]
#[error("a pattern is empty; give a glob such as 'bash*' or '*rm -rf*'")]
pub struct EmptyPattern;

/// Why a file request of the agent is refused (said to the agent, so each says what to do).
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{} is not an absolute path; give the full path inside the project", .0.display())]
    NotAbsolute(PathBuf),
    #[error(
        "{} is outside the project directory {}; iteratr serves files only inside it",
        .path.display(),
        .root.display()
    )]
    Outside { path: PathBuf, root: PathBuf },
    #[error(
        "{} is not a regular file (a directory, pipe, socket or device); iteratr reads and writes only regular files",
        .0.display()
    )]
    NotAFile(PathBuf),
    #[error(
        "{} is {size} bytes; iteratr serves files up to {} MiB through fs/read_text_file; read a part of it with your own tools",
        .path.display(),
        MAX_READ_BYTES / (1024 * 1024)
    )]
    TooBig { path: PathBuf, size: u64 },
    #[error(
        "{} is in iteratr's data dir {}; the session log changes only through the session tools (task-add, note-add, ...)",
        .path.display(),
        .dir.display()
    )]
    Private { path: PathBuf, dir: PathBuf },
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The largest file served to the agent: a file is read whole (and sent in one message), so a
/// request for a huge one (a database, a build artefact) must not take iteratr's memory.
pub const MAX_READ_BYTES: u64 = 32 * 1024 * 1024;

/// The project directory, resolved once, that file requests must stay inside.
#[derive(Debug, Clone)]
pub struct Sandbox {
    root: PathBuf,
    /// Directories inside `root` that are refused all the same (resolved).
    private: Vec<PathBuf>,
}

impl Sandbox {
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Sandbox {
            root: root.canonicalize()?,
            private: Vec::new(),
        })
    }

    /// Also refuses these directories (those that exist; one made later is judged by the path
    /// given). One that holds the whole project (`--data-dir .`) is ignored: it would refuse all.
    pub fn with_private(mut self, dirs: &[PathBuf]) -> Self {
        self.private = dirs
            .iter()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()))
            .filter(|d| !self.root.starts_with(d))
            .collect();
        self
    }

    /// Refuses a resolved path outside the root or in a private directory.
    fn check(&self, path: &Path, real: &Path) -> Result<(), FsError> {
        if !real.starts_with(&self.root) || real == self.root {
            return Err(self.outside(path));
        }
        match self.private.iter().find(|dir| real.starts_with(dir)) {
            Some(dir) => Err(FsError::Private {
                path: path.to_path_buf(),
                dir: dir.clone(),
            }),
            None => Ok(()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn outside(&self, path: &Path) -> FsError {
        FsError::Outside {
            path: path.to_path_buf(),
            root: self.root.clone(),
        }
    }

    /// Resolves an existing file for reading (symlinks followed), refusing anything outside.
    pub fn readable(&self, path: &Path) -> Result<PathBuf, FsError> {
        if !path.is_absolute() {
            return Err(FsError::NotAbsolute(path.to_path_buf()));
        }
        let real = path.canonicalize().map_err(|source| FsError::Io {
            what: "read",
            path: path.to_path_buf(),
            source,
        })?;
        self.check(path, &real)?;
        // A pipe or a device would block the agent's connection on open or read.
        let meta = std::fs::metadata(&real).map_err(|source| FsError::Io {
            what: "read",
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(FsError::NotAFile(path.to_path_buf()));
        }
        if meta.len() > MAX_READ_BYTES {
            return Err(FsError::TooBig {
                path: path.to_path_buf(),
                size: meta.len(),
            });
        }
        Ok(real)
    }

    /// Resolves a file to write (it and its parents may not exist yet), refusing anything outside.
    pub fn writable(&self, path: &Path) -> Result<PathBuf, FsError> {
        if !path.is_absolute() {
            return Err(FsError::NotAbsolute(path.to_path_buf()));
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(self.outside(path));
        }
        // The nearest existing ancestor decides where the path really leads (symlinks).
        let mut existing = path;
        let mut rest = Vec::new();
        while !existing.exists() {
            let Some(parent) = existing.parent() else {
                break;
            };
            if let Some(name) = existing.file_name() {
                rest.push(name.to_owned());
            }
            existing = parent;
        }
        let mut real = existing.canonicalize().map_err(|source| FsError::Io {
            what: "write",
            path: path.to_path_buf(),
            source,
        })?;
        for name in rest.iter().rev() {
            real.push(name);
        }
        self.check(path, &real)?;
        // Writing to a pipe with no reader blocks on open: only new or regular files.
        if rest.is_empty() && !existing.is_file() {
            return Err(FsError::NotAFile(path.to_path_buf()));
        }
        Ok(real)
    }
}

/// Lines `line` (1-based) onwards, at most `limit` of them.
pub fn slice_lines(text: &str, line: Option<u32>, limit: Option<u32>) -> String {
    if line.is_none() && limit.is_none() {
        return text.to_string();
    }
    let start = line.map_or(0, |l| l.saturating_sub(1) as usize);
    let lines = text.split_inclusive('\n').skip(start);
    match limit {
        Some(n) => lines.take(n as usize).collect(),
        None => lines.collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let p = Pattern::new("Bash*");
        assert!(p.matches("bash: rm -rf /") && p.matches("BASH") && !p.matches("run bash"));
        assert!(Pattern::new("*rm -rf*").matches("bash: rm -rf target"));
        assert!(Pattern::new("edit ?.rs").matches("Edit a.rs"));
        assert!(!Pattern::new("edit ?.rs").matches("Edit ab.rs"));
        let policy = Policy {
            deny: vec![Pattern::new("execute"), Pattern::new("webfetch")],
        };
        assert!(policy.denies(&["Run cargo test", "", "execute"]).is_some());
        assert!(policy.denies(&["Read file", "read", "read"]).is_none());
    }

    #[test]
    fn sandbox() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("in.txt"), "a\nb\nc\n").unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        let s = Sandbox::new(root.path()).unwrap();
        assert!(s.readable(&root.path().join("in.txt")).is_ok());
        assert!(
            s.readable(&outside.path().join("secret"))
                .unwrap_err()
                .to_string()
                .contains("outside the project")
        );
        assert!(
            s.readable(&root.path().join("link"))
                .unwrap_err()
                .to_string()
                .contains("outside the project")
        );
        assert!(s.readable(Path::new("relative.txt")).is_err());
        assert!(s.writable(&root.path().join("new/dir/file.rs")).is_ok());
        assert!(s.writable(&root.path().join("../escape")).is_err());
        assert!(s.writable(&outside.path().join("x")).is_err());
        assert!(s.writable(&root.path().join("link")).is_err());
        // Pipes, directories and huge files are refused before anything blocks or fills memory.
        let fifo = root.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        std::fs::create_dir(root.path().join("sub")).unwrap();
        for refused in [
            s.readable(&fifo),
            s.writable(&fifo),
            s.readable(&root.path().join("sub")),
        ] {
            let e = refused.unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        let big = root.path().join("big.bin");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_READ_BYTES + 1)
            .unwrap();
        let e = s.readable(&big).unwrap_err().to_string();
        assert!(e.contains("up to 32 MiB"), "{e}");
        // iteratr's data dir is off limits, however it is named.
        let data = root.path().join(".iteratr");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("iteratr.db"), "log").unwrap();
        let s = s.with_private(std::slice::from_ref(&data));
        for refused in [
            s.readable(&data.join("iteratr.db")),
            s.writable(&data.join("iteratr.db")),
            s.writable(&data.join("new.txt")),
            s.writable(&root.path().join("sub/../.iteratr/x")),
            s.readable(&root.path().join("sub/../.iteratr/iteratr.db")),
        ] {
            let e = refused.unwrap_err().to_string();
            assert!(
                e.contains("iteratr's data dir") || e.contains("outside the project"),
                "{e}"
            );
        }
        assert!(s.writable(&root.path().join("fine.txt")).is_ok());
        let s = s.with_private(&[root.path().to_path_buf()]);
        assert!(s.readable(&root.path().join("in.txt")).is_ok());
        assert_eq!(slice_lines("a\nb\nc\n", Some(2), Some(1)), "b\n");
        assert_eq!(slice_lines("a\nb\nc\n", Some(2), None), "b\nc\n");
    }
}
