//! Every Engine API call healwatch can make, by feature, with the socket-proxy switches
//! that allow it (Tecnativa's docker-socket-proxy and LinuxServer's socket-proxy name
//! them alike). docs/engine-api.md is generated from this table, a unit test holds every
//! request the code builds to a row of it, and the end-to-end tests hold every request
//! a real proxy saw to one: so an operator can write the allowlist from it, and a
//! refused call says which switch it needed.

/// What a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Feature {
    /// A pass, `check`, `validate` and `audit`: reading containers.
    Look,
    /// Healing: restart, stop, kill, unpause, a SIGCONT.
    Heal,
    /// `exec` checks, and a HEALTHCHECK confirmed by running its command.
    Exec,
    /// `log_pattern` checks, and a crash loop's last words.
    Logs,
    /// A watch hearing Docker's events.
    Events,
    /// `recreate_dependents`.
    Recreate,
}

impl Feature {
    /// As the table and `validate` say it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Look => "look (every pass, check, validate, audit)",
            Self::Heal => "heal (action restart, stop or kill; a paused container unpaused)",
            Self::Exec => "exec checks, HEALTHCHECKs confirmed",
            Self::Logs => "log_pattern, a crash loop's last lines",
            Self::Events => "--watch (Docker's events)",
            Self::Recreate => "recreate_dependents",
        }
    }
}

/// One call: its method, its path (`{name}` a container's name or id, `{id}` an
/// exec's), what it is, and the proxy switches that let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApiCall {
    pub feature: Feature,
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
    pub switches: &'static [&'static str],
}

const fn row(
    feature: Feature,
    method: &'static str,
    path: &'static str,
    what: &'static str,
    switches: &'static [&'static str],
) -> ApiCall {
    ApiCall { feature, method, path, what, switches }
}

const CONTAINERS: &[&str] = &["CONTAINERS"];
const CONTAINERS_POST: &[&str] = &["CONTAINERS", "POST"];

/// Every call, by feature.
pub(crate) const TABLE: &[ApiCall] = &[
    row(
        Feature::Look,
        "GET",
        "/containers/json",
        "list every container (with a label filter for a compose project)",
        CONTAINERS,
    ),
    row(Feature::Look, "GET", "/containers/{name}/json", "inspect one container", CONTAINERS),
    row(Feature::Heal, "POST", "/containers/{name}/restart", "restart (`docker restart -t`)", CONTAINERS_POST),
    row(Feature::Heal, "POST", "/containers/{name}/stop", "action stop", CONTAINERS_POST),
    row(Feature::Heal, "POST", "/containers/{name}/kill", "action kill; SIGCONT to a stopped process", CONTAINERS_POST),
    row(Feature::Heal, "POST", "/containers/{name}/unpause", "unpause before a restart", CONTAINERS_POST),
    row(Feature::Exec, "POST", "/containers/{name}/exec", "make the exec", CONTAINERS_POST),
    row(Feature::Exec, "POST", "/exec/{id}/start", "run it, its output attached", &["EXEC", "POST"]),
    row(Feature::Exec, "GET", "/exec/{id}/json", "its exit code", &["EXEC"]),
    row(Feature::Logs, "GET", "/containers/{name}/logs", "read the log as it streams", CONTAINERS),
    row(Feature::Events, "GET", "/events", "container events (die, oom, pause, start, health_status)", &["EVENTS"]),
    row(Feature::Recreate, "POST", "/containers/create", "make the successor", CONTAINERS_POST),
    row(Feature::Recreate, "POST", "/containers/{name}/rename", "move the old one aside, or back", CONTAINERS_POST),
    row(Feature::Recreate, "POST", "/containers/{name}/start", "start the successor", CONTAINERS_POST),
    row(Feature::Recreate, "DELETE", "/containers/{name}", "remove the old one (its volumes kept)", CONTAINERS_POST),
];

/// The row a request (`METHOD`, a path with its query) is, if any.
pub(crate) fn matching(method: &str, path: &str) -> Option<&'static ApiCall> {
    let path = path.split('?').next().unwrap_or(path);
    // With or without the API version prefix (`/v1.43/containers/json`).
    let path = match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.find('/').map_or(path, |i| &rest[i..]),
        _ => path,
    };
    TABLE.iter().find(|row| row.method == method && fits(row.path, path))
}

/// Whether `path` is `pattern` with each `{…}` one path segment.
fn fits(pattern: &str, path: &str) -> bool {
    let (want, got): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    want.len() == got.len()
        && want.iter().zip(&got).all(|(w, g)| if w.starts_with('{') { !g.is_empty() } else { w == g })
        // `/containers/json` is the list, never a container named `json`'s inspect.
        && !(pattern == "/containers/{name}/json" && got.get(2) == Some(&"json") && got.len() == 3)
}

/// Whether an answer with status `code` and `body` is a refusal of the call itself (a
/// socket proxy's 403 or 405, or any client error that is not the daemon's own JSON
/// answer), not the daemon's word about a container ("No such container" is a 404 with
/// its message).
pub(crate) fn is_refusal(code: u16, body: &[u8]) -> bool {
    let daemons = || serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["message"].is_string());
    matches!(code, 403 | 405) || ((400..500).contains(&code) && !daemons())
}

/// A call the engine's API, or a socket proxy before it, refused: its words are
/// `refused`'s. Kept as its own error so a listing refused reads as refused, not as an
/// engine down (`is_refused`).
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Whether `e` is, or was caused by, a refused call.
pub(crate) fn is_refused(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<Refusal>())
}

/// A refused call, said with the switch that allows it: "the engine's API, or a socket
/// proxy before it, refused POST /containers/web/restart (403): allow it with
/// CONTAINERS=1 POST=1 (docs/engine-api.md)".
pub(crate) fn refused(method: &str, path: &str, code: u16) -> String {
    let shown = crate::model::one_line(path.split('?').next().unwrap_or(path), 200);
    let allow = match matching(method, path) {
        Some(row) => format!(
            "allow it with {} ({})",
            row.switches.iter().map(|s| format!("{s}=1")).collect::<Vec<_>>().join(" "),
            row.feature.as_str()
        ),
        None => "it is in no row of docs/engine-api.md".to_string(),
    };
    format!(
        "the engine's API, or a socket proxy before it, refused {method} {shown} ({code}): {allow}, see docs/engine-api.md"
    )
}

/// The switches every call of `features` needs, each once, sorted.
pub(crate) fn switches(features: &[Feature]) -> Vec<&'static str> {
    let mut all: Vec<&str> =
        TABLE.iter().filter(|r| features.contains(&r.feature)).flat_map(|r| r.switches.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The table as Markdown, for docs/engine-api.md.
pub(crate) fn markdown() -> String {
    let mut out =
        String::from("| feature | method | path | what | socket-proxy switches |\n| --- | --- | --- | --- | --- |\n");
    for r in TABLE {
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} | `{}` |\n",
            r.feature.as_str(),
            r.method,
            r.path,
            r.what,
            r.switches.join("` `")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::docker::Order;
    use crate::model::Action;

    /// The request line's method and path.
    fn line(request: &super::super::wire::Request) -> (String, String) {
        (request.method.to_string(), request.path.clone())
    }

    #[test]
    fn every_request_the_code_builds_is_a_row() {
        let mut built = vec![
            line(&super::super::wire::Request::get("/containers/json?all=1")),
            line(super::super::calls::Call::inspect("web").wire()),
            line(&crate::docker::events::events_request(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH)),
        ];
        for order in [
            Order::unpause("web"),
            Order::wake("web"),
            Order::start("web"),
            Order::rename("web", "web-old"),
            Order::remove("web-old"),
        ]
        .into_iter()
        .chain([Action::Restart, Action::Stop, Action::Kill].map(|a| Order::action("web", a, Duration::ZERO).unwrap()))
        {
            built.push(line(&order.api));
        }
        built.extend(super::super::calls::exec_requests("web", "0123abcd").iter().map(line));
        built.push(line(&super::super::logs::request("web", "tail=5")));
        built.push(("POST".into(), "/containers/create?name=web".into()));
        for (method, path) in &built {
            assert!(matching(method, path).is_some(), "{method} {path} is in no row of the table");
        }
        assert_eq!(matching("GET", "/v1.43/containers/json").map(|r| r.feature), Some(Feature::Look));
        assert_eq!(matching("GET", "/containers/web/json").map(|r| r.what), Some("inspect one container"));
        assert!(matching("POST", "/containers/web/pause").is_none(), "healwatch never pauses");
        assert!(matching("POST", "/images/create").is_none());
    }

    #[test]
    fn the_switches_of_a_feature() {
        assert_eq!(switches(&[Feature::Look]), ["CONTAINERS"]);
        assert_eq!(switches(&[Feature::Look, Feature::Heal, Feature::Events]), ["CONTAINERS", "EVENTS", "POST"]);
        assert_eq!(switches(&[Feature::Exec]), ["CONTAINERS", "EXEC", "POST"]);
    }
}
