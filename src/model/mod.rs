//! The vocabulary every step speaks: outcomes, actions, engines, container references,
//! Docker's states, values with their parsers (durations, status sets, names, URLs) and
//! timestamps. Plain types; this module imports nothing else of healwatch's, and every
//! step imports it.

mod docker;
mod lean;
mod redact;
mod result;
pub(crate) mod rfc3339;
mod values;

use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use docker::{ContainerRef, ContainerStatus, DockerHealth, Endpoint, RestartPolicy};
pub(crate) use lean::{Leaning, Via};
pub(crate) use redact::{HealthUrl, MASK, TcpAddr, one_line, percent_decode, printable, redact_text, unprintable};
pub(crate) use result::{ActionRun, TargetResult, WatchPace, millis, show_ms};
pub(crate) use rfc3339::timestamp;
pub(crate) use values::{StatusSet, parse_duration, validate_container_name, validate_header, validate_name};

/// What a pass did to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The check passed.
    Healthy,
    /// The check failed and `docker restart` ran and exited 0 (see `recovered`).
    Restarted,
    /// The check failed and the docker command failed, timed out or could not run.
    RestartFailed,
    /// The check failed in a dry run (or with `action = "notify"`): nothing was done.
    Unhealthy,
    /// The check failed, but fewer passes in a row than `failure_threshold`.
    Failing,
    /// The crash-loop guard: `max_restarts` reached within `restart_window`; no restart.
    GaveUp,
    /// The check failed, but the container is younger than `start_period`; no restart.
    Starting,
    /// In a maintenance pause (`healwatch pause`): checked and reported, never restarted.
    Paused,
    /// The check failed and the target's `action` (stop or kill) ran.
    Acted,
    /// The container is exited or created and `ignore_stopped` is set: left alone.
    Stopped,
    /// A discovered target whose labels are wrong: nothing checked (see `error`).
    Invalid,
    /// A signal stopped the pass before this target was checked: nothing done.
    Interrupted,
    /// The check failed and the target's Docker engine could not be reached: no restart
    /// attempt (it does not count toward `max_restarts`); `error` names the engine.
    EngineDown,
    /// It runs in the network namespace of a container that no longer exists (its
    /// provider was replaced): only recreating it helps, and `recreate_dependents` is not
    /// set; `error` says the command that does it.
    NeedsRecreate,
    /// It ran in the network namespace of a container that was replaced, and was made
    /// again in its successor's (`recreate_dependents`): see `recovered`.
    Recreated,
}

impl Outcome {
    /// Every outcome, in the order they are documented.
    pub(crate) const ALL: [Outcome; 15] = [
        Self::Healthy,
        Self::Restarted,
        Self::RestartFailed,
        Self::Unhealthy,
        Self::Failing,
        Self::GaveUp,
        Self::Starting,
        Self::Paused,
        Self::Acted,
        Self::Stopped,
        Self::Invalid,
        Self::Interrupted,
        Self::EngineDown,
        Self::NeedsRecreate,
        Self::Recreated,
    ];

    /// The name used in the status line and the state file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Restarted => "restarted",
            Self::RestartFailed => "restart_failed",
            Self::Unhealthy => "unhealthy",
            Self::Failing => "failing",
            Self::GaveUp => "gave_up",
            Self::Starting => "starting",
            Self::Paused => "paused",
            Self::Acted => "acted",
            Self::Stopped => "stopped",
            Self::Invalid => "invalid",
            Self::Interrupted => "interrupted",
            Self::EngineDown => "engine_down",
            Self::NeedsRecreate => "needs_recreate",
            Self::Recreated => "recreated",
        }
    }

    /// Whether a target with this outcome counts as healthy at the end of the pass (the
    /// exit status): a restart counts unless recovery was waited for and did not come; a
    /// paused target and one an operator stopped (`ignore_stopped`) never fail a pass:
    /// neither is an incident.
    pub(crate) fn healthy_now(self, recovery: Recovery) -> bool {
        match self {
            Self::Healthy | Self::Paused | Self::Stopped => true,
            Self::Restarted | Self::Recreated => recovery != Recovery::NotRecovered,
            Self::RestartFailed
            | Self::Unhealthy
            | Self::Failing
            | Self::GaveUp
            | Self::Starting
            | Self::Acted
            | Self::Invalid
            | Self::Interrupted
            | Self::EngineDown
            | Self::NeedsRecreate => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// After a restart: did the target answer healthy again?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// No restart ran, so there is nothing to recover (the field is left out).
    #[default]
    NotRestarted,
    /// Restarted, and recovery was not waited for (`recovery_timeout = 0`): `null`.
    NotWaited,
    /// Healthy again within `recovery_timeout`: `true`.
    Recovered,
    /// Not healthy within `recovery_timeout`: `false`.
    NotRecovered,
    /// Still recovering when the pass stopped waiting, the wait handed over to whoever
    /// started the pass (a watch looks on until `recovery_timeout` and starts a pass
    /// when it answers): `null`.
    Pending,
}

impl Recovery {
    /// For `skip_serializing_if`: the status line leaves the field out without a restart.
    pub(crate) fn is_not_restarted(&self) -> bool {
        *self == Self::NotRestarted
    }
}

impl Serialize for Recovery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Recovered => s.serialize_bool(true),
            Self::NotRecovered => s.serialize_bool(false),
            Self::NotRestarted | Self::NotWaited | Self::Pending => s.serialize_none(),
        }
    }
}

/// What to do to a failing target's container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// `docker restart` (and wait for recovery).
    #[default]
    Restart,
    /// `docker stop`: take it out (e.g. so a load balancer stops sending it traffic).
    Stop,
    /// `docker kill`.
    Kill,
    /// Nothing: report it (notifications and metrics still fire).
    Notify,
}

impl Action {
    /// The name, as in config and output.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Stop => "stop",
            Self::Kill => "kill",
            Self::Notify => "notify",
        }
    }
}

/// How a target's health is checked: the status line's `check`, the metrics' `check`
/// label, `validate` and `audit` say it by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckKind {
    /// An HTTP GET.
    Http,
    /// A TCP connection (with an optional exchange).
    Tcp,
    /// A command in the container.
    Exec,
    /// Docker's own HEALTHCHECK.
    Docker,
    /// Only the container's logs.
    Log,
    /// None of its own: a container that leans on a watched one (its network namespace,
    /// compose's `depends_on` with `restart: true`), healed when its provider restarts.
    Provider,
}

impl CheckKind {
    /// The name, as the status line writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Exec => "exec",
            Self::Docker => "docker",
            Self::Log => "log",
            Self::Provider => "provider",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which containers with an unhealthy Docker HEALTHCHECK a pass heals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Unhealthy {
    /// None (only URL targets).
    #[default]
    Off,
    /// Those labelled `healwatch.enable=true`.
    Label,
    /// Every one not labelled `healwatch.enable=false`.
    All,
}

impl Unhealthy {
    /// The mode as the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Label => "label",
            Self::All => "all",
        }
    }
}

/// How a pass prints its report on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON status line.
    #[default]
    Json,
    /// A short report for people: a line per target that is not plainly healthy, and a
    /// summary.
    Text,
}

impl Format {
    /// The name, as the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

/// An enum whose values are written as names (in the config file, labels, output): one
/// parse for all of them, with one kind of error.
pub(crate) trait Named: Copy + 'static {
    /// What one value is, for errors: "an action".
    const WHAT: &'static str;
    /// Every value.
    const ALL: &'static [Self];
    /// Its name.
    fn name(self) -> &'static str;

    /// The value named `text`, or an error naming every value.
    fn parse(text: &str) -> anyhow::Result<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
            anyhow::anyhow!("'{text}' is not {} (one of: {})", Self::WHAT, names.join(", "))
        })
    }
}

impl Named for Outcome {
    const WHAT: &'static str = "an outcome";
    const ALL: &'static [Self] = &Outcome::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for Action {
    const WHAT: &'static str = "an action";
    const ALL: &'static [Self] = &[Self::Restart, Self::Stop, Self::Kill, Self::Notify];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for Unhealthy {
    const WHAT: &'static str = "a mode";
    const ALL: &'static [Self] = &[Self::Off, Self::Label, Self::All];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for Format {
    const WHAT: &'static str = "a format";
    const ALL: &'static [Self] = &[Self::Json, Self::Text];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Named + PartialEq + fmt::Debug>() {
        for &value in T::ALL {
            assert_eq!(T::parse(value.name()).unwrap(), value);
        }
        let err = T::parse("Nope").unwrap_err().to_string();
        assert!(err.starts_with(&format!("'Nope' is not {} (one of: ", T::WHAT)), "{err}");
        assert!(T::ALL.iter().all(|v| err.contains(v.name())), "{err}");
    }

    #[test]
    fn every_named_value_parses_from_its_name() {
        round_trips::<Outcome>();
        round_trips::<Action>();
        round_trips::<Unhealthy>();
        round_trips::<Format>();
    }

    /// Every outcome: its serde name, its parse, and whether it fails a pass.
    #[test]
    fn every_outcome_name_and_health() {
        use Outcome::*;
        use Recovery::*;
        let cases = [
            (Healthy, NotRestarted, "healthy", true),
            (Restarted, Recovered, "restarted", true),
            (Restarted, NotWaited, "restarted", true),
            (Restarted, NotRecovered, "restarted", false),
            (RestartFailed, NotRestarted, "restart_failed", false),
            (Unhealthy, NotRestarted, "unhealthy", false),
            (Failing, NotRestarted, "failing", false),
            (GaveUp, NotRestarted, "gave_up", false),
            (Starting, NotRestarted, "starting", false),
            (Paused, NotRestarted, "paused", true),
            (Acted, NotRestarted, "acted", false),
            (Stopped, NotRestarted, "stopped", true),
            (Invalid, NotRestarted, "invalid", false),
            (Interrupted, NotRestarted, "interrupted", false),
            (EngineDown, NotRestarted, "engine_down", false),
            (NeedsRecreate, NotRestarted, "needs_recreate", false),
            (Recreated, Recovered, "recreated", true),
        ];
        for outcome in Outcome::ALL {
            assert!(cases.iter().any(|c| c.0 == outcome), "{outcome:?} has no case");
        }
        for (outcome, recovery, name, healthy) in cases {
            assert_eq!(serde_json::to_value(outcome).unwrap(), name);
            assert_eq!(outcome.as_str(), name);
            assert_eq!(Outcome::parse(name).unwrap(), outcome);
            assert_eq!(outcome.healthy_now(recovery), healthy, "{outcome:?} {recovery:?}");
        }
        assert!(Outcome::parse("fine").unwrap_err().to_string().contains("gave_up"));
    }

    #[test]
    fn recovery_serializes_as_the_status_line_always_had_it() {
        assert_eq!(serde_json::to_string(&Recovery::Recovered).unwrap(), "true");
        assert_eq!(serde_json::to_string(&Recovery::NotRecovered).unwrap(), "false");
        assert_eq!(serde_json::to_string(&Recovery::NotWaited).unwrap(), "null");
    }

    #[test]
    fn docker_names() {
        for name in ["created", "running", "paused", "restarting", "removing", "exited", "dead", "odd"] {
            assert_eq!(ContainerStatus::parse(name).as_str(), name);
        }
        assert!(ContainerStatus::parse("paused").is_live() && ContainerStatus::parse("created").is_down());
        assert_eq!(RestartPolicy::from_docker("", 0).to_string(), "no");
        assert_eq!(RestartPolicy::from_docker("on-failure", 5).to_string(), "on-failure:5");
        assert_eq!(RestartPolicy::from_docker("unless-stopped", 0), RestartPolicy::UnlessStopped);
        assert_eq!(DockerHealth::parse("unhealthy"), DockerHealth::Unhealthy);
    }
}
