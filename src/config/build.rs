//! Flags and the config file, layered into one validated `Config`: flag > target (or
//! labels) > `[defaults]` > built-in, every error naming the flag or key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::engines::engines;
use super::file::{self, FileDefaults};
use super::targets::{file_target, flag_target, on_restart};
use super::{Config, DEFAULT_CONCURRENCY, DEFAULT_FORGET_AFTER, DEFAULT_NOTIFY_ON, Engine, Target};
use crate::cli::RunArgs;
use crate::model::{Action, Endpoint, Format, HealthUrl, Named, Outcome, Unhealthy, redact_text};
use crate::net::TrustRoots;
use crate::settings::Layer;

/// What every target gets unless it says otherwise: the layers of its settings below
/// its own, and the `[defaults]` that are not settings.
struct Defaults {
    flags: Layer,
    defaults: Layer,
    action: Action,
    ignore_stopped: bool,
    on_restart: Vec<String>,
}

/// The config `args` and `file` (read from `path`) say, validated.
pub(super) fn build(args: &RunArgs, file: file::FileConfig, path: Option<&Path>) -> Result<Config> {
    let file_name = path.map_or_else(|| "config".to_string(), |p| format!("config {}", p.display()));
    let d = &file.defaults;
    let at = |key: &str| format!("{file_name}: [defaults] {key}");
    let base = Defaults {
        flags: args.settings.layer(),
        defaults: d.settings_layer(&|key| at(key))?,
        action: d.action.as_deref().map(Action::parse).transpose().with_context(|| at("action"))?.unwrap_or_default(),
        ignore_stopped: d.ignore_stopped.unwrap_or(false),
        on_restart: on_restart(d.on_restart.as_ref()).with_context(|| at("on_restart"))?,
    };
    let unhealthy = match (args.unhealthy, d.unhealthy.as_deref()) {
        (Some(mode), _) => mode,
        (None, Some(text)) => Unhealthy::parse(text).with_context(|| at("unhealthy"))?,
        (None, None) => Unhealthy::Off,
    };
    let discover = args.discover || d.discover.unwrap_or(false);
    let engines = engines(&file.engines, discover, unhealthy, &file_name)?;
    let targets = targets(args, &file, &engines, &base, &file_name)?;
    unique_names(&targets, &file_name)?;
    distinct_files(args, d)?;
    let concurrency = args.concurrency.or(d.concurrency).unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        bail!("concurrency must be at least 1 (--concurrency or [defaults] concurrency)");
    }
    let proxy = match args.proxy.as_deref().or(d.proxy.as_deref()).filter(|p| !p.is_empty()) {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| anyhow!("proxy '{}': {e}", redact_text(p)))?),
        None => None,
    };
    Ok(Config {
        targets,
        ca_file: ca_file(args.ca_file.as_ref(), d.ca_file.as_ref(), &file_name)?,
        dry_run: args.dry_run || d.dry_run.unwrap_or(false),
        concurrency,
        proxy,
        log: args.log.clone().or_else(|| d.log.clone()),
        quiet: args.quiet || d.quiet.unwrap_or(false),
        docker: args.docker.clone().or_else(|| d.docker.clone()),
        lock: args.lock.clone().or_else(|| d.lock.clone()),
        state: args.state.clone().or_else(|| d.state.clone()),
        metrics: args.metrics.clone().or_else(|| d.metrics.clone()),
        notify_url: optional_url(
            args.notify_url.as_deref(),
            d.notify_url.as_deref(),
            "--notify-url",
            &at("notify_url"),
        )?,
        notify_on: match &d.notify_on {
            None => DEFAULT_NOTIFY_ON.to_vec(),
            Some(names) => {
                names.iter().map(|n| Outcome::parse(n)).collect::<Result<_>>().with_context(|| at("notify_on"))?
            }
        },
        ping_url: optional_url(args.ping_url.as_deref(), d.ping_url.as_deref(), "--ping-url", &at("ping_url"))?,
        engines,
        ssh_reuse: d.ssh_reuse.unwrap_or(true),
        trust_labels: d.trust_labels.unwrap_or(false),
        format: match (args.format, d.format.as_deref()) {
            (Some(f), _) => f,
            (None, Some(text)) => Format::parse(text).with_context(|| at("format"))?,
            (None, None) => Format::Json,
        },
        forget_after: forget_after(args.forget_after, d.forget_after.as_deref()).with_context(|| at("forget_after"))?,
        flags: base.flags,
        defaults: base.defaults,
        default_action: base.action,
        default_ignore_stopped: base.ignore_stopped,
        default_on_restart: base.on_restart,
    })
}

/// The `[[target]]` tables, then the `-t` flags, each on its engine with its layers.
fn targets(
    args: &RunArgs,
    file: &file::FileConfig,
    engines: &[Engine],
    base: &Defaults,
    file_name: &str,
) -> Result<Vec<Target>> {
    let local = engines[0].endpoint.clone();
    let mut targets = Vec::new();
    for (i, t) in file.targets.iter().enumerate() {
        let place = |key: &str| format!("{file_name}: target '{}' (#{}) {key}", t.name, i + 1);
        let mut target = file_target(t, &place, &[&base.flags, &t.settings_layer(&place)?, &base.defaults])?;
        match (&t.engine, target.endpoint == Endpoint::Default) {
            (None, true) => target.endpoint = local.clone(),
            (None, false) => {}
            (Some(name), true) => {
                let Some(engine) = engines.iter().find(|e| &e.name == name) else {
                    let known: Vec<&str> = engines.iter().map(|e| e.name.as_str()).collect();
                    bail!("{}: no [[engine]] is named '{name}' (known: {})", place("engine"), known.join(", "));
                };
                target.endpoint = engine.endpoint.clone();
            }
            (Some(_), false) => bail!("{}: give engine, or docker_host/docker_context, not both", place("engine")),
        }
        target.action =
            t.action.as_deref().map(Action::parse).transpose().with_context(|| place("action"))?.unwrap_or(base.action);
        target.ignore_stopped = t.ignore_stopped.unwrap_or(base.ignore_stopped);
        target.on_restart = match &t.on_restart {
            Some(argv) => on_restart(Some(argv)).with_context(|| place("on_restart"))?,
            None => base.on_restart.clone(),
        };
        targets.push(target);
    }
    for raw in &args.targets.targets {
        let mut target = flag_target(raw)?;
        target.endpoint = local.clone();
        target.settings = Layer::resolve(&[&base.flags, &base.defaults]);
        target.action = base.action;
        target.ignore_stopped = base.ignore_stopped;
        target.on_restart = base.on_restart.clone();
        targets.push(target);
    }
    Ok(targets)
}

/// Every target has its own name.
fn unique_names(targets: &[Target], file_name: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for t in targets {
        if !seen.insert(t.name.as_str()) {
            bail!(
                "{file_name}: target name '{}' is used twice (file or --target): names must be unique; \
                 two checks of one container need two names and the same `container`",
                t.name
            );
        }
    }
    Ok(())
}

/// The state, metrics, lock and log files are four different files.
fn distinct_files(args: &RunArgs, d: &FileDefaults) -> Result<()> {
    let files: [(&str, Option<&PathBuf>); 4] = [
        ("--state / state", args.state.as_ref().or(d.state.as_ref())),
        ("--metrics / metrics", args.metrics.as_ref().or(d.metrics.as_ref())),
        ("--lock / lock", args.lock.as_ref().or(d.lock.as_ref())),
        ("--log / log", args.log.as_ref().or(d.log.as_ref())),
    ];
    for (i, (a, pa)) in files.iter().enumerate() {
        for (b, pb) in &files[i + 1..] {
            if let (Some(pa), Some(pb)) = (pa, pb)
                && same_file(pa, pb)
            {
                bail!("{a} and {b} name the same file {}: give each its own file", pa.display());
            }
        }
    }
    Ok(())
}

/// `--ca-file` (which wins) or `[defaults] ca_file`, read.
fn ca_file(flag: Option<&PathBuf>, key: Option<&PathBuf>, file_name: &str) -> Result<Option<TrustRoots>> {
    match (flag, key) {
        (Some(path), _) => Ok(Some(TrustRoots::load(path).context("--ca-file")?)),
        (None, Some(path)) => {
            Ok(Some(TrustRoots::load(path).with_context(|| format!("{file_name}: [defaults] ca_file"))?))
        }
        (None, None) => Ok(None),
    }
}

/// `--forget-after` (already checked by clap) or `[defaults] forget_after`, in range.
fn forget_after(flag: Option<Duration>, key: Option<&str>) -> Result<Duration> {
    match (flag, key) {
        (Some(d), _) => Ok(d),
        (None, Some(text)) => crate::model::parse_duration(text).and_then(|d| {
            let (min, max) = crate::settings::FORGET_AFTER;
            crate::settings::in_range(d, min, max, "")
        }),
        (None, None) => Ok(DEFAULT_FORGET_AFTER),
    }
}

/// Whether two paths name one file: the same text once made absolute, or the same
/// inode when both exist (links are not followed: healwatch never writes through one).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(a) == absolute(b) {
        return true;
    }
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => false,
    }
}

/// A URL given by flag (which wins) or `[defaults]` key, parsed; the error names which.
fn optional_url(flag: Option<&str>, file: Option<&str>, flag_name: &str, key_at: &str) -> Result<Option<HealthUrl>> {
    // Their paths are secrets (a ping UUID, a webhook token): printed as host/***.
    match (flag.filter(|s| !s.is_empty()), file.filter(|s| !s.is_empty())) {
        (Some(url), _) => HealthUrl::parse_secret_path(url).map(Some).with_context(|| flag_name.to_string()),
        (None, Some(url)) => HealthUrl::parse_secret_path(url).map(Some).with_context(|| key_at.to_string()),
        (None, None) => Ok(None),
    }
}
