//! `run --watch`: between passes a watch re-checks, with one attempt each, the HTTP and
//! TCP targets the last pass saw healthy, and reads Docker's events. This is the pure
//! part: which events matter, and whether what a round saw starts a pass early, with
//! which hints (see `pass::Hint`). The loop itself is in `watch/mod.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::check::Check;
use crate::config::{HealthCheck, Target};
use crate::model::{Endpoint, validate_container_name};
use crate::pass::{Hint, Hints};

/// What Docker said happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventKind {
    /// Its main process ended (`die`): a crash, or a stop.
    Died,
    /// The kernel killed a process of it for memory (`oom`).
    OutOfMemory,
    /// `docker pause` froze it.
    Paused,
    /// Its HEALTHCHECK turned unhealthy.
    Unhealthy,
    /// Its HEALTHCHECK turned healthy: news only about a recovery the watch owns.
    Healthy,
    /// It started (`start`): news only about a provider a watched container leans on,
    /// whose restart may have left its dependents in a namespace that is gone.
    Started,
}

/// One event, on the engine it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event {
    pub endpoint: Endpoint,
    pub container: String,
    pub kind: EventKind,
}

/// Reads one line of `docker events --format` `docker::EVENT_FORMAT`. Anything else (another
/// action, a name Docker would not give, a line cut short) is `None`: events are only a
/// reason to look sooner, so an unreadable one costs nothing but that.
pub(super) fn parse_event(endpoint: &Endpoint, line: &str) -> Option<Event> {
    let (name, action) = line.trim_end_matches(['\r', '\n']).split_once('\t')?;
    let kind = match action {
        "die" => EventKind::Died,
        "oom" => EventKind::OutOfMemory,
        "pause" => EventKind::Paused,
        "health_status: unhealthy" => EventKind::Unhealthy,
        "health_status: healthy" => EventKind::Healthy,
        "start" => EventKind::Started,
        _ => return None,
    };
    validate_container_name(name).ok()?;
    Some(Event { endpoint: endpoint.clone(), container: name.to_string(), kind })
}

/// Whether a round re-checks this target between passes: an HTTP or TCP check costs a
/// connection; exec and log checks cost a docker process each, so they wait for the
/// next pass (Docker's events still cover their containers). A HEALTHCHECK target is
/// Docker's to probe: its events say when it turns.
pub(super) fn round_checks(target: &Target) -> bool {
    matches!(target.health, HealthCheck::Http(_) | HealthCheck::Tcp(_))
}

/// What one round saw.
#[derive(Debug, Clone, Default)]
pub(super) struct Round {
    /// Targets whose one attempt failed: the attempt, and how long ago it started. For a
    /// target whose recovery the watch took over, only once its recovery_timeout passed.
    pub failed: Vec<(String, Check, Duration)>,
    /// Targets whose recovery the watch took over that answered healthy: a pass says so.
    pub recovered: Vec<String>,
    /// Docker's events since the last look.
    pub events: Vec<Event>,
    /// How many attempts the round made.
    pub looked: usize,
}

/// Whether to start a pass now, and with which hints. A pass starts when a target the
/// last pass saw healthy failed its attempt, or when Docker said something happened to
/// one of their containers; on an engine in `unhealthy_on` (discovery of unhealthy
/// containers), also when any container's HEALTHCHECK turned unhealthy (the pass lists
/// them again). Events about containers of
/// targets that were not healthy (paused, given up, failing) start nothing: the next
/// scheduled pass deals with those, so a crash loop cannot drive a pass a second.
#[cfg(test)]
pub(super) fn plan(round: Round, healthy: &[Target], unhealthy_on: &BTreeSet<Endpoint>) -> Option<Hints> {
    plan_with(round, (healthy, healthy), unhealthy_on)
}

/// `plan`, where a provider's start is news when any of `leaning` (the last pass's
/// targets that lean on another, healthy or not: one left waiting for its provider is
/// healed by the pass that start begins) leans on it.
pub(super) fn plan_with(
    round: Round,
    (healthy, leaning): (&[Target], &[Target]),
    unhealthy_on: &BTreeSet<Endpoint>,
) -> Option<Hints> {
    let mut hints = Hints::new();
    let mut start = !round.recovered.is_empty();
    for (name, check, spent) in round.failed {
        hints.insert(name, Hint::Failed { check, spent });
        start = true;
    }
    let mut about_healthy = BTreeSet::new();
    // A turn to healthy is news only as a recovery (`look` makes it one).
    for event in round.events.iter().filter(|e| e.kind != EventKind::Healthy) {
        if event.kind == EventKind::Started {
            // A provider's start: its dependents are healed by the pass it starts.
            let leans_on = |t: &Target| {
                t.endpoint == event.endpoint && t.facts.leans.iter().any(|l| l.provider == event.container)
            };
            start |= leaning.iter().any(leans_on);
            continue;
        }
        let mut ours = false;
        for target in healthy {
            let holds =
                target.container_refs().iter().any(|c| c.endpoint == event.endpoint && c.name == event.container);
            if !holds {
                continue;
            }
            ours = true;
            about_healthy.insert(target.name.clone());
            if event.kind == EventKind::Paused {
                hints.insert(target.name.clone(), Hint::Paused);
            }
        }
        start |= ours || (event.kind == EventKind::Unhealthy && unhealthy_on.contains(&event.endpoint));
    }
    start.then_some(hints)
}

/// Drops the events a pass's own actions caused (a restart is a `die`), keeping those
/// about other containers for the next round, and every turn to healthy: that may be
/// the recovery the pass just handed over.
pub(super) fn without_own(events: Vec<Event>, acted: &BTreeSet<(Endpoint, String)>) -> Vec<Event> {
    let own = |e: &Event| acted.contains(&(e.endpoint.clone(), e.container.clone()));
    events.into_iter().filter(|e| e.kind == EventKind::Healthy || !own(e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HealthUrl;

    fn http_target(name: &str, container: &str) -> Target {
        Target::http(name, container, HealthUrl::parse("http://127.0.0.1:9/health").unwrap())
    }

    fn none() -> BTreeSet<Endpoint> {
        BTreeSet::new()
    }

    fn local() -> BTreeSet<Endpoint> {
        BTreeSet::from([Endpoint::Default])
    }

    fn event(name: &str, kind: EventKind) -> Event {
        Event { endpoint: Endpoint::Default, container: name.to_string(), kind }
    }

    #[test]
    fn events_are_read_strictly() {
        let e = Endpoint::Default;
        assert_eq!(parse_event(&e, "app\tdie\n"), Some(event("app", EventKind::Died)));
        assert_eq!(parse_event(&e, "app\thealth_status: unhealthy"), Some(event("app", EventKind::Unhealthy)));
        assert_eq!(parse_event(&e, "app\tpause"), Some(event("app", EventKind::Paused)));
        assert_eq!(parse_event(&e, "app\toom"), Some(event("app", EventKind::OutOfMemory)));
        assert_eq!(parse_event(&e, "app\thealth_status: healthy"), Some(event("app", EventKind::Healthy)));
        assert_eq!(parse_event(&e, "vpn\tstart"), Some(event("vpn", EventKind::Started)));
        for odd in [
            "app\thealth_status: starting",
            "app\texec_die",
            "app die",
            "\tdie",
            "a/b\tdie",
            "app\tdie\textra",
            "../x\tpause",
            "",
        ] {
            assert_eq!(parse_event(&e, odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_failed_attempt_starts_a_pass_that_counts_it() {
        let healthy = [http_target("web", "web")];
        let failed = Check::failed(crate::check::Failure::Status, "HTTP 500", Duration::from_millis(3));
        let check = Check { http_status: Some(500), ..failed };
        let round =
            Round { failed: vec![("web".into(), check.clone(), Duration::from_millis(40))], ..Round::default() };
        let hints = plan(round, &healthy, &none()).expect("a pass starts");
        assert_eq!(hints.get("web"), Some(&Hint::Failed { check, spent: Duration::from_millis(40) }));
    }

    #[test]
    fn a_providers_start_starts_a_pass_and_anyone_elses_does_not() {
        let mut dependent = http_target("qbit", "qbit");
        dependent.facts.leans.push(crate::model::Leaning {
            provider: "vpn".into(),
            dependent: "qbit".into(),
            reference: "vpn".into(),
            via: crate::model::Via::Network,
            exists: true,
        });
        let healthy = [dependent.clone(), http_target("web", "web")];
        let started = |name: &str| Round { events: vec![event(name, EventKind::Started)], ..Round::default() };
        assert_eq!(plan(started("vpn"), &healthy, &none()), Some(Hints::new()));
        assert_eq!(plan(started("web"), &healthy, &none()), None, "a target's own start is no news");
        assert_eq!(plan(started("db"), &healthy, &local()), None);
        // A dependent left waiting (not healthy) still hears its provider start.
        let web = [http_target("web", "web")];
        let waiting = [dependent];
        assert_eq!(plan_with(started("vpn"), (&web, &waiting), &none()), Some(Hints::new()));
    }

    #[test]
    fn only_events_about_healthy_targets_start_a_pass() {
        let healthy = [http_target("web", "web-1")];
        assert_eq!(plan(Round::default(), &healthy, &local()), None, "a quiet round starts nothing");
        let paused = Round { events: vec![event("web-1", EventKind::Paused)], ..Round::default() };
        assert_eq!(plan(paused, &healthy, &none()).unwrap().get("web"), Some(&Hint::Paused));
        let died = Round { events: vec![event("web-1", EventKind::Died)], ..Round::default() };
        assert_eq!(plan(died, &healthy, &none()), Some(Hints::new()));
        // A container of no healthy target (a crash loop given up on, say) starts nothing...
        let other = || Round { events: vec![event("db", EventKind::Died)], ..Round::default() };
        assert_eq!(plan(other(), &healthy, &local()), None);
        // ...unless discovery of unhealthy containers would find it.
        let unhealthy = || Round { events: vec![event("db", EventKind::Unhealthy)], ..Round::default() };
        assert_eq!(plan(unhealthy(), &healthy, &none()), None);
        assert_eq!(plan(unhealthy(), &healthy, &local()), Some(Hints::new()));
        // A turn to healthy starts nothing by itself, even about a healthy target.
        let turned = Round { events: vec![event("web-1", EventKind::Healthy)], ..Round::default() };
        assert_eq!(plan(turned, &healthy, &local()), None);
        // The same name on another engine is another container.
        let elsewhere = Endpoint::Host("unix:///other.sock".to_string());
        let remote = Round {
            events: vec![Event { endpoint: elsewhere, ..event("web-1", EventKind::Died) }],
            ..Round::default()
        };
        assert_eq!(plan(remote, &healthy, &none()), None);
    }

    #[test]
    fn a_pass_own_restarts_are_not_news() {
        let acted = BTreeSet::from([(Endpoint::Default, "web-1".to_string())]);
        let events =
            vec![event("web-1", EventKind::Died), event("db", EventKind::Died), event("web-1", EventKind::Healthy)];
        let kept = without_own(events, &acted);
        assert_eq!(kept, vec![event("db", EventKind::Died), event("web-1", EventKind::Healthy)]);
    }
}
