//! Where the repository layer of the configuration is: a clone's work tree
//! (`.pushguard.toml`), a bare repository on a server (`pushguard.toml`), or nowhere.
//!
//! The pre-push hook finds it without opening the repository with libgit2, so that an
//! ordinary push stays as cheap as a plain shell hook: from git's own variables, and for a
//! `git --git-dir=<clone>/.git push` run from elsewhere, from the git directory itself
//! (its `core.worktree`, else the directory that holds `.git`).

use std::path::{Path, PathBuf};

use crate::git::Repo;

/// Where the repository layer of the configuration is looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A clone's work tree: its `.pushguard.toml`, or instead the file named by
    /// `PUSHGUARD_CONFIG`.
    WorkTree(PathBuf),
    /// A bare repository on a server: the file named by `PUSHGUARD_CONFIG` (if set), then
    /// the repository's own `pushguard.toml` over it.
    Server(PathBuf),
    /// Outside any repository: the built-in default, the user file and `PUSHGUARD_CONFIG`.
    Nowhere,
}

impl Location {
    /// The location for the pre-push hook, found without opening the repository.
    pub fn for_hook() -> Location {
        hook_work_tree().map_or(Location::Nowhere, Location::WorkTree)
    }

    /// The location for a server hook: the receiving repository (`GIT_DIR`, else the current
    /// directory, which is where git runs it).
    pub fn for_server() -> Location {
        let dir = match std::env::var_os("GIT_DIR") {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => None,
        };
        let cwd = std::env::current_dir().ok();
        match (dir, cwd) {
            (Some(dir), Some(cwd)) => Location::Server(normalize(&cwd.join(dir))),
            (Some(dir), None) => Location::Server(dir),
            (None, Some(cwd)) => Location::Server(cwd),
            (None, None) => Location::Nowhere,
        }
    }

    /// The location of an open repository: its work tree, or the repository itself when
    /// it is bare.
    pub fn of_repo(repo: &Repo) -> Location {
        match repo.work_tree() {
            Some(root) => Location::WorkTree(root.to_path_buf()),
            None => Location::Server(repo.git2().path().to_path_buf()),
        }
    }

    /// The location for a command run anywhere in a clone or a bare repository: asked from
    /// the repository, not taken from the current directory.
    pub fn for_command() -> Location {
        match Repo::open_from_env() {
            Ok(repo) => Location::of_repo(&repo),
            Err(_) => Location::for_hook(),
        }
    }
}

/// The work tree whose `.pushguard.toml` applies to a pre-push hook.
///
/// git runs the hook at the work tree's root, except when it was given `--git-dir` (or
/// `GIT_DIR`) without a work tree: then the current directory can be anywhere, and the
/// clone's own configuration is the one beside its git directory.
fn hook_work_tree() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GIT_WORK_TREE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().ok();
    if let Some(git_dir) = std::env::var_os("GIT_DIR").filter(|d| !d.is_empty()) {
        let git_dir = match &cwd {
            Some(cwd) => cwd.join(git_dir),
            None => PathBuf::from(git_dir),
        };
        if let Some(root) = work_tree_of(&git_dir) {
            return Some(root);
        }
    }
    cwd
}

/// The work tree of a git directory, read from its files: `core.worktree` in its config
/// (relative to the git directory), the `gitdir` file of a linked worktree, or the parent
/// of a directory named `.git`. `None` when none of these says (a bare repository).
fn work_tree_of(git_dir: &Path) -> Option<PathBuf> {
    if let Some(text) = read_small(&git_dir.join("config")) {
        if let Some(worktree) = core_worktree(&text) {
            return Some(git_dir.join(worktree));
        }
    }
    if git_dir.join("commondir").is_file() {
        if let Some(dot_git) = read_small(&git_dir.join("gitdir")) {
            return Path::new(dot_git.trim_end())
                .parent()
                .map(Path::to_path_buf);
        }
    }
    let git_dir = normalize(git_dir);
    if git_dir.file_name().is_some_and(|name| name == ".git") {
        return git_dir.parent().map(Path::to_path_buf);
    }
    None
}

/// Drops `.` components, so that `clone/.git/.` still names `.git`.
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Reads a small file of git's own; anything unreadable or over 1 MiB is ignored.
fn read_small(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(1024 * 1024).read_to_string(&mut text).ok()?;
    Some(text)
}

/// `core.worktree` in the text of a git config file: the last one set, as git reads it.
/// Only the plain forms git itself writes are understood (`[core]` and `worktree = value`,
/// the value optionally quoted); includes are not followed.
fn core_worktree(config: &str) -> Option<String> {
    let mut in_core = false;
    let mut found = None;
    for line in config.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[') {
            let name = section.split([']', ' ', '"']).next().unwrap_or_default();
            in_core = name.eq_ignore_ascii_case("core");
            continue;
        }
        if !in_core {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("worktree") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            found = Some(value.replace("\\\\", "\\"));
        }
    }
    found.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_worktree_is_read_from_the_core_section_only() {
        let text = "[core]\n\tbare = false\n\tworktree = ../../../sub\n[remote \"origin\"]\n\tworktree = nope\n";
        assert_eq!(core_worktree(text).as_deref(), Some("../../../sub"));
        assert_eq!(
            core_worktree("[Core]\n  WorkTree = \"/srv/app\"\n").as_deref(),
            Some("/srv/app")
        );
        assert_eq!(core_worktree("[core]\n\tbare = true\n"), None);
    }
    #[test]
    fn work_tree_of_reads_the_git_directory_s_own_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // A clone: the parent of `.git`, with or without a trailing `.`.
        std::fs::create_dir_all(root.join("clone/.git")).unwrap();
        std::fs::write(root.join("clone/.git/config"), "[core]\n\tbare = false\n").unwrap();
        assert_eq!(
            work_tree_of(&root.join("clone/.git")),
            Some(root.join("clone"))
        );
        assert_eq!(
            work_tree_of(&root.join("clone/.git/.")),
            Some(root.join("clone"))
        );
        // A git directory whose `core.worktree` names its work tree, relative to it.
        std::fs::create_dir_all(root.join("meta.git")).unwrap();
        std::fs::write(
            root.join("meta.git/config"),
            "[core]\n\tworktree = ../clone\n",
        )
        .unwrap();
        assert_eq!(
            work_tree_of(&root.join("meta.git")),
            Some(root.join("meta.git/../clone"))
        );
        // A linked worktree's git directory names its `.git` file.
        let linked = root.join("clone/.git/worktrees/wt");
        std::fs::create_dir_all(&linked).unwrap();
        std::fs::write(linked.join("commondir"), "../..\n").unwrap();
        std::fs::write(
            linked.join("gitdir"),
            format!("{}\n", root.join("wt/.git").display()),
        )
        .unwrap();
        assert_eq!(work_tree_of(&linked), Some(root.join("wt")));
        // A bare repository has none.
        std::fs::create_dir_all(root.join("bare.git")).unwrap();
        std::fs::write(root.join("bare.git/config"), "[core]\n\tbare = true\n").unwrap();
        assert_eq!(work_tree_of(&root.join("bare.git")), None);
    }
}
