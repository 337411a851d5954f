//! A dependent's providers, read again just before its look (`graph` found who leans on
//! whom from the pass's listing): whether one restarted under it (its start is older
//! than theirs: it runs in a network namespace that is gone), whether the engine could
//! not start it while one was down, whether one was replaced (only a recreate helps),
//! or whether it waits for one that does not run or answer yet.

use std::time::SystemTime;

use super::Pass;
use super::act::await_recovery;
use crate::config::{HealthCheck, Target};
use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::docker::ContainerInfo;
use crate::model::{ContainerRef, ContainerStatus, Leaning, Outcome, Recovery, TargetResult, Via};

/// Compose's label for the directory its project was brought up from.
const COMPOSE_WORKING_DIR: &str = "com.docker.compose.project.working_dir";

/// What a dependent's providers say of it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lean {
    /// A provider restarted under it, or was down when the engine started it: restart
    /// it. `cause` is for the status line (`provider vpn restarted`), `why` its check's
    /// words.
    Stale { cause: String, why: String },
    /// A provider does not run, or does not answer yet: healed once it does.
    Waits(String),
    /// The container whose network namespace it runs in no longer exists: why, and the
    /// name that container had, when an earlier pass saw it (its successor's now).
    Stranded { why: String, provider: Option<String> },
    /// It is no target of its own, and its container is not running for a reason of its
    /// own (an operator stopped it): left alone.
    Idle(String),
}

impl Lean {
    /// How much it says: a replaced provider first, then one to wait for, then a restart.
    fn weight(&self) -> u8 {
        match self {
            Self::Stranded { .. } => 3,
            Self::Waits(_) => 2,
            Self::Stale { .. } => 1,
            Self::Idle(_) => 0,
        }
    }

    /// The result of a dependent this settles without a look: its outcome and words.
    pub(super) fn settled(&self, target: &Target) -> Option<TargetResult> {
        let provider = provider(target);
        let (outcome, error) = match self {
            Self::Stale { .. } => return None,
            Self::Waits(why) => (Outcome::Unhealthy, why),
            Self::Stranded { why, .. } => (Outcome::NeedsRecreate, why),
            Self::Idle(why) => (Outcome::Stopped, why),
        };
        Some(TargetResult {
            check: target.health.kind(),
            outcome,
            provider,
            error: Some(error.clone()),
            ..TargetResult::new(&target.name, &target.container, target.url_display())
        })
    }
}

/// The name of the container `target` runs in the network namespace of (or leans on
/// by compose), when known: remembered, so a replaced one's successor is found by it.
pub(super) fn provider(target: &Target) -> Option<String> {
    let lean = target.facts.leans.iter().find(|l| l.via != Via::RestartWith)?;
    let known = lean.exists || lean.provider != lean.reference.get(..12).unwrap_or(&lean.reference);
    known.then(|| lean.provider.clone())
}

/// What `target`'s providers say of it now, `earlier` being what this pass found of
/// the targets healed before it (its providers among them); `None` when it leans on
/// nothing watched, or nothing is wrong. Each container is inspected once (by `pass`'s
/// inspector, so a dry run sees the same); a provider the engine cannot tell of is
/// left to the dependent's own check.
pub(super) fn before_look(pass: &Pass, target: &Target, earlier: &[(&Target, &TargetResult)]) -> Option<Lean> {
    if target.facts.leans.is_empty() {
        return None;
    }
    let docker = pass.inspector?;
    let mine: Vec<ContainerInfo> = target.container_refs().iter().filter_map(|c| docker.inspect(c).ok()).collect();
    if mine.is_empty() {
        return None;
    }
    let mut found: Option<Lean> = None;
    let mut asked: Vec<&str> = Vec::new();
    for lean in target.facts.leans.iter().filter(|l| l.via != Via::RestartWith) {
        if asked.contains(&lean.reference.as_str()) {
            continue;
        }
        asked.push(&lean.reference);
        let provider = ContainerRef { endpoint: target.endpoint.clone(), name: lean.reference.clone() };
        let said = match docker.inspect(&provider) {
            Ok(p) => judge(pass, (target, &mine), &p, lean, earlier),
            Err(e) if lean.via == Via::Network && format!("{e:#}").contains("No such container") => {
                let named = lean.provider != lean.reference.get(..12).unwrap_or(&lean.reference);
                Some(Lean::Stranded { why: stranded(&mine, lean), provider: named.then(|| lean.provider.clone()) })
            }
            Err(_) => None,
        };
        if let Some(said) = said
            && found.as_ref().is_none_or(|f| said.weight() > f.weight())
        {
            found = Some(said);
        }
    }
    found.or_else(|| idle(target, &mine))
}

/// What provider `p` (running or not) says of the dependent `target` with containers `mine`.
fn judge(
    pass: &Pass,
    (target, mine): (&Target, &[ContainerInfo]),
    p: &ContainerInfo,
    lean: &Leaning,
    earlier: &[(&Target, &TargetResult)],
) -> Option<Lean> {
    if p.status != ContainerStatus::Running {
        return Some(Lean::Waits(format!(
            "its provider {} is {}: it is healed once that runs again",
            p.name,
            p.status.not_serving(p.exit_code).unwrap_or_else(|| p.status.to_string())
        )));
    }
    let provider_target = earlier.iter().find(|(t, _)| t.endpoint == target.endpoint && t.replicas.contains(&p.name));
    if let Some((t, r)) = provider_target
        && !answers(pass, (t, r), p.started_at)
    {
        return Some(Lean::Waits(format!(
            "its provider {} does not answer yet ({}): it is healed once it does",
            p.name,
            r.outcome.as_str().replace('_', " ")
        )));
    }
    for d in mine {
        let before = |started: Option<SystemTime>| started.zip(p.started_at).is_some_and(|(d, p)| d < p);
        let cause = match d.status {
            ContainerStatus::Running | ContainerStatus::Paused if before(d.started_at) => {
                let why = match lean.via {
                    Via::Network => "it runs in the network namespace its provider had before: it has no network",
                    _ => "compose's depends_on says it restarts with it",
                };
                let at = p.started_at.map(crate::model::timestamp).unwrap_or_default();
                (
                    format!("provider {} restarted", p.name),
                    format!("container {} started before its provider {} restarted at {at}: {why}", d.name, p.name),
                )
            }
            ContainerStatus::Exited | ContainerStatus::Created if lean.via == Via::Network && d.error.is_some() => (
                format!("provider {} was not running when {} started", p.name, d.name),
                format!(
                    "container {} could not start while its provider {} was down: {}",
                    d.name,
                    p.name,
                    d.error.as_deref().unwrap_or_default()
                ),
            ),
            _ => continue,
        };
        return Some(Lean::Stale { cause: cause.0, why: cause.1 });
    }
    None
}

/// Whether provider target `t`, which this pass found as `r`, answers now: healthy; or
/// restarted, or started (by anyone) within its recovery_timeout, and answering within
/// what is left of it (waited for here: a provider coming up is given its time, one
/// broken for longer is not waited on).
fn answers(pass: &Pass, (t, r): (&Target, &TargetResult), started_at: Option<SystemTime>) -> bool {
    let coming_up = started_at
        .is_some_and(|at| pass.clock.now().duration_since(at).map_or(true, |age| age < t.settings.recovery_timeout));
    let wait = match (r.healthy_now(), r.recovery) {
        (true, Recovery::Pending | Recovery::NotWaited) => true,
        (true, _) => return true,
        (false, _) => coming_up,
    };
    match (wait, pass.docker.or(pass.inspector)) {
        (true, Some(docker)) => {
            let (recovery, _, _) = await_recovery(pass.probe, docker, pass.clock, t, pass.early.deadline, None);
            recovery == Recovery::Recovered
        }
        _ => false,
    }
}

/// A dependent that is no target of its own and does not run, for no provider's fault.
fn idle(target: &Target, mine: &[ContainerInfo]) -> Option<Lean> {
    let d = mine.iter().find(|d| d.status.is_down())?;
    (target.health == HealthCheck::Provider).then(|| {
        Lean::Idle(format!(
            "container {} {}: it is no target, so healwatch leaves it be (it restarts it only when its provider \
             restarts under it)",
            d.name,
            d.status.not_serving(d.exit_code).unwrap_or_else(|| d.status.to_string())
        ))
    })
}

/// Why a dependent whose namespace's container is gone needs recreating, with the one
/// command that does it.
fn stranded(mine: &[ContainerInfo], lean: &Leaning) -> String {
    let Some(d) = mine.first() else { return String::new() };
    let how = match (d.labels.get(COMPOSE_PROJECT), d.labels.get(COMPOSE_SERVICE)) {
        (Some(project), Some(service)) => {
            let dir =
                d.labels.get(COMPOSE_WORKING_DIR).map(|dir| format!(" --project-directory {dir}")).unwrap_or_default();
            format!("docker compose{dir} -p {project} up -d --no-deps --force-recreate {service}")
        }
        _ => format!(
            "docker rm -f {0}, then run {0} again as before with --network container:<its provider's name>",
            d.name
        ),
    };
    let old = lean.reference.get(..12).unwrap_or(&lean.reference);
    let was = if lean.provider == old {
        format!("container {old}")
    } else {
        format!("the {} of before ({old})", lean.provider)
    };
    crate::model::one_line(
        &format!(
            "container {} runs in the network namespace of {was}, which no longer exists (replaced, or removed): it \
             has no network, and docker start refuses it; recreate it (or set recreate_dependents = true): {how}",
            d.name
        ),
        600,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::FakeClock;
    use crate::config::Config;
    use crate::docker::fake::{FakeDocker, container};
    use crate::docker::{ContainerSummary, Containers};
    use crate::memory::state::{State, TargetState};
    use crate::model::{Endpoint, HealthUrl};
    use crate::pass::{Early, run_pass};

    struct Answers;

    impl crate::check::Probe for Answers {
        fn check(&self, _: &Target, _: &crate::config::HttpCheck, _: Duration) -> crate::check::Check {
            crate::check::Check::passed(Some(200), Duration::from_millis(1))
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 - 100 + secs)
    }

    /// An engine with `vpn` (a target) started at 50 and `qbit` in its namespace,
    /// started at 10 (so vpn restarted under it), with `vpn` as given.
    fn engine(vpn: ContainerInfo) -> (FakeDocker, Vec<Target>) {
        let qbit = ContainerInfo {
            network_mode: Some(format!("container:{}", vpn.id)),
            started_at: Some(at(10)),
            labels: [(COMPOSE_PROJECT, "media"), (COMPOSE_SERVICE, "qbit")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..container("qbit", "always", &[])
        };
        let kept: Vec<ContainerSummary> = [&vpn, &qbit].map(|c| ContainerSummary::from(c.clone())).to_vec();
        let mut roster = vec![Target::http("vpn", "vpn", HealthUrl::parse("http://127.0.0.1:9/").unwrap())];
        let cycles = crate::graph::weave(&mut roster, (&Endpoint::Default, &kept), "", &|_| None);
        assert!(cycles.is_empty());
        (FakeDocker::new("running", 0).with_engine(Endpoint::Default, Ok(vec![vpn, qbit])), roster)
    }

    fn vpn() -> ContainerInfo {
        ContainerInfo { started_at: Some(at(50)), ..container("vpn", "always", &[]) }
    }

    fn pass(roster: &[Target], docker: &FakeDocker, memory: &State, dry_run: bool) -> Vec<TargetResult> {
        let config = Config { dry_run, ..Config::new(roster.to_vec()) };
        let clock = FakeClock::at(at(100));
        let docker_for_acts = (!dry_run).then_some(docker as &dyn Containers);
        let pass = Pass {
            probe: &Answers,
            docker: docker_for_acts,
            inspector: Some(docker),
            memory,
            clock: &clock,
            early: Early::none(),
        };
        run_pass(&config, roster, &pass).0
    }

    #[test]
    fn a_dependent_the_provider_restarted_under_is_restarted_after_it_with_the_cause() {
        let (docker, roster) = engine(vpn());
        assert_eq!(roster[1].name, "qbit", "it joins the roster: {roster:?}");
        assert_eq!(roster[1].health, HealthCheck::Provider);
        let results = pass(&roster, &docker, &State::default(), false);
        assert_eq!(results[0].outcome, Outcome::Healthy);
        let qbit = &results[1];
        assert_eq!((qbit.outcome, qbit.cause.as_deref()), (Outcome::Restarted, Some("provider vpn restarted")));
        assert_eq!(qbit.check.as_str(), "provider");
        assert!(qbit.error.as_deref().is_some_and(|e| e.contains("it has no network")), "{qbit:?}");
        assert!(docker.calls().iter().any(|c| c.starts_with("restart qbit ")), "{:?}", docker.calls());
    }

    #[test]
    fn a_dry_run_a_pause_and_the_crash_loop_guard_hold_a_dependent_as_any_target() {
        let (docker, roster) = engine(vpn());
        let dry = pass(&roster, &docker, &State::default(), true);
        assert_eq!((dry[1].outcome, dry[1].cause.as_deref()), (Outcome::Unhealthy, Some("provider vpn restarted")));
        let mut memory = State::default();
        memory.targets.insert("qbit".into(), TargetState { paused_until: Some(at(500)), ..TargetState::default() });
        assert_eq!(pass(&roster, &docker, &memory, false)[1].outcome, Outcome::Paused);
        let restarts = vec![at(90), at(91), at(92)];
        memory.targets.insert("qbit".into(), TargetState { recent_restarts: restarts, ..TargetState::default() });
        assert_eq!(pass(&roster, &docker, &memory, false)[1].outcome, Outcome::GaveUp);
        assert!(!docker.calls().iter().any(|c| c.starts_with("restart ")), "{:?}", docker.calls());
    }

    #[test]
    fn a_provider_that_does_not_run_is_waited_for_and_a_replaced_one_said_with_the_command() {
        let exited = ContainerInfo { status: ContainerStatus::Exited, running: false, exit_code: Some(1), ..vpn() };
        let (docker, roster) = engine(exited);
        let results = pass(&roster, &docker, &State::default(), false);
        assert_eq!(results[1].outcome, Outcome::Unhealthy);
        assert!(
            results[1].error.as_deref().is_some_and(|e| e.contains("its provider vpn is exited (1)")),
            "{results:?}"
        );
        assert!(!docker.calls().iter().any(|c| c.starts_with("restart qbit")), "{:?}", docker.calls());

        let (_, roster) = engine(vpn());
        let qbit = docker.inventory(&Endpoint::Default).unwrap().remove(1);
        let gone = FakeDocker::new("running", 0).with_engine(Endpoint::Default, Ok(vec![qbit]));
        let results = pass(&roster, &gone, &State::default(), false);
        assert_eq!(results[1].outcome, Outcome::NeedsRecreate);
        let said = results[1].error.as_deref().unwrap_or_default();
        assert!(
            said.contains("no longer exists")
                && said.contains("docker compose -p media up -d --no-deps --force-recreate qbit"),
            "{said}"
        );
        assert!(!results[1].healthy_now());
    }
}
