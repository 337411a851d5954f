//! Integration tests: the real binary against real HTTP servers on 127.0.0.1, with a
//! recording `docker` stand-in (`pass`, `config`), and against a real Docker engine (`e2e`).

mod alerting;
mod api;
mod arch;
mod check;
mod checks;
mod config;
mod cron;
mod dependents;
mod docker_targets;
mod docs;
mod drill_audit;
mod e2e;
mod engine;
mod examples;
mod fleet;
mod hostile;
mod image;
mod memory;
mod monitoring;
mod notify;
mod pass;
mod platforms;
mod podman;
mod proxy;
mod receivers;
mod swarm;
mod tls;
mod util;
mod watch;
