//! The Docker calls that change a container and answer only with how that went, each
//! said once for both routes: the docker CLI's words and the Engine API's request. An
//! engine runs any of them (`Containers::order`); the seam's methods (`unpause`, `wake`,
//! `act`) are each one order.

use std::time::Duration;

use super::api::wire::{Request, segment};
use super::{QUICK_TIMEOUT, RESTART_MARGIN, whole_seconds};
use crate::model::Action;

/// One call that changes a container: what it is on each route, and its bound as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    /// What it is, as the recording fake notes it: `unpause app`, `restart app 10`.
    pub(crate) name: String,
    /// The docker CLI's arguments.
    pub(crate) cli: Vec<String>,
    /// The Engine API's request.
    pub(crate) api: Request,
    /// How long it may take in all.
    pub(crate) bound: Duration,
}

impl Order {
    /// `docker unpause NAME`: `POST /containers/NAME/unpause`.
    pub(crate) fn unpause(container: &str) -> Self {
        Self {
            name: format!("unpause {container}"),
            cli: words(&["unpause", "--", container]),
            api: Request::post(format!("/containers/{}/unpause", segment(container)), None),
            bound: QUICK_TIMEOUT,
        }
    }

    /// `docker kill --signal CONT NAME`, which wakes a stopped PID 1.
    pub(crate) fn wake(container: &str) -> Self {
        Self {
            name: format!("wake {container}"),
            cli: words(&["kill", "--signal", "CONT", "--", container]),
            api: Request::post(format!("/containers/{}/kill?signal=CONT", segment(container)), None),
            bound: QUICK_TIMEOUT,
        }
    }

    /// `docker start NAME`: a container recreated, or given its place back.
    pub(crate) fn start(container: &str) -> Self {
        Self {
            name: format!("start {container}"),
            cli: words(&["start", "--", container]),
            api: Request::post(format!("/containers/{}/start", segment(container)), None),
            bound: RESTART_MARGIN,
        }
    }

    /// `docker rename NAME NEW`: a container moved aside while its successor is made.
    pub(crate) fn rename(container: &str, new: &str) -> Self {
        Self {
            name: format!("rename {container} {new}"),
            cli: words(&["rename", container, new]),
            api: Request::post(format!("/containers/{}/rename?name={}", segment(container), segment(new)), None),
            bound: QUICK_TIMEOUT,
        }
    }

    /// `docker rm NAME` of a stopped container, keeping its volumes (no `-v`, no `-f`):
    /// the container a recreate replaced, or a successor that failed.
    pub(crate) fn remove(container: &str) -> Self {
        Self {
            name: format!("remove {container}"),
            cli: words(&["rm", "--", container]),
            api: Request::delete(format!("/containers/{}", segment(container))),
            bound: QUICK_TIMEOUT,
        }
    }

    /// `docker restart -t SECS`, `docker stop -t SECS` or `docker kill` (`stop_timeout`
    /// rounded up to whole seconds, as Docker takes it); `None` for `Action::Notify`,
    /// which runs nothing.
    pub(crate) fn action(container: &str, action: Action, stop_timeout: Duration) -> Option<Self> {
        let secs = whole_seconds(stop_timeout).to_string();
        let name = segment(container);
        let (cli, path, bound) = match action {
            Action::Restart => (
                words(&["restart", "-t", &secs, "--", container]),
                format!("/containers/{name}/restart?t={secs}"),
                stop_timeout + RESTART_MARGIN,
            ),
            Action::Stop => (
                words(&["stop", "-t", &secs, "--", container]),
                format!("/containers/{name}/stop?t={secs}"),
                stop_timeout + RESTART_MARGIN,
            ),
            Action::Kill => (words(&["kill", "--", container]), format!("/containers/{name}/kill"), QUICK_TIMEOUT),
            Action::Notify => return None,
        };
        let name = format!("{} {container} {}", action.as_str(), stop_timeout.as_secs());
        Some(Self { name, cli, api: Request::post(path, None), bound })
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_order_says_the_same_on_both_routes() {
        let restart = Order::action("web/1", Action::Restart, Duration::from_millis(9_500)).unwrap();
        assert_eq!(restart.cli, ["restart", "-t", "10", "--", "web/1"]);
        assert!(restart.api.text().starts_with("POST /containers/web%2F1/restart?t=10 HTTP/1.0\r\n"), "{restart:?}");
        assert_eq!(restart.bound, Duration::from_millis(9_500) + RESTART_MARGIN);
        let kill = Order::action("web", Action::Kill, Duration::from_secs(10)).unwrap();
        assert_eq!((kill.cli.join(" ").as_str(), kill.bound), ("kill -- web", QUICK_TIMEOUT));
        assert!(Order::action("web", Action::Notify, Duration::from_secs(10)).is_none());
        let stop = Order::action("web", Action::Stop, Duration::from_secs(3)).unwrap();
        assert!(stop.api.text().starts_with("POST /containers/web/stop?t=3 "), "{stop:?}");
        let rename = Order::rename("app", "app-old");
        assert_eq!(rename.cli, ["rename", "app", "app-old"]);
        assert!(rename.api.text().starts_with("POST /containers/app/rename?name=app-old "), "{rename:?}");
        let remove = Order::remove("app-old");
        assert_eq!(remove.cli, ["rm", "--", "app-old"], "never -v: the volumes stay");
        assert!(remove.api.text().starts_with("DELETE /containers/app-old HTTP/1.0\r\n"), "{remove:?}");
        assert!(Order::start("app").api.text().starts_with("POST /containers/app/start "));
        assert!(Order::wake("a.b_c").api.text().starts_with("POST /containers/a.b_c/kill?signal=CONT "));
        let unpause = Order::unpause("../x?y=1 #");
        assert!(unpause.api.text().starts_with("POST /containers/..%2Fx%3Fy%3D1%20%23/unpause "), "{unpause:?}");
        assert_eq!(unpause.cli, ["unpause", "--", "../x?y=1 #"], "the CLI takes the name as one argument");
    }
}
