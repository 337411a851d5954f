//! `healwatch validate`: parse the config and targets, print the resolved targets.

use std::fmt::Write as _;

use crate::cli::TargetArgs;
use crate::config::{self, HealthCheck, Target};
use crate::exit::{Exit, Stop};
use crate::model::{Action, Endpoint, MASK};

/// Prints one line per resolved target, then a count.
pub fn run(args: &TargetArgs) -> Result<Exit, Stop> {
    let config = config::load_targets(args)?;
    let mut out = String::new();
    for t in &config.targets {
        out += &describe(t);
        out.push('\n');
    }
    let _ = writeln!(out, "{} target(s) valid", config.targets.len());
    super::print(out.as_bytes())?;
    Ok(Exit::Healthy)
}

/// One resolved target as `validate` prints it: every setting, secrets masked.
fn describe(t: &Target) -> String {
    let mut line = format!("{}\tcontainer={} url={}", t.name, t.container, t.url_display());
    if let HealthCheck::Http(h) = &t.health {
        let _ = write!(line, " expect_status={}", h.expect_status);
        if let Some(body) = &h.expect_body {
            let _ = write!(line, " expect_body={body:?}");
        }
        if !h.headers.is_empty() {
            let masked: Vec<String> = h.headers.iter().map(|(k, _)| format!("{k}: {MASK}")).collect();
            let _ = write!(line, " headers={masked:?}");
        }
    }
    let _ = write!(line, " {}", t.settings.describe());
    if t.action != Action::Restart {
        let _ = write!(line, " action={}", t.action.as_str());
    }
    if t.ignore_stopped {
        line += " ignore_stopped=true";
    }
    if !t.restart_with.is_empty() {
        let _ = write!(line, " restart_with={}", t.restart_with.join(","));
    }
    if t.endpoint != Endpoint::Default {
        let _ = write!(line, " engine={}", t.endpoint);
    }
    line
}
