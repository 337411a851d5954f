//! Opening files in directories other people may write (the state directory, a metrics
//! directory, /tmp): never through a symbolic link at the last component, never
//! blocking on a FIFO or a device, and never reading more than a bound.

pub(crate) mod atomic;

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;

/// How a file may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The operator's own files (`-c`, `--ca-file`): a symlink is theirs to make.
    Follow,
    /// Files healwatch writes or that live in shared directories: a symlink is refused.
    Refuse,
}

fn flags(link: Link) -> i32 {
    let mut flags = OFlags::NONBLOCK | OFlags::CLOEXEC;
    if link == Link::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    flags.bits() as i32
}

/// Turns ELOOP from O_NOFOLLOW into a sentence, and checks an open file is regular.
fn checked(path: &Path, opened: io::Result<File>) -> io::Result<File> {
    let file = opened.map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            io::Error::other(format!("{} is a symbolic link, which healwatch never follows there", path.display()))
        } else {
            e
        }
    })?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file ({})", path.display(), describe(kind))));
    }
    Ok(file)
}

fn describe(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a plain file"
    }
}

/// Opens (creating) a file to append to, e.g. the log.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    checked(path, OpenOptions::new().create(true).append(true).custom_flags(flags(Link::Refuse)).open(path))
}

/// Opens (creating, never truncating) a file to read and write, e.g. the lock.
pub(crate) fn open_rw(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).read(true).write(true).custom_flags(flags(Link::Refuse));
    checked(path, options.open(path))
}

/// Opens something to hold a lock on where nothing can be written: the regular file at
/// `path` read-only (never through a link), or, when there is none, its directory.
/// `flock` needs no write access, so a lock still works on a read-only volume.
pub(crate) fn open_for_lock_read_only(path: &Path) -> io::Result<File> {
    match checked(path, OpenOptions::new().read(true).custom_flags(flags(Link::Refuse)).open(path)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let flags = (OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32;
            OpenOptions::new().read(true).custom_flags(flags).open(dir)
        }
        other => other,
    }
}

/// Reads a whole regular file of at most `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64, link: Link) -> io::Result<Vec<u8>> {
    let file = checked(path, OpenOptions::new().read(true).custom_flags(flags(link)).open(path))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        let why = format!("{} is larger than {} KiB", path.display(), limit / 1024);
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, why));
    }
    Ok(bytes)
}

/// The first `n` bytes of a regular file (fewer when it is shorter).
pub(crate) fn read_head(path: &Path, n: u64) -> io::Result<Vec<u8>> {
    let file = checked(path, OpenOptions::new().read(true).custom_flags(flags(Link::Follow)).open(path))?;
    let mut bytes = Vec::new();
    file.take(n).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_big_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("shadow");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for open in [open_append, open_rw] {
            let err = open(&link).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret", "untouched");
        assert!(read_bounded(&link, 100, Link::Refuse).is_err());
        assert_eq!(read_bounded(&link, 100, Link::Follow).unwrap(), b"secret");
        assert!(read_bounded(&target, 3, Link::Follow).unwrap_err().to_string().contains("larger than"));
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        for result in [read_bounded(&fifo, 100, Link::Follow).map(drop), open_rw(&fifo).map(drop)] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("FIFO"), "{err}");
        }
        assert!(open_append(&fifo).is_err(), "no reader: refused at once, not blocked");
        assert!(read_bounded(Path::new("/dev/zero"), 100, Link::Follow).unwrap_err().to_string().contains("device"));
    }
}
