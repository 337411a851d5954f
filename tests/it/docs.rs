//! The generated documentation (man pages, completions) is current with the clap
//! definitions, the systemd units verify, and `version` says what was built.
//! To regenerate after changing the CLI, a setting or the config schema:
//! `HEALWATCH_UPDATE_DOCS=1 cargo test docs`.

use std::path::{Path, PathBuf};

use crate::util::Healwatch;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_docs_are_current() {
    let update = std::env::var_os("HEALWATCH_UPDATE_DOCS").is_some();
    let mut expected: Vec<(PathBuf, Vec<u8>)> = healwatch::docs::man_pages()
        .into_iter()
        .map(|(name, bytes)| (root().join("doc/man").join(name), bytes))
        .collect();
    for (shell, name) in healwatch::docs::SHELLS {
        expected.push((root().join("doc/completions").join(name), healwatch::docs::completion(shell)));
    }
    expected.push((root().join("docs/reference.md"), healwatch::docs::reference().into_bytes()));
    expected.push((root().join("docs/engine-api.md"), healwatch::docs::engine_api().into_bytes()));
    let mut stale = Vec::new();
    for (path, bytes) in &expected {
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        } else if std::fs::read(path).ok().as_ref() != Some(bytes) {
            stale.push(path.display().to_string());
        }
    }
    for dir in ["doc/man", "doc/completions"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if !expected.iter().any(|(p, _)| p == &path) {
                stale.push(format!("{} (no longer generated)", path.display()));
            }
        }
    }
    assert!(stale.is_empty(), "out of date, run HEALWATCH_UPDATE_DOCS=1 cargo test docs: {stale:?}");
    let names: Vec<String> =
        expected.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for page in ["healwatch.1", "healwatch-drill.1", "healwatch-pause.1", "healwatch-completions.1", "healwatch.toml.5"]
    {
        assert!(names.contains(&page.to_string()), "{page} in {names:?}");
    }
    // Every page a page points to exists: no healwatch-help(1).
    for (path, bytes) in &expected {
        let text = String::from_utf8_lossy(bytes);
        for word in text.split(|c: char| c.is_whitespace() || c == ',') {
            let Some(name) = word.strip_suffix("(1)").or_else(|| word.strip_suffix("(5)")) else { continue };
            let name = name.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "");
            let wanted = format!("{name}.{}", if word.ends_with("(5)") { 5 } else { 1 });
            assert!(names.contains(&wanted), "{} points to {word}: no {wanted}", path.display());
        }
    }
    // The config page documents every setting and key.
    let toml = &expected.iter().find(|(p, _)| p.ends_with("healwatch.toml.5")).unwrap().1;
    let toml = String::from_utf8_lossy(toml);
    for key in ["decide_within", "notify_on", "compose_service", "tls_ca", "ssh_reuse"] {
        assert!(toml.contains(&key.replace('-', "\\-")), "healwatch.toml(5) lacks {key}");
    }
}

#[test]
fn completions_command_prints_the_shipped_script() {
    for (shell, name) in [("bash", "healwatch.bash"), ("zsh", "_healwatch"), ("fish", "healwatch.fish")] {
        let run = Healwatch::new().args(["completions", shell]).run();
        run.expect_code(0);
        let shipped = std::fs::read(root().join("doc/completions").join(name)).unwrap();
        assert!(run.output.stdout == shipped, "{shell}: `healwatch completions` differs from doc/completions/{name}");
    }
}

#[test]
fn version_says_what_was_built_and_which_docker_it_would_use() {
    let run = Healwatch::new().args(["version", "--docker", "/bin/sh"]).run();
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.starts_with(&format!("healwatch {}\ncommit: ", env!("CARGO_PKG_VERSION"))), "{run}");
    for line in ["\nbuilt: 20", "\ntarget: x86_64-", "\ndocker: /bin/sh\n"] {
        assert!(out.contains(line), "{line:?}\n{run}");
    }
    let long = Healwatch::new().arg("--version").run();
    assert!(long.stdout().contains("commit: "), "{long}");
}

#[test]
fn systemd_units_verify() {
    let Ok(analyze) = which::which("systemd-analyze") else {
        panic!("systemd-analyze is missing: scripts/test.sh installs Debian's systemd package");
    };
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    // The system's units, and the example for a user's rootless Podman.
    for (folder, scope) in [("packaging/systemd", "--system"), ("examples/podman-user", "--user")] {
        let dir = tempfile::tempdir().unwrap();
        for unit in ["healwatch.service", "healwatch.timer"] {
            let text = std::fs::read_to_string(root().join(folder).join(unit)).unwrap();
            // The unit names /usr/bin/healwatch; verify it against the binary just built.
            let text = text.replace("/usr/bin/healwatch", &bin.display().to_string());
            std::fs::write(dir.path().join(unit), text).unwrap();
        }
        let out = std::process::Command::new(&analyze)
            // The man pages are checked where they are installed: scripts/package-test.sh.
            .args(["verify", scope, "--man=no"])
            .args(["healwatch.service", "healwatch.timer"].map(|u| dir.path().join(u)))
            .env("SYSTEMD_LOG_LEVEL", "warning")
            // A user's manager needs a runtime directory (%t).
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = stderr.lines().filter(|l| l.contains("healwatch")).collect();
        assert!(out.status.success() && problems.is_empty(), "systemd-analyze verify of {folder}: {stderr}");
    }
}

/// The conffile parses and names no target: validate says so, and refuses it as a pass
/// would (exit 2), so an operator who forgot to fill it in is told.
#[test]
fn the_shipped_config_is_valid_and_watches_nothing() {
    let run = Healwatch::new()
        .args(["validate", "--offline", "-c"])
        .arg(Path::new(&root()).join("packaging/healwatch.toml"))
        .run();
    run.expect_code(2);
    assert!(run.stdout().contains("0 target(s) valid"), "{run}");
    assert!(run.stderr().starts_with("healwatch: no targets: give -t NAME=URL"), "{run}");
}

/// A down engine, or no docker CLI at all, is a problem validate reports (exit 1) unless
/// --offline says not to look; zero targets without discovery is a pass's config error.
#[test]
fn validate_fails_on_an_engine_it_cannot_ask_and_on_nothing_to_watch() {
    let down = Healwatch::new()
        .env("DOCKER_HOST", "unix:///nonexistent/healwatch-test.sock")
        .args(["validate", "-t", "web=http://127.0.0.1:1/"])
        .run();
    down.expect_code(1);
    assert!(down.stdout().contains("containers on local not checked"), "{down}");
    let nothing = Healwatch::new().args(["validate", "--offline", "-t", "web=http://127.0.0.1:1/"]).run();
    nothing.expect_code(0);
    let dir = tempfile::tempdir().unwrap();
    let discovering = crate::util::write_file(dir.path(), "d.toml", "[defaults]\ndiscover = true\n");
    let discover_only = Healwatch::new().args(["validate", "-c"]).arg(&discovering).run();
    discover_only.expect_code(1);
    assert!(discover_only.stdout().contains("containers on local not checked"), "{discover_only}");
}
