//! Connection reuse for engines reached over ssh: one ControlMaster connection per
//! engine, shared by every docker command and by the Engine API listing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::DockerCli;

/// How long an ssh connection to an engine stays open after its last use: longer than
/// the shipped timer's 15 s, so one connection serves run after run.
const SSH_PERSIST: &str = "60s";

/// The longest control-socket directory that works: a unix socket path holds 107 bytes,
/// and ssh adds `/` and `%C`'s 40 hex digits, then a 17-byte temporary suffix while it
/// binds.
const MAX_SOCKET_DIR: usize = 107 - 1 - 40 - 17;

impl DockerCli {
    /// Makes commands to engines reached over ssh share one connection per engine, as
    /// ssh's ControlMaster does: writes `dir/ssh`, a wrapper that runs the ssh on PATH
    /// with `ControlMaster=auto`, `ControlPath=<sockets>/%C` and `ControlPersist`, and
    /// puts `dir` first on those commands' PATH (the docker CLI runs `ssh` from PATH).
    /// The sockets live in `control_dir()`, a short private directory, whatever the
    /// state path: a socket path is limited to 107 bytes. Both directories are made
    /// private (0700); an existing one must be a directory of this user that no one else
    /// may write, never a link. The connection outlives the pass by `SSH_PERSIST`, so
    /// the next pass pays no handshake. An error means no reuse (the caller warns once).
    pub(crate) fn reuse_ssh(&mut self, dir: &Path) -> Result<()> {
        let ssh = which::which("ssh").context("ssh is not on PATH")?;
        self.reuse_ssh_with(&ssh, dir, &control_dir())
    }

    /// As `reuse_ssh`, with the ssh program at `ssh` and the sockets in `sockets`.
    fn reuse_ssh_with(&mut self, ssh: &Path, dir: &Path, sockets: &Path) -> Result<()> {
        fn quotable(p: &Path) -> Option<&str> {
            p.to_str().filter(|t| !t.contains(['\'', '\n', '\r', '\0']))
        }
        let (Some(ssh_text), Some(dir_text), Some(sockets_text)) = (quotable(ssh), quotable(dir), quotable(sockets))
        else {
            bail!("{}, {} or {} holds a quote or a line break", ssh.display(), dir.display(), sockets.display());
        };
        if dir_text.contains(':') {
            bail!("{} holds a ':', which PATH cannot hold", dir.display());
        }
        // ssh splits an option's value at white space and expands % tokens in it.
        if sockets_text.contains(char::is_whitespace) || sockets_text.len() > MAX_SOCKET_DIR {
            bail!(
                "ssh control sockets in {} would not work (white space, or longer than {MAX_SOCKET_DIR} bytes): \
                 set XDG_RUNTIME_DIR to a short private directory, or ssh_reuse = false",
                sockets.display()
            );
        }
        private_dir(dir)?;
        private_dir(sockets)?;
        let control = sockets_text.replace('%', "%%");
        let script = format!(
            "#!/bin/sh\n# Written by healwatch: one ssh connection per Docker engine, kept {SSH_PERSIST} after its last use.\n\
             exec '{ssh_text}' -o ControlMaster=auto -o 'ControlPath={control}/%C' -o ControlPersist={SSH_PERSIST} \"$@\"\n"
        );
        let wrapper = dir.join("ssh");
        let current = crate::files::read_bounded(&wrapper, 4096, crate::files::Link::Refuse).unwrap_or_default();
        if current != script.as_bytes() {
            crate::files::atomic::write_with_mode(&wrapper, script.as_bytes(), 0o700)?;
        }
        let mut path = dir.as_os_str().to_os_string();
        if let Some(rest) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(rest);
        }
        self.ssh_path = Some(path);
        self.ssh_wrapper = Some(wrapper);
        Ok(())
    }
}

/// Where ssh's control sockets go: short and private. `$XDG_RUNTIME_DIR/healwatch-ssh`
/// (a user's own tmpfs), else `/run/healwatch-ssh` for root, else
/// `/tmp/healwatch-ssh-UID` (checked to be this user's own, as every such directory is).
fn control_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return run.join("healwatch-ssh");
    }
    let euid = rustix::process::geteuid().as_raw();
    if euid == 0 && Path::new("/run").is_dir() {
        return PathBuf::from("/run/healwatch-ssh");
    }
    PathBuf::from(format!("/tmp/healwatch-ssh-{euid}"))
}

/// Makes `dir` (0700) unless it exists; either way it must be a directory of this user
/// that others cannot write, never a link.
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    let euid = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        bail!("{} must be a directory of this user that others cannot write (and not a link)", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    fn cli() -> DockerCli {
        DockerCli::at("/usr/bin/docker")
    }

    #[test]
    fn ssh_reuse_writes_a_private_wrapper_and_only_ssh_engines_get_it() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("ssh");
        let sockets = base.path().join("s");
        let mut docker = cli();
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir, &sockets).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("ssh")), mode(&sockets)), (0o700, 0o700, 0o700));
        let script = std::fs::read_to_string(dir.join("ssh")).unwrap();
        let control = format!("-o 'ControlPath={}/%C'", sockets.display());
        assert!(script.contains("exec '/usr/bin/ssh' -o ControlMaster=auto") && script.contains(&control), "{script}");
        let path_of = |e: &Endpoint| {
            docker.command(e).get_envs().find(|(k, _)| *k == "PATH").and_then(|(_, v)| v).map(|v| v.to_os_string())
        };
        let ssh = Endpoint::Host("ssh://ops@web-2".into());
        assert!(path_of(&ssh).unwrap().to_string_lossy().starts_with(dir.to_str().unwrap()));
        assert_eq!(path_of(&Endpoint::Default), None);
        assert_eq!(path_of(&Endpoint::Host("unix:///run/docker.sock".into())), None);
        // Again: nothing to rewrite, and it still works.
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir, &sockets).unwrap();
    }

    #[test]
    fn ssh_reuse_refuses_directories_others_control() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &open, &base.path().join("s")).unwrap_err();
        assert!(format!("{e:#}").contains("others cannot write"), "{e:#}");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(base.path(), &link).unwrap();
        let e = cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &link, &base.path().join("s")).unwrap_err();
        assert!(format!("{e:#}").contains("not a link"), "{e:#}");
        // A wrapper that is a link is never written through.
        let dir = base.path().join("ssh");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let target = base.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("ssh")).unwrap();
        assert!(cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir, &base.path().join("s")).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let quote = base.path().join("it's");
        assert!(cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &quote, &base.path().join("s")).is_err());
    }

    #[test]
    fn control_sockets_live_in_a_short_directory_whatever_the_state_path() {
        let base = tempfile::tempdir().unwrap();
        // A state directory far past the socket limit, with a space and a %: the wrapper
        // may live there, the sockets do not.
        let deep = base.path().join("a very long state directory of 100% someone elses naming, deeper still");
        std::fs::create_dir(&deep).unwrap();
        let sockets = base.path().join("s");
        let mut docker = cli();
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &deep.join("ssh"), &sockets).unwrap();
        let script = std::fs::read_to_string(deep.join("ssh/ssh")).unwrap();
        assert!(script.contains(&format!("-o 'ControlPath={}/%C'", sockets.display())), "{script}");
        // A % in the socket directory is escaped for ssh; white space or too long: no reuse.
        let percent = base.path().join("100%");
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &deep.join("ssh"), &percent).unwrap();
        let script = std::fs::read_to_string(deep.join("ssh/ssh")).unwrap();
        assert!(script.contains("100%%/%C"), "{script}");
        for bad in [base.path().join("with space"), base.path().join("x".repeat(MAX_SOCKET_DIR))] {
            let e = cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &deep.join("ssh"), &bad).unwrap_err();
            assert!(format!("{e:#}").contains("would not work"), "{e:#}");
        }
        let colon = base.path().join("a:b");
        assert!(cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &colon, &sockets).is_err(), "PATH cannot hold it");
        // Where they go by default: short enough for any user.
        assert!(control_dir().as_os_str().len() <= MAX_SOCKET_DIR, "{}", control_dir().display());
    }
}
