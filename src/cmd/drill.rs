//! `healwatch drill TARGET`: the playbook's "test that auto-restart works", done right.
//! `docker stop` or `kill` would switch the restart policy off, so the drill crashes the
//! container for real: it kills its main process from the host, then measures how long
//! until the container runs again and until its health URL answers healthy.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::check::{HttpProbe, Probe, attempt};
use crate::cli::DrillArgs;
use crate::clock::{Clock, RealClock};
use crate::config::{self, Config, Target};
use crate::docker::{ContainerInfo, Containers, DockerCli, QUICK_TIMEOUT};
use crate::exit::{Exit, LockKind, Stop};
use crate::memory::lock;
use crate::memory::state::State;
use crate::model::{ContainerRef, ContainerStatus, Endpoint, RestartPolicy, TargetResult, redact_text};
use crate::output::report::json_line;
use crate::pass;

/// Crashes the target's container for real and times its return.
pub(crate) fn run(args: &DrillArgs) -> Result<Exit, Stop> {
    let config = config::load(&args.run_args()).map_err(Stop::Usage)?;
    if config.dry_run {
        return Err(Stop::Usage(anyhow::anyhow!("drill kills a process for real; --dry-run does not apply to it")));
    }
    if args.unused.watch.is_some() {
        return Err(Stop::Usage(anyhow::anyhow!("drill waits with --wait; --watch is for run")));
    }
    let docker = DockerCli::locate(config.docker.as_deref()).map_err(Stop::Usage)?;
    let probe = HttpProbe::new(config.proxy.as_ref(), config.ca_file.as_ref());
    // Hold the pass lock so a cron pass neither races the heal nor muddles the timing.
    let _lock = lock::acquire(config.lock.as_deref(), LockKind::Pass)?;
    let report = drill(&config, &args.target, args.wait, args.heal, &docker, &probe).map_err(Stop::Usage)?;
    crate::output::print(&json_line(&report))?;
    Ok(if report.time_to_healthy_ms.is_some() { Exit::Healthy } else { Exit::Unhealthy })
}

/// With `--heal` and a restart policy, how long Docker gets before healwatch steps in.
pub(crate) const HEAL_GRACE: Duration = Duration::from_secs(5);
/// Pause between looks at the container and its URL.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Who brought the container back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RecoveredBy {
    /// Docker's restart policy.
    RestartPolicy,
    /// healwatch's heal (`--heal`).
    Healwatch,
    /// Nobody, within `--wait`.
    None,
}

/// The drill's one JSON line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DrillReport {
    /// Target name.
    pub target: String,
    /// Its container.
    pub container: String,
    /// The container's restart policy before the crash.
    pub restart_policy: RestartPolicy,
    /// The host PID that was killed.
    pub killed_pid: u32,
    /// Who brought it back.
    pub recovered_by: RecoveredBy,
    /// From the kill until the container ran again with a new process.
    pub time_to_running_ms: Option<u64>,
    /// From the kill until the health URL answered healthy.
    pub time_to_healthy_ms: Option<u64>,
    /// `RestartCount` before the crash.
    pub restart_count_before: u64,
    /// `RestartCount` at the end (a manual restart by `--heal` resets it to 0).
    pub restart_count_after: u64,
    /// What the heal did, when `--heal` ran one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heal: Option<TargetResult>,
}

/// Runs the drill on target `name`.
fn drill(
    config: &Config,
    name: &str,
    wait: Duration,
    heal: bool,
    docker: &DockerCli,
    probe: &dyn Probe,
) -> Result<DrillReport> {
    let target = config.targets.iter().find(|t| t.name == name).with_context(|| {
        let known: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        format!("unknown target '{name}' (known: {})", known.join(", "))
    })?;
    if target.compose.is_some() {
        bail!(
            "target '{}' is a compose service: a drill crashes one container; give one replica its own target (-t NAME=URL)",
            target.name
        );
    }
    ensure_local_engine(docker, &target.endpoint)?;
    let before = docker.inspect(&ContainerRef { endpoint: target.endpoint.clone(), name: target.container.clone() })?;
    if before.status != ContainerStatus::Running || before.pid == 0 {
        bail!("container '{}' is {}, not running: start it before a drill", target.container, before.status);
    }
    ensure_process_is_the_container(before.pid, &before)?;
    kill(before.pid).with_context(|| {
        format!(
            "cannot signal pid {} of container '{}' (the engine may run in another PID namespace, or this user may not signal it)",
            before.pid, target.container
        )
    })?;
    let clock = RealClock::starting_at(SystemTime::now());
    Ok(time_return(config, target, &before, wait, heal, docker, probe, &clock))
}

/// After the kill: polls the container and its check until it runs with a new process
/// and answers healthy, or `wait` passes on `clock` (from the kill). With `heal`, a
/// container still down when its restart policy had its chance (at once without one)
/// is healed as a pass would.
#[allow(clippy::too_many_arguments)]
fn time_return(
    config: &Config,
    target: &Target,
    before: &ContainerInfo,
    wait: Duration,
    heal: bool,
    docker: &dyn Containers,
    probe: &dyn Probe,
    clock: &dyn Clock,
) -> DrillReport {
    let killed_at = clock.elapsed();
    let since_kill = || clock.elapsed().saturating_sub(killed_at);
    let left = || wait.saturating_sub(since_kill());
    let ms = |d: Duration| d.as_millis() as u64;
    let container = ContainerRef { endpoint: target.endpoint.clone(), name: target.container.clone() };
    let mut report = DrillReport {
        target: target.name.clone(),
        container: target.container.clone(),
        restart_policy: before.restart_policy.clone(),
        killed_pid: before.pid,
        recovered_by: RecoveredBy::None,
        time_to_running_ms: None,
        time_to_healthy_ms: None,
        restart_count_before: before.restart_count,
        restart_count_after: before.restart_count,
        heal: None,
    };
    let mut last = before.clone();
    while !left().is_zero() {
        last = docker.inspect(&container).unwrap_or(last);
        if report.time_to_running_ms.is_none() && last.status == ContainerStatus::Running && last.pid != before.pid {
            report.time_to_running_ms = Some(ms(since_kill()));
        }
        if report.time_to_running_ms.is_some()
            && attempt(probe, Some(docker), target, target.settings.timeout.min(left()).max(Duration::from_millis(1)))
                .healthy()
        {
            report.time_to_healthy_ms = Some(ms(since_kill()));
            report.recovered_by =
                if report.heal.is_some() { RecoveredBy::Healwatch } else { RecoveredBy::RestartPolicy };
            break;
        }
        let policy_had_its_chance = before.restart_policy == RestartPolicy::No || since_kill() >= HEAL_GRACE;
        if heal && report.heal.is_none() && policy_had_its_chance {
            report.heal = Some(heal_now(config, target, left(), docker, probe, clock));
            continue;
        }
        clock.sleep(POLL_INTERVAL.min(left()));
    }
    report.restart_count_after = docker.inspect(&container).map_or(last.restart_count, |c| c.restart_count);
    report
}

/// The same heal a pass makes, of this one target, with no retries (it is known down)
/// and a recovery wait cut to what is left of the drill.
fn heal_now(
    config: &Config,
    target: &Target,
    left: Duration,
    docker: &dyn Containers,
    probe: &dyn Probe,
    clock: &dyn Clock,
) -> TargetResult {
    let mut target = target.clone();
    target.settings.retries = 0;
    target.settings.recovery_timeout = target.settings.recovery_timeout.min(left);
    // A drill is a deliberate act: no threshold, crash-loop guard or pause applies to it.
    target.settings.failure_threshold = 1;
    target.settings.max_restarts = 0;
    target.settings.start_period = Duration::ZERO;
    // (A drill never runs dry: `run` refused --dry-run before anything was done.)
    let pass = pass::Pass {
        probe,
        docker: Some(docker),
        inspector: Some(docker),
        memory: &State::default(),
        clock,
        early: pass::Early::none(),
    };
    pass::run_pass(config, &[target], &pass).0.remove(0)
}

/// The drill signals a host PID, so the engine must run on this host.
fn ensure_local_engine(docker: &DockerCli, endpoint: &Endpoint) -> Result<()> {
    let host = match endpoint {
        Endpoint::Engine { via, tls: None, .. } => return ensure_local_engine(docker, via),
        Endpoint::Engine { .. } => "tcp:// (TLS)".to_string(),
        Endpoint::Host(host) => host.clone(),
        Endpoint::Default if docker.socket_here(endpoint) => return Ok(()),
        Endpoint::Default | Endpoint::Context(_) => {
            let format = "{{.Endpoints.docker.Host}}";
            let mut args = vec!["context", "inspect", "--format", format];
            if let Endpoint::Context(name) = endpoint {
                args.extend(["--", name.as_str()]);
            }
            let out = docker.run(&args, QUICK_TIMEOUT);
            if !out.success() {
                bail!("cannot tell where the Docker engine runs (docker context inspect: {})", out.stderr);
            }
            out.stdout
        }
    };
    if !host.starts_with("unix://") {
        bail!(
            "the Docker engine is remote ({}): drill kills the container's process from the host, so run it on the engine's host",
            redact_text(&host)
        );
    }
    Ok(())
}

/// Before a SIGKILL, make sure the PID means the same process here as on the engine:
/// its cgroup path names the container id. An engine in another PID namespace (or a
/// stale PID) could otherwise make the drill kill an unrelated process.
fn ensure_process_is_the_container(pid: u32, container: &ContainerInfo) -> Result<()> {
    let path = format!("/proc/{pid}/cgroup");
    let cgroup = std::fs::read_to_string(&path).with_context(|| {
        format!("pid {pid} of container '{}' is not visible on this host ({path}); is the engine remote or in another PID namespace?", container.name)
    })?;
    if !cgroup.contains(&container.id) {
        bail!(
            "pid {pid} on this host is not known to be container '{}''s (its cgroup does not name {}): the engine runs in another PID namespace (run drill where the engine runs), or gives containers no cgroup of their own (rootless Podman on cgroup v1), so drill will not kill it",
            container.name,
            &container.id[..12.min(container.id.len())]
        );
    }
    Ok(())
}

fn kill(pid: u32) -> Result<()> {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).context("invalid pid")?;
    rustix::process::kill_process(pid, rustix::process::Signal::KILL)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::check::{Check, Failure};
    use crate::clock::FakeClock;
    use crate::docker::fake::{FakeDocker, container};
    use crate::model::{HealthUrl, Outcome};

    /// A check that fails until the `up`th call.
    struct UpAfter {
        up: u32,
        calls: AtomicU32,
    }

    impl Probe for UpAfter {
        fn check(&self, _: &Target, _: &crate::config::HttpCheck, _: Duration) -> Check {
            if self.calls.fetch_add(1, Ordering::SeqCst) + 1 >= self.up {
                Check::passed(Some(200), Duration::ZERO)
            } else {
                Check::failed(Failure::Connection, "connection refused", Duration::ZERO)
            }
        }
    }

    fn app() -> Target {
        Target::http("app", "app", HealthUrl::parse("http://127.0.0.1:1/").unwrap())
    }

    fn info(status: ContainerStatus, pid: u32, policy: &str) -> ContainerInfo {
        ContainerInfo { status, pid, ..container("app", policy, &[]) }
    }

    #[test]
    fn the_restart_policy_brings_it_back_and_is_timed_from_the_kill() {
        let clock = FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let before = info(ContainerStatus::Running, 100, "always");
        // Three polls 100 ms apart see it down, then running with a new process.
        let down = info(ContainerStatus::Restarting, 0, "always");
        let docker = FakeDocker::new("running", 0).with_infos(vec![
            down.clone(),
            down.clone(),
            down,
            info(ContainerStatus::Running, 200, "always"),
        ]);
        let probe = UpAfter { up: 2, calls: AtomicU32::new(0) };
        let config = Config::new(vec![app()]);
        let report = time_return(&config, &app(), &before, Duration::from_secs(10), true, &docker, &probe, &clock);
        assert_eq!(report.recovered_by, RecoveredBy::RestartPolicy);
        assert_eq!((report.time_to_running_ms, report.time_to_healthy_ms), (Some(300), Some(400)));
        assert!(report.heal.is_none(), "the policy had its chance and took it");
    }

    #[test]
    fn without_a_policy_heal_brings_it_back_and_without_heal_nobody_does() {
        let before = info(ContainerStatus::Running, 100, "no");
        let exited = info(ContainerStatus::Exited, 0, "no");
        let config = Config::new(vec![app()]);
        // Without --heal: nobody, after the whole wait.
        let clock = FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let docker = FakeDocker::new("exited", 0).with_infos(vec![exited.clone()]);
        let probe = UpAfter { up: u32::MAX, calls: AtomicU32::new(0) };
        let report = time_return(&config, &app(), &before, Duration::from_secs(3), false, &docker, &probe, &clock);
        assert_eq!((report.recovered_by, report.time_to_healthy_ms), (RecoveredBy::None, None));
        assert_eq!(clock.elapsed(), Duration::from_secs(3), "waited exactly --wait");
        // With --heal: healwatch restarts it at once (no policy to wait for).
        let clock = FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let docker = FakeDocker::new("exited", 0).with_infos(vec![exited, info(ContainerStatus::Running, 300, "no")]);
        let probe = UpAfter { up: 2, calls: AtomicU32::new(0) };
        let report = time_return(&config, &app(), &before, Duration::from_secs(10), true, &docker, &probe, &clock);
        assert_eq!(report.recovered_by, RecoveredBy::Healwatch);
        assert_eq!(report.heal.as_ref().map(|h| h.outcome), Some(Outcome::Restarted));
        assert!(docker.calls().iter().any(|c| c == "restart app 10"), "{:?}", docker.calls());
    }

    #[test]
    fn a_target_judged_by_its_healthcheck_is_timed_to_healthy_too() {
        // It answers no URL: Docker's HEALTHCHECK turning healthy is its return (it was
        // never timed before, as only a URL was asked).
        let clock = FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let mut target = app();
        target.health = crate::config::HealthCheck::Docker;
        let before = info(ContainerStatus::Running, 100, "always");
        let docker = FakeDocker::new("running", 0).with_infos(vec![info(ContainerStatus::Running, 200, "always")]);
        let probe = UpAfter { up: u32::MAX, calls: AtomicU32::new(0) };
        let config = Config::new(vec![target.clone()]);
        let report = time_return(&config, &target, &before, Duration::from_secs(10), false, &docker, &probe, &clock);
        assert_eq!(report.recovered_by, RecoveredBy::RestartPolicy);
        assert!(report.time_to_healthy_ms.is_some(), "{:?}", report.time_to_healthy_ms);
        assert!(docker.calls().iter().any(|c| c == "health app"), "{:?}", docker.calls());
        assert_eq!(probe.calls.load(Ordering::SeqCst), 0, "no URL to ask");
    }
}
