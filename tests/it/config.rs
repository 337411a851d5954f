//! Bad input stops the pass before anything is checked: exit 2, one clear line naming
//! the file and key (or flag) and how to fix it.

use crate::util::{Behaviour, FakeDocker, Healwatch, Server, write_file};

#[test]
fn each_config_error_exits_2_and_names_the_key() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let url = server.url("/");
    let cases = [
        (
            format!("[[target]]\nname='app'\nurl='{url}'\ntimout='1s'\n"),
            "line 4: unknown key `timout`: did you mean `timeout`?",
        ),
        (format!("[[target]]\nname='app'\nurl='{url}'\n[[target]]\nname='app'\nurl='{url}'\n"), "'app' is used twice"),
        ("[[target]]\nname='app'\nurl='localhost:5000'\n".to_string(), "target 'app' (#1) url"),
        (format!("[[target]]\nname='app'\nurl='{url}'\ntimeout='5 parsecs'\n"), "target 'app' (#1) timeout"),
        (format!("[[target]]\nname='app'\nurl='{url}'\ncontainer='--privileged'\n"), "target 'app' (#1) container"),
        (format!("[defaults]\nretries='two'\n[[target]]\nname='app'\nurl='{url}'\n"), "line 2"),
        ("[[target]\n".to_string(), "line 1"),
    ];
    let docker = FakeDocker::new();
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = write_file(docker.dir.path(), &format!("bad{i}.toml"), text);
        let run = Healwatch::new().docker(&docker).arg("-c").arg(&file).run();
        run.expect_code(2);
        let stderr = run.stderr();
        assert!(
            stderr.contains(want) && stderr.contains(&file.display().to_string()),
            "wanted {want:?} and the file name\n{run}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line\n{run}");
        assert!(run.status_line()["error"].is_string());
        let validate = Healwatch::new().arg("validate").arg("-c").arg(&file).run();
        validate.expect_code(2);
        assert!(validate.stderr().contains(want), "{validate}");
    }
    assert_eq!(server.request_count(), 0, "nothing is checked");
    assert!(docker.calls().is_empty(), "nothing is restarted");
}

#[test]
fn bad_flags_exit_2() {
    let cases: [&[&str]; 5] = [
        &["-t", "app"],
        &["-t", "-rm=http://127.0.0.1:1/"],
        &["-t", "app=http://127.0.0.1:1/", "--timeout", "fast"],
        &["-t", "app=http://127.0.0.1:1/", "--retries", "-1"],
        &["-t", "app=http://127.0.0.1:1/", "--concurrency", "0"],
    ];
    for args in cases {
        let run = Healwatch::new().args(args).run();
        run.expect_code(2);
        assert!(!run.stderr().is_empty(), "{run}");
    }
    let run = Healwatch::new().run();
    run.expect_code(2);
    assert!(run.stderr().contains("no targets"), "{run}");
    let run = Healwatch::new().args(["-c", "/nonexistent/healwatch.toml"]).run();
    run.expect_code(2);
    assert!(run.stderr().contains("reading config /nonexistent/healwatch.toml"), "{run}");
}

#[test]
fn validate_prints_the_resolved_targets() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "ok.toml",
        "[defaults]\ntimeout='3s'\n[[target]]\nname='api'\ncontainer='api-1'\nurl='http://127.0.0.1:5000/health'\nexpect_status='200,204'\nexpect_body='ok'\n",
    );
    let run = Healwatch::new()
        .args(["validate", "--offline", "-c"])
        .arg(&file)
        .args(["-t", "web=http://127.0.0.1:8080/"])
        .run();
    run.expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains(
            "api\tcheck=http container=api-1 url=http://127.0.0.1:5000/health expect_status=200,204 expect_body=\"ok\" timeout=3s"
        ),
        "{run}"
    );
    assert!(out.contains("web\tcheck=http container=web url=http://127.0.0.1:8080/"), "{run}");
    assert!(out.contains("2 target(s) valid"), "{run}");
    let env = Healwatch::new().env("HEALWATCH_CONFIG", &file).args(["validate", "--offline"]).run();
    env.expect_code(0);
    assert!(env.stdout().contains("api\t"), "HEALWATCH_CONFIG is read\n{env}");
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/healwatch.toml");
    let run = Healwatch::new().args(["validate", "--offline", "-c", example]).run();
    run.expect_code(0);
    assert!(run.stdout().contains("4 target(s) valid"), "{run}");
}
