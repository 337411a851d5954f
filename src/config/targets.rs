//! Targets from `[[target]]` tables and `-t NAME=URL` flags.

use anyhow::{Context, Result, anyhow, bail};

use super::engines::endpoint;
use super::file;
use super::target::{HealthCheck, HttpCheck, LogPattern, Target, TcpCheck};
use crate::model::{HealthUrl, TcpAddr, one_line, validate_container_name, validate_name};
use crate::settings::Layer;

/// A `[[target]]` table as a target; `layers` are its settings' sources, highest first.
pub(super) fn file_target(t: &file::FileTarget, place: &dyn Fn(&str) -> String, layers: &[&Layer]) -> Result<Target> {
    validate_name(&t.name).with_context(|| place("name"))?;
    let health = file_health(t, place)?;
    let mut target = Target::new(&t.name, t.container.as_deref().unwrap_or(&t.name), health);
    target.log_pattern =
        t.log_pattern.as_deref().map(LogPattern::parse).transpose().with_context(|| place("log_pattern"))?;
    target.settings = Layer::resolve(layers);
    for dependent in &t.restart_with {
        validate_container_name(dependent).with_context(|| place("restart_with"))?;
    }
    target.restart_with = t.restart_with.clone();
    target.endpoint = endpoint(t.docker_host.as_deref(), t.docker_context.as_deref())
        .with_context(|| place("docker_host/docker_context"))?;
    match (&t.compose_project, &t.compose_service, &t.container) {
        (Some(project), Some(service), None) => {
            target.container = format!("{project}/{service}");
            target.compose = Some((project.clone(), service.clone()));
            target.replicas = Vec::new();
        }
        (None, None, _) => validate_container_name(&target.container).with_context(|| place("container"))?,
        (Some(_), Some(_), Some(_)) => {
            bail!("{}: give either `container` or `compose_project` + `compose_service`", place("container"))
        }
        _ => bail!("{}: give both compose_project and compose_service", place("compose_project")),
    }
    Ok(target)
}

/// What a `[[target]]` checks: its url (HTTP or TCP), its exec or its log pattern, each
/// kind refusing the keys of the others.
fn file_health(t: &file::FileTarget, place: &dyn Fn(&str) -> String) -> Result<HealthCheck> {
    let http_only = [
        ("expect_status", t.expect_status.is_some()),
        ("expect_body", t.expect_body.is_some()),
        ("headers", !t.headers.is_empty()),
    ];
    let tcp_only = [("send", t.send.is_some()), ("expect", t.expect.is_some())];
    let refuse = |keys: &[(&str, bool)], kind: &str| -> Result<()> {
        match keys.iter().find(|(_, given)| *given) {
            Some((key, _)) => bail!("{}: only {kind} targets take it", place(key)),
            None => Ok(()),
        }
    };
    Ok(match (&t.url, &t.exec) {
        (Some(url), None) if url.starts_with("tcp://") => {
            refuse(&http_only, "http(s)")?;
            HealthCheck::Tcp(TcpCheck::parse(url, t.send.as_deref(), t.expect.as_deref(), place)?)
        }
        (Some(url), None) => {
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Http(HttpCheck::parse(
                url,
                t.expect_status.as_deref(),
                t.expect_body.as_deref(),
                &t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>(),
                place,
            )?)
        }
        (None, Some(argv)) => {
            refuse(&http_only, "http(s)")?;
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Exec(exec_argv(argv).with_context(|| place("exec"))?)
        }
        (None, None) if t.log_pattern.is_some() => {
            refuse(&http_only, "http(s)")?;
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Logs
        }
        (None, None) => bail!("{}: give url (http://, https:// or tcp://), exec, or log_pattern", place("url")),
        (Some(_), Some(_)) => bail!("{}: give url or exec, not both", place("exec")),
    })
}

/// `exec`: a command and its arguments, run by `docker exec` without a shell.
pub(crate) fn exec_argv(argv: &[String]) -> Result<Vec<String>> {
    if argv.is_empty() || argv[0].is_empty() {
        bail!("give the command and its arguments, e.g. exec = [\"pg_isready\", \"-U\", \"postgres\"]");
    }
    if argv.len() > 64 || argv.iter().any(|a| a.contains('\0') || a.len() > 4096) {
        bail!("at most 64 arguments of at most 4096 bytes, without NUL");
    }
    Ok(argv.to_vec())
}

/// A `-t NAME=URL` flag as a target (settings are laid on by the caller).
pub(super) fn flag_target(raw: &str) -> Result<Target> {
    // Only the name: the URL's own error shows it, masked, and a malformed URL may hide
    // a password where no redaction could find it.
    let name_part = raw.split_once('=').map_or(raw, |(name, _)| name);
    let place = || format!("--target '{}=...'", one_line(name_part, 64));
    let (name, url) = raw
        .split_once('=')
        .ok_or_else(|| anyhow!("{}: write NAME=URL, e.g. app=http://127.0.0.1:5000/health", place()))?;
    validate_name(name).with_context(place)?;
    validate_container_name(name).with_context(place)?;
    if url.starts_with("tcp://") {
        let addr = TcpAddr::parse(url).with_context(place)?;
        return Ok(Target::new(name, name, HealthCheck::Tcp(TcpCheck { addr, send: None, expect: None })));
    }
    let url = HealthUrl::parse(url).with_context(place)?;
    Ok(Target::http(name, name, url))
}

/// `on_restart`: a program and its arguments, run without a shell. The program must be
/// an absolute path: cron's PATH is not the operator's.
pub(super) fn on_restart(argv: Option<&Vec<String>>) -> Result<Vec<String>> {
    let Some(argv) = argv.filter(|a| !a.is_empty()) else { return Ok(Vec::new()) };
    if !argv[0].starts_with('/') {
        bail!("'{}' must be an absolute path, e.g. [\"/usr/local/bin/notify-team\", \"--flag\"]", argv[0]);
    }
    if argv.iter().any(|a| a.contains('\0')) {
        bail!("an argument has a NUL byte");
    }
    Ok(argv.clone())
}
