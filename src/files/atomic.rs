//! Replacing a file so that readers (and a crash) only ever see the old or the new one:
//! a temp file in the same directory, fsync, rename, fsync of the directory. Used for the
//! state file and the metrics file (node_exporter's textfile collector asks for this).
//!
//! The temp file is created exclusively under an unpredictable name (`tempfile`), so a
//! link planted in a shared directory is never written through; the file it replaces
//! must be a regular file, never a symbolic link. Temp files a killed pass left behind
//! are removed by `sweep`, under the pass lock.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Atomically replaces `path` with `bytes` (mode 0644: node_exporter and `status` read it).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with_mode(path, bytes, 0o644)
}

/// As `write`, the file getting `mode`.
pub(crate) fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{} is a symbolic link: healwatch never writes through one; point it at the file itself",
            path.display()
        ),
        Ok(m) if !m.is_file() => bail!("{} exists and is not a regular file: not replacing it", path.display()),
        _ => {}
    }
    let (dir, prefix) = temp_prefix(path)?;
    let written = (|| -> std::io::Result<()> {
        let mut tmp =
            tempfile::Builder::new().prefix(&prefix).permissions(Permissions::from_mode(mode)).tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // The rename is durable only once the directory is.
        File::open(dir)?.sync_all()
    })();
    written.with_context(|| format!("writing {}", path.display()))
}

/// Removes the temp files of `path` that killed writers left (`.NAME.tmp-*`). Call it
/// only while no other writer can run: under the pass lock.
pub(crate) fn sweep(path: &Path) -> usize {
    let Ok((dir, prefix)) = temp_prefix(path) else { return 0 };
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let leftover = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix));
        // remove_file removes a link itself, never what it points to.
        if leftover && entry.file_type().is_ok_and(|t| !t.is_dir()) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The directory and the temp-file prefix for `path`: a leading dot and no .prom ending,
/// so node_exporter, editors and globs skip it.
fn temp_prefix(path: &Path) -> Result<(&Path, String)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    Ok((dir, format!(".{}.tmp-", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_refuses_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        write(&path, b"one\n").unwrap();
        write(&path, b"two\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
        for not_a_file in [Path::new("/dev/null"), dir.path()] {
            let err = write(not_a_file, b"x").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        let shadow = dir.path().join("shadow");
        std::fs::write(&shadow, "root:x:0:0").unwrap();
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(&shadow, &link).unwrap();
        assert!(write(&link, b"x").unwrap_err().to_string().contains("symbolic link"));
        assert_eq!(std::fs::read_to_string(&shadow).unwrap(), "root:x:0:0", "never written through");
    }

    #[test]
    fn planted_temp_names_are_not_followed_and_leftovers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let shadow = dir.path().join("shadow");
        std::fs::write(&shadow, "root:x:0:0").unwrap();
        // The names a pass with a guessable temp name would have used.
        for pid in 1..50 {
            std::os::unix::fs::symlink(&shadow, dir.path().join(format!(".state.json.tmp-{pid}"))).unwrap();
        }
        std::fs::write(dir.path().join(".state.json.tmp-abc123"), "torn").unwrap();
        write(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&shadow).unwrap(), "root:x:0:0");
        assert_eq!(sweep(&path), 50);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "state.json and shadow: {left:?}");
        assert_eq!(std::fs::read_to_string(&shadow).unwrap(), "root:x:0:0", "sweeping removes links, not targets");
    }
}
