//! Flags and the config file, layered into one validated `Config`: flag > target (or
//! labels) > `[defaults]` > built-in, every error naming the flag or key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::RunOptions;
use super::engines::engines;
use super::file;
use super::targets::{file_target, flag_target, on_restart};
use super::{Config, DEFAULT_CONCURRENCY, DEFAULT_FORGET_AFTER, DEFAULT_NOTIFY_ON, Engine, Target};
use crate::cli::RunArgs;
use crate::model::{Action, Endpoint, HealthUrl, Named, Outcome, Unhealthy, redact_text};
use crate::net::TrustRoots;
use crate::output::notify::Service;
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
    let o = args.layer(d, &at)?;
    let engines = engines(&file.engines, o.discover, o.unhealthy.unwrap_or(Unhealthy::Off), &file_name)?;
    let targets = targets(args, &file, &engines, &base, &file_name)?;
    unique_names(&targets, &file_name)?;
    distinct_files(&o)?;
    let concurrency = o.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        bail!("concurrency must be at least 1 (--concurrency or [defaults] concurrency)");
    }
    let proxy = match o.proxy.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| anyhow!("proxy '{}': {e}", redact_text(p)))?),
        None => None,
    };
    // Where a value came from, for its error: the flag when given, else the key.
    let from = |flag_given: bool, flag: &str, key: &str| if flag_given { flag.to_string() } else { at(key) };
    let ca_file = match &o.ca_file {
        Some(path) => {
            Some(TrustRoots::load(path).context(from(args.reach.ca_file.is_some(), "--ca-file", "ca_file"))?)
        }
        None => None,
    };
    let (notify, notify_on, ping_url) = receivers(args, &o, d, &at)?;
    Ok(Config {
        targets,
        ca_file,
        dry_run: o.dry_run,
        concurrency,
        proxy,
        log: o.log,
        quiet: o.quiet,
        docker: o.docker,
        lock: o.lock,
        state: o.state,
        metrics: o.metrics,
        notify,
        notify_on,
        ping_url,
        engines,
        ssh_reuse: d.ssh_reuse.unwrap_or(true),
        trust_labels: d.trust_labels.unwrap_or(false),
        format: o.format.unwrap_or_default(),
        forget_after: o.forget_after.unwrap_or(DEFAULT_FORGET_AFTER),
        flags: base.flags,
        defaults: base.defaults,
        default_action: base.action,
        default_ignore_stopped: base.ignore_stopped,
        default_on_restart: base.on_restart,
    })
}

/// Where a pass's news goes: the notification services, the outcomes they hear of, and
/// the ping URL. The environment keeps a token out of the process list (`ps` shows every
/// flag for as long as a watch runs): between the flag and the key, as a flag would be.
fn receivers(
    args: &RunArgs,
    o: &RunOptions,
    d: &file::FileDefaults,
    at: &dyn Fn(&str) -> String,
) -> Result<(Vec<Service>, Vec<Outcome>, Option<HealthUrl>)> {
    // Where a value came from, for its error: the flag when given, else the key.
    let from = |flag_given: bool, flag: &str, key: &str| if flag_given { flag.to_string() } else { at(key) };
    let (notify_urls, notify_at) = match secret_env(NOTIFY_ENV, args.report.notify_url.is_empty()) {
        Some(urls) => (urls.split_whitespace().map(String::from).collect(), NOTIFY_ENV.to_string()),
        None => (o.notify_url.clone(), from(!args.report.notify_url.is_empty(), "--notify-url", "notify_url")),
    };
    let (ping_url, ping_at) = match secret_env(PING_ENV, args.report.ping_url.is_none()) {
        Some(url) => (Some(url), PING_ENV.to_string()),
        None => (o.ping_url.clone(), from(args.report.ping_url.is_some(), "--ping-url", "ping_url")),
    };
    let notify =
        notify_urls.iter().map(|url| Service::parse(url).with_context(|| notify_at.clone())).collect::<Result<_>>()?;
    let notify_on = match &d.notify_on {
        None => DEFAULT_NOTIFY_ON.to_vec(),
        Some(names) => {
            names.iter().map(|n| Outcome::parse(n)).collect::<Result<_>>().with_context(|| at("notify_on"))?
        }
    };
    Ok((notify, notify_on, secret_url(ping_url.as_deref(), &ping_at)?))
}

/// `--notify-url`'s twin in the environment: URLs separated by blanks.
pub(crate) const NOTIFY_ENV: &str = "HEALWATCH_NOTIFY_URL";
/// `--ping-url`'s twin in the environment.
pub(crate) const PING_ENV: &str = "HEALWATCH_PING_URL";

/// The value of the environment variable `name` when `wanted` (no flag gave it) and set
/// to something other than blanks.
fn secret_env(name: &str, wanted: bool) -> Option<String> {
    wanted.then(|| std::env::var(name).ok()).flatten().filter(|v| !v.trim().is_empty())
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
fn distinct_files(o: &RunOptions) -> Result<()> {
    let files: [(&str, Option<&PathBuf>); 4] = [
        ("--state / state", o.state.as_ref()),
        ("--metrics / metrics", o.metrics.as_ref()),
        ("--lock / lock", o.lock.as_ref()),
        ("--log / log", o.log.as_ref()),
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

/// A URL whose path is a secret (a ping UUID, a webhook token), parsed; it is printed
/// as host/***. `at` names the flag or key it came from in errors.
fn secret_url(url: Option<&str>, at: &str) -> Result<Option<HealthUrl>> {
    match url.filter(|s| !s.is_empty()) {
        Some(url) => HealthUrl::parse_secret_path(url).map(Some).with_context(|| at.to_string()),
        None => Ok(None),
    }
}
