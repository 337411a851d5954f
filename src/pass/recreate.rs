//! Recreating a dependent whose provider was replaced (`recreate_dependents`), as one
//! transaction: the old container is renamed aside and stopped, the new one made from
//! its inspect in the new provider's namespace and started, and the old one removed
//! (its volumes kept) only once the new one runs and answers; on any failure the new
//! one is removed and the old one gets its name back.

use std::time::Duration;

use super::Pass;
use super::act::await_recovery;
use super::policy::{self, Verdict};
use crate::config::Target;
use crate::docker::{CommandOutcome, ContainerInfo, Containers, Order, create_body};
use crate::memory::state::TargetState;
use crate::model::{Action, ActionRun, ContainerRef, ContainerStatus, Outcome, Recovery, TargetResult};

/// A stranded dependent's pass when the operator lets healwatch recreate it: judged as
/// any target (pause, crash-loop guard, dry run), then recreated in the namespace of the
/// container now named `provider`. `seen` is its result as reported so far
/// (`needs_recreate`, with why).
pub(super) fn heal_stranded(
    pass: &Pass,
    target: &Target,
    memory: &TargetState,
    provider: &str,
    seen: TargetResult,
) -> TargetResult {
    let now = pass.clock.now();
    match policy::judge(false, &target.settings, memory, now, pass.docker.is_none()) {
        Verdict::Paused { until } => {
            return TargetResult { outcome: Outcome::Paused, paused_until: Some(until), ..seen };
        }
        Verdict::GaveUp { next_restart_at } => {
            return TargetResult { outcome: Outcome::GaveUp, next_restart_at, ..seen };
        }
        Verdict::Restart if target.action != Action::Notify => {}
        _ => return seen,
    }
    let Some(docker) = pass.docker else { return seen };
    // No successor running yet (the provider is being replaced right now): nothing is
    // touched, and nothing counts toward the guard; the next pass tries again.
    let successor = match successor(docker, target, provider) {
        Ok(successor) => successor,
        Err(why) => {
            let error = Some(format!("{}; {why}", seen.error.clone().unwrap_or_default()));
            return TargetResult { error, ..seen };
        }
    };
    let started = pass.clock.elapsed();
    let done = recreate(pass, docker, target, &successor);
    let duration = pass.clock.elapsed().saturating_sub(started);
    let (outcome, exit_code, stderr) = match &done {
        Ok(Recreated { left_behind }) => (Outcome::Recreated, Some(0), left_behind.clone().unwrap_or_default()),
        Err(why) => (Outcome::RestartFailed, Some(1), why.clone()),
    };
    let action = ActionRun { action: Action::Restart, exit_code, duration, stderr };
    let cause = format!("provider {provider} was replaced");
    let (recovery, recovery_time, error) = match done {
        Ok(Recreated { .. }) => {
            let why = format!(
                "container {} ran in the network namespace of the {provider} of before, which no longer exists: it \
                 had no network",
                target.container
            );
            (Recovery::Recovered, Some(duration), Some(why))
        }
        Err(_) => (Recovery::NotRestarted, None, seen.error.clone()),
    };
    TargetResult { outcome, action: Some(action), cause: Some(cause), recovery, recovery_time, error, ..seen }
}

/// A recreate that went through; `left_behind` says what of the old container could
/// not be removed.
struct Recreated {
    left_behind: Option<String>,
}

/// The container now named `provider`, when it runs.
fn successor(docker: &dyn Containers, target: &Target, provider: &str) -> Result<ContainerInfo, String> {
    let at = ContainerRef { endpoint: target.endpoint.clone(), name: provider.to_string() };
    match docker.inspect(&at) {
        Ok(found) if found.status == ContainerStatus::Running => Ok(found),
        Ok(found) => Err(format!("its provider's successor {provider} is {}: recreated once it runs", found.status)),
        Err(e) => Err(format!("no container named {provider} runs yet ({e:#}): recreated once one does")),
    }
}

/// The transaction on `target`'s container. Each step is an engine call with its own
/// bound; the wait for the new container to answer is its recovery_timeout.
fn recreate(
    pass: &Pass,
    docker: &dyn Containers,
    target: &Target,
    new_provider: &ContainerInfo,
) -> Result<Recreated, String> {
    let at = |name: &str| ContainerRef { endpoint: target.endpoint.clone(), name: name.to_string() };
    let here = at(&target.container);
    let old = docker.inspect_json(&here).map_err(|out| said("inspecting", &target.container, &out))?;
    let body = create_body(&old, &new_provider.id).map_err(|e| format!("{e:#}"))?;
    let old_id = old["Id"].as_str().unwrap_or_default();
    let aside_name = format!("{}-healwatch-{}", target.container, old_id.get(..12).unwrap_or(old_id));
    let aside = at(&aside_name);
    step(docker, &here, &Order::rename(&target.container, &aside_name), "renaming it aside")?;
    let undo = |why: String| -> String {
        let back = docker.order(&aside, &Order::rename(&aside_name, &target.container));
        match back.success() {
            true => format!("{why}; the old container has its name back"),
            false => format!("{why}; and giving the old one its name back failed: {}", back.stderr.trim()),
        }
    };
    let stop = Order::action(&aside_name, Action::Stop, target.settings.restart_timeout);
    if let Some(stop) = stop
        && let Err(why) = step(docker, &aside, &stop, "stopping the old container")
    {
        return Err(undo(why));
    }
    if let Err(out) = docker.create(&here, &body) {
        return Err(undo(said("creating its successor", &target.container, &out)));
    }
    let remove_new = |why: String| -> String {
        if let Some(stop) = Order::action(&target.container, Action::Stop, Duration::ZERO) {
            let _ = docker.order(&here, &stop);
        }
        let removed = docker.order(&here, &Order::remove(&target.container));
        let why = if removed.success() { why } else { format!("{why}; removing the new one failed too") };
        undo(why)
    };
    if let Err(why) = step(docker, &here, &Order::start(&target.container), "starting its successor") {
        return Err(remove_new(why));
    }
    let (recovery, _, error) = await_recovery(pass.probe, docker, pass.clock, target, pass.early.deadline, None);
    if recovery != Recovery::Recovered {
        return Err(remove_new(format!("its successor did not answer: {}", error.unwrap_or_default())));
    }
    let removed = docker.order(&aside, &Order::remove(&aside_name));
    let left_behind = (!removed.success())
        .then(|| format!("the old container {aside_name} could not be removed: {}", removed.stderr.trim()));
    Ok(Recreated { left_behind })
}

/// Runs `order` as one step of the transaction: `Err` says which step failed and why.
fn step(docker: &dyn Containers, container: &ContainerRef, order: &Order, doing: &str) -> Result<(), String> {
    let out = docker.order(container, order);
    if out.success() { Ok(()) } else { Err(said(doing, &container.name, &out)) }
}

/// A failed step, said with the engine's words.
fn said(doing: &str, container: &str, out: &CommandOutcome) -> String {
    crate::model::one_line(&format!("{doing} {container} failed: {}", out.stderr.trim()), 600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::config::Config;
    use crate::docker::fake::{FakeDocker, container};
    use crate::docker::{ContainerInfo, ContainerSummary};
    use crate::memory::state::State;
    use crate::model::{Endpoint, HealthUrl};
    use crate::pass::{Early, run_pass};

    struct Answers;

    impl crate::check::Probe for Answers {
        fn check(&self, _: &Target, _: &crate::config::HttpCheck, _: Duration) -> crate::check::Check {
            crate::check::Check::passed(Some(200), Duration::from_millis(1))
        }
    }

    /// `vpn` replaced (a new id), `app` still naming the old one; memory knows app's
    /// provider was `vpn`; recreating allowed.
    fn stranded(docker: FakeDocker) -> (FakeDocker, Vec<Target>, State) {
        let vpn = container("vpn", "always", &[]);
        let old = "9".repeat(64);
        let app = ContainerInfo { network_mode: Some(format!("container:{old}")), ..container("app", "always", &[]) };
        let kept: Vec<ContainerSummary> = [&vpn, &app].map(|c| ContainerSummary::from(c.clone())).to_vec();
        let mut vpn_target = Target::http("vpn", "vpn", HealthUrl::parse("http://127.0.0.1:9/").unwrap());
        vpn_target.settings.recreate_dependents = true;
        let mut roster = vec![vpn_target];
        let remembered = |name: &str| (name == "app").then(|| "vpn".to_string());
        crate::graph::weave(&mut roster, (&Endpoint::Default, &kept), "", &remembered);
        let mut memory = State::default();
        memory.targets.insert("app".into(), TargetState { provider: Some("vpn".into()), ..TargetState::default() });
        (docker.with_engine(Endpoint::Default, Ok(vec![vpn, app])), roster, memory)
    }

    fn pass(roster: &[Target], docker: &FakeDocker, memory: &State) -> Vec<TargetResult> {
        let clock = FakeClock::at(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        let pass = Pass {
            probe: &Answers,
            docker: Some(docker),
            inspector: Some(docker),
            memory,
            clock: &clock,
            early: Early::none(),
        };
        run_pass(&Config::new(roster.to_vec()), roster, &pass).0
    }

    #[test]
    fn a_stranded_dependent_is_made_again_in_its_providers_successor_and_the_old_one_removed() {
        let (docker, roster, memory) = stranded(FakeDocker::new("running", 0));
        assert_eq!(roster.len(), 2, "{roster:?}");
        let results = pass(&roster, &docker, &memory);
        let app = &results[1];
        assert_eq!(
            (app.outcome, app.cause.as_deref()),
            (Outcome::Recreated, Some("provider vpn was replaced")),
            "{app:?}"
        );
        assert_eq!(app.recovery, Recovery::Recovered);
        let calls: Vec<String> =
            docker.calls().into_iter().filter(|c| !c.starts_with("inspect") && !c.starts_with("list")).collect();
        let aside = "app-healwatch-app012345678";
        assert_eq!(
            calls,
            [
                format!("rename app {aside}"),
                format!("stop {aside} 10"),
                "create app container:vpn0123456789abcdef".to_string(),
                "start app".to_string(),
                format!("remove {aside}"),
            ]
        );
    }

    #[test]
    fn a_refused_create_gives_the_old_container_its_name_back_and_says_so() {
        let (docker, roster, memory) = stranded(FakeDocker::new("running", 0).with_create_refused(1));
        let results = pass(&roster, &docker, &memory);
        let app = &results[1];
        assert_eq!(app.outcome, Outcome::RestartFailed, "{app:?}");
        let said = app.action.as_ref().map(|a| a.stderr.clone()).unwrap_or_default();
        assert!(said.contains("creating its successor app failed") && said.contains("has its name back"), "{said}");
        assert!(docker.calls().contains(&"rename app-healwatch-app012345678 app".to_string()), "{:?}", docker.calls());
        let mut off = roster.clone();
        off[1].settings.recreate_dependents = false;
        let (docker, _, _) = stranded(FakeDocker::new("running", 0));
        let results = pass(&off, &docker, &memory);
        assert_eq!(results[1].outcome, Outcome::NeedsRecreate, "without the opt-in, said only: {results:?}");
        assert!(
            !docker.calls().iter().any(|c| c.starts_with("rename") || c.starts_with("create")),
            "{:?}",
            docker.calls()
        );
    }
}
