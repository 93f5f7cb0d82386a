//! The agent's workspace path check (`agent-container/src/tools/workspace.rs`: `resolve`, which
//! every file tool's path goes through, and `check_prefixes`, the profile's `file_prefixes`).
//!
//! That file is compiled here as it is, as a module of this stand-in for its parent
//! (`tools/mod.rs`), which gives it the two names it uses from there. Depending on the agent
//! crate instead would build the whole AWS SDK with fuzz instrumentation for one module, minutes
//! the CI smoke run does not have; a change to the file's imports fails this build, so the
//! stand-in cannot drift unnoticed.
//!
//! Input: a line of `,`-separated `file_prefixes` (empty: none), then the path. The workspace is
//! a fixed temporary folder holding a file, a folder, links that stay inside and links that lead
//! out (to a sibling folder, to `/etc`, dangling, in a loop).
//!
//! Checked besides "no panic": a path that resolves is the workspace joined with plain components
//! (no `..`, nothing absolute), and wherever its deepest existing part really is (links followed)
//! lies inside the workspace; a path outside the allowed prefixes is refused.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use clawless_core::domain::permissions::PermissionProfile;

use crate::bytes::Bytes;

/// The agent's `tools::ToolError`, as far as `workspace.rs` uses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// The agent's `tools::ToolContext`, as far as `workspace.rs` uses it.
pub struct ToolContext {
    pub workspace: PathBuf,
    pub profile: PermissionProfile,
}

// Only the path checks are fuzzed; the quota helpers are unused here.
#[allow(dead_code)]
#[path = "../../agent-container/src/tools/workspace.rs"]
mod workspace;

/// The fixture: `<tmp>/clawless-fuzz-<pid>/{ws,outside}` with links in `ws`.
fn fixture() -> &'static (PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("clawless-fuzz-workspace-{}", std::process::id()));
        let ws = base.join("ws");
        let outside = base.join("outside");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(ws.join("docs/deep")).expect("the fixture's folders");
        std::fs::create_dir_all(&outside).expect("the fixture's outside folder");
        std::fs::write(ws.join("docs/a.txt"), b"a").expect("a fixture file");
        std::fs::write(outside.join("secret.txt"), b"s").expect("a fixture file");
        let link =
            |target: &Path, name: &str| std::os::unix::fs::symlink(target, ws.join(name)).expect("a fixture link");
        link(Path::new("docs"), "inside");
        link(Path::new("docs/deep"), "deeper");
        link(Path::new("../outside"), "out");
        link(&outside, "out_abs");
        link(Path::new("/etc"), "etc");
        link(Path::new("/nonexistent-clawless-fuzz"), "dangling");
        link(Path::new("loop"), "loop");
        link(Path::new("docs/../../outside"), "sneaky");
        std::os::unix::fs::symlink(Path::new("../../outside"), ws.join("docs/up")).expect("a fixture link");
        let root = std::fs::canonicalize(&ws).expect("the workspace exists");
        (ws, root)
    })
}

/// The deepest part of `path` that exists, with links followed.
fn real_location(path: &Path) -> Option<PathBuf> {
    path.ancestors().find_map(|p| std::fs::symlink_metadata(p).ok().and_then(|_| std::fs::canonicalize(p).ok()))
}

pub fn workspace_path(data: &[u8]) {
    let mut input = Bytes::new(data);
    let prefixes: Vec<String> =
        String::from_utf8_lossy(input.line()).split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    let relative = String::from_utf8_lossy(input.rest()).into_owned();
    let (ws, root) = fixture();

    let profile = PermissionProfile { file_prefixes: prefixes.clone(), ..PermissionProfile::default() };
    let ctx = ToolContext { workspace: ws.clone(), profile };
    let allowed = workspace::check_prefixes(&relative, &prefixes);
    let resolved = workspace::resolve_for(&ctx, &relative);
    if allowed.is_err() {
        assert!(resolved.is_err(), "{relative:?} resolved outside the prefixes {prefixes:?}");
    }
    let Ok(path) = workspace::resolve(ws, &relative) else { return };
    let rest =
        path.strip_prefix(root).unwrap_or_else(|_| panic!("{relative:?} resolved to {path:?}, not under {root:?}"));
    assert!(
        rest.components().all(|c| matches!(c, Component::Normal(_))),
        "{relative:?} resolved to {path:?}, which is not plain components under the workspace"
    );
    let real = real_location(&path).expect("the workspace itself exists");
    assert!(
        real.starts_with(root),
        "{relative:?} resolved to {path:?}, which really is {real:?}, outside the workspace"
    );
    if !prefixes.is_empty() && allowed.is_ok() {
        let on_prefix = prefixes.iter().any(|p| {
            let p = Path::new(p).components().filter(|c| matches!(c, Component::Normal(_))).collect::<PathBuf>();
            rest.starts_with(&p)
        });
        assert!(on_prefix, "{relative:?} ({path:?}) was allowed though it is under none of {prefixes:?}");
    }
}
