//! Replacing a file so that readers (and a crash) only ever see the old or the new one:
//! a temp file in the same directory, fsync, rename, fsync of the directory. Used for the
//! state file and the metrics file (node_exporter's textfile collector asks for this).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Atomically replaces `path` with `bytes`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    // A rename over /dev/null (say) would replace the device with a file.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        anyhow::bail!("{} exists and is not a regular file: not replacing it", path.display());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    // A leading dot and no .prom ending: node_exporter, editors and globs skip the temp file.
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable only once the directory is.
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
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
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
        for not_a_file in [Path::new("/dev/null"), dir.path()] {
            let err = write(not_a_file, b"x").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        let link = dir.path().join("null-link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert!(write(&link, b"x").is_err(), "nor a link to a device");
    }
}
