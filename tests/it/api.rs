//! Engines given by a `unix://` host are reached through the Docker Engine API itself:
//! one request lists them, one more inspects each container discovery may heal by its
//! HEALTHCHECK, and a restart is one more; the docker CLI is never started. A stand-in API on a unix socket says what it likes:
//! whatever it says is one engine's trouble, never a panic or a hang.

use serde_json::{Value, json};

use crate::util::{Behaviour, FakeApi, FakeDocker, Healwatch, Run, Server, api_answer, write_file};

/// `GET /containers/json` for these (name, state, labels).
fn list(containers: &[(&str, &str, Value)]) -> String {
    let items: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, (name, state, labels))| {
            json!({"Id": format!("{i:0>12}0123456789abcdef"), "Names": [format!("/{name}")], "State": state, "Labels": labels})
        })
        .collect();
    Value::from(items).to_string()
}

/// A stand-in API that lists `listing`, answers each of `routes` (a request line's
/// prefix and the answer), and anything else with 404.
fn api_with(listing: &str, routes: Vec<(&str, Vec<u8>)>) -> FakeApi {
    let mut all = vec![("GET /containers/json".to_string(), api_answer(200, listing))];
    all.extend(routes.into_iter().map(|(prefix, answer)| (prefix.to_string(), answer)));
    FakeApi::routed(all, api_answer(404, "{\"message\": \"page not found\"}"))
}

/// A pass with the local engine (not discovering) and the stand-in as engine `api`.
fn pass(api: &FakeApi, docker: &FakeDocker, unhealthy: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[engine]]\nname = 'local'\ndiscover = false\n\n[[engine]]\nname = 'api'\nhost = '{}'\ndiscover = true\nunhealthy = '{unhealthy}'\n",
        api.host()
    );
    let config = write_file(dir.path(), "c.toml", &config);
    Healwatch::new().docker(docker).arg("-c").arg(&config).run()
}

fn engine(run: &Run) -> Value {
    let engines = run.status_line()["engines"].as_array().cloned().unwrap_or_default();
    engines.into_iter().find(|e| e["name"] == "api").unwrap_or_else(|| panic!("no engine api\n{run}"))
}

#[test]
fn an_engine_given_by_its_socket_is_listed_through_its_api_alone() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let url = up.url("/health");
    let listing = list(&[
        ("app", "running", json!({"healwatch.url": url})),
        ("db", "running", json!({})),
        ("old", "exited", json!({"healwatch.url": url})),
        ("bad\u{1b}[31m", "running", json!({"healwatch.url": url})),
    ]);
    // Still exited when the action looks (a container started since is not restarted).
    let old_exited = json!({"Id": "0000000000020123456789abcdef", "Name": "/old", "State": {"Status": "exited"}});
    let api = api_with(
        &listing,
        vec![
            ("POST /containers/old/restart?t=10 ", api_answer(204, "")),
            ("GET /containers/old/json ", api_answer(200, &old_exited.to_string())),
        ],
    );
    let docker = FakeDocker::new();
    let run = pass(&api, &docker, "off");
    assert_eq!(run.target("api/app")["outcome"], "healthy", "{run}");
    // A labelled container that exited is a target that is down: started, never checked
    // (the one other request is its recovery's).
    let old = run.target("api/old");
    assert_eq!((old["outcome"].as_str(), old["error"].as_str()), (Some("restarted"), Some("container old exited")));
    assert_eq!(up.request_count(), 2, "app is checked, old only after its start\n{run}");
    let bad = run.status_line()["targets"].as_array().unwrap().iter().find(|t| t["outcome"] == "invalid").cloned();
    let bad = bad.unwrap_or_else(|| panic!("the badly named container is reported\n{run}"));
    assert!(!bad["error"].as_str().unwrap().contains('\u{1b}'), "{run}");
    assert_eq!(engine(&run)["up"], true, "{run}");
    assert_eq!(engine(&run)["containers"], 4, "{run}");
    // Everything through the API: the listing, then old's inspect and restart, and its
    // state while the recovery is awaited; the docker CLI is never started.
    let requests = api.requests();
    assert_eq!(requests[0], "GET /containers/json?all=1 HTTP/1.0");
    assert_eq!(
        requests.iter().filter(|r| r.starts_with("POST")).collect::<Vec<_>>(),
        ["POST /containers/old/restart?t=10 HTTP/1.0"]
    );
    assert!(requests[1..].iter().all(|r| r.contains("/containers/old/")), "{requests:?}");
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
}

#[test]
fn only_containers_that_may_be_healed_by_their_healthcheck_are_inspected() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let listing = list(&[
        ("app", "running", json!({"healwatch.url": up.url("/")})),
        ("hc", "running", json!({"healwatch.enable": "true"})),
        ("plain", "running", json!({})),
    ]);
    // hc's inspect, healthy.
    let hc = json!({
        "Id": "0000000000010123456789abcdef", "Name": "/hc",
        "State": {"Status": "running", "Running": true, "Pid": 7, "Health": {"Status": "healthy", "Log": []}},
        "HostConfig": {"RestartPolicy": {"Name": "no"}},
        "Config": {"Labels": {"healwatch.enable": "true"}, "Healthcheck": {"Test": ["CMD", "true"]}},
    });
    let api = api_with(
        &listing,
        vec![("GET /containers/0000000000010123456789abcdef/json ", api_answer(200, &hc.to_string()))],
    );
    let docker = FakeDocker::new();
    let run = pass(&api, &docker, "label");
    assert_eq!(run.target("api/hc")["outcome"], "healthy", "{run}");
    assert_eq!(run.target("api/hc")["check"], "docker", "{run}");
    assert_eq!(run.target("api/app")["outcome"], "healthy", "{run}");
    // hc alone is inspected, through the API: the docker CLI is never started.
    assert_eq!(
        api.requests(),
        ["GET /containers/json?all=1 HTTP/1.0", "GET /containers/0000000000010123456789abcdef/json HTTP/1.0"]
    );
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
    // Without unhealthy discovery nothing is inspected.
    let docker = FakeDocker::new();
    let run = pass(&api, &docker, "off");
    assert!(run.status_line()["targets"].as_array().unwrap().iter().all(|t| t["name"] != "api/hc"), "{run}");
    assert_eq!(api.requests().len(), 3, "one more listing only: {:?}", api.requests());
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
}

#[test]
fn whatever_the_api_answers_is_one_engines_trouble() {
    let secret = "https://ops:hunter2@vault.example/x";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (api_answer(500, &json!({"message": format!("boom\nsecond line {secret}")}).to_string()), "answered 500: boom"),
        (b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(), "not HTTP"),
        (api_answer(200, "<html>proxy</html>"), "not the API's JSON array"),
        (api_answer(200, "{\"Id\": \"x\"}"), "not the API's JSON array"),
        (
            api_answer(200, "[{\"Id\": \"x\", \"State\": \"running\", \"Labels\": {\"k\": 7}}]"),
            "not the API's JSON array",
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{\"Id\"".to_vec(), "not the API's JSON array"),
        (Vec::new(), "closed without an answer"),
    ];
    for (answer, want) in cases {
        let api = FakeApi::start(answer);
        let docker = FakeDocker::new();
        let run = pass(&api, &docker, "all");
        assert!(run.code() == 0 || run.code() == 1, "{run}");
        let e = engine(&run);
        assert_eq!(e["up"], false, "{want}\n{run}");
        let error = e["error"].as_str().unwrap();
        assert!(error.contains(want) && !error.contains('\n') && !error.contains("hunter2"), "{want}: {error}\n{run}");
        let warnings = run.status_line()["warnings"].as_array().cloned().unwrap_or_default();
        assert_eq!(warnings.iter().filter(|w| w.as_str().unwrap().contains("engine api")).count(), 1, "{run}");
        assert!(docker.calls().is_empty(), "{:?}", docker.calls());
    }
}

#[test]
fn a_restart_the_engine_refuses_is_reported_with_its_message() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let listing = list(&[("old", "exited", json!({"healwatch.url": up.url("/health")}))]);
    let refusal = json!({"message": "driver failed programming external connectivity: port is already allocated"});
    let api = api_with(&listing, vec![("POST /containers/old/restart", api_answer(500, &refusal.to_string()))]);
    let docker = FakeDocker::new();
    let run = pass(&api, &docker, "off");
    let old = run.target("api/old");
    assert_eq!(old["outcome"], "restart_failed", "{run}");
    let stderr = old["restart"]["stderr"].as_str().unwrap_or_default();
    assert_eq!(stderr, format!("Error response from daemon: {}", refusal["message"].as_str().unwrap()), "{run}");
    assert_eq!(old["restart"]["exit_code"], 1, "{run}");
    assert_eq!(up.request_count(), 0, "{run}");
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
}

#[test]
fn a_big_node_is_listed_keeping_only_what_can_matter_and_a_projects_siblings_by_filter() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let url = down.url("/health");
    let project = |extra: Value| {
        let mut labels = json!({"com.docker.compose.project": "shop", "com.docker.compose.config-hash": "f00"});
        labels.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        labels
    };
    // 3,000 containers; one declares itself and restarts its project's database with it.
    let mut containers: Vec<(String, &str, Value)> =
        (0..2_998).map(|i| (format!("other-{i}"), "running", json!({"com.docker.compose.project": "other"}))).collect();
    containers.push((
        "shop-api-1".into(),
        "running",
        project(json!({"healwatch.url": url, "healwatch.restart_with": "shop-db-1"})),
    ));
    containers.push(("shop-db-1".into(), "running", project(json!({}))));
    let named: Vec<(&str, &str, Value)> = containers.iter().map(|(n, s, l)| (n.as_str(), *s, l.clone())).collect();
    let siblings = list(&named[2_998..]);
    let running =
        |name: &str| json!({"Id": "x", "Name": format!("/{name}"), "State": {"Status": "running"}}).to_string();
    let api = FakeApi::routed(
        vec![
            ("GET /containers/json?all=1&filters=".to_string(), api_answer(200, &siblings)),
            ("GET /containers/json".to_string(), api_answer(200, &list(&named))),
            ("POST /containers/".to_string(), api_answer(204, "")),
            ("GET /containers/shop-api-1/json".to_string(), api_answer(200, &running("shop-api-1"))),
            ("GET /containers/shop-db-1/json".to_string(), api_answer(200, &running("shop-db-1"))),
        ],
        api_answer(404, "{\"message\": \"page not found\"}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[defaults]\nretries = 0\nrecovery_timeout = '0s'\n[[engine]]\nname = 'local'\ndiscover = false\n\n\
         [[engine]]\nname = 'api'\nhost = '{}'\ndiscover = true\n",
        api.host()
    );
    let config = write_file(dir.path(), "c.toml", &config);
    let run = Healwatch::new().docker(&FakeDocker::new()).arg("-c").arg(&config).run();
    assert_eq!(engine(&run)["containers"], 3_000, "every container is counted\n{run}");
    assert_eq!(run.target("api/shop-api-1")["outcome"], "restarted", "{run}");
    let requests = api.requests();
    // The project's other containers, asked for by the API's label filter alone.
    let filtered: Vec<&String> = requests.iter().filter(|r| r.contains("filters=")).collect();
    assert_eq!(filtered.len(), 1, "{requests:?}");
    assert!(filtered[0].contains("com.docker.compose.project%3Dshop"), "{filtered:?}");
    assert!(requests.iter().any(|r| r.starts_with("POST /containers/shop-db-1/restart")), "{requests:?}");
}
