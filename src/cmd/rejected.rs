//! A command line clap rejected. Help and version are printed as asked; for a pass the
//! error is also reported as a pass that could not run reports it, from the run options
//! read again without what clap rejected.

use crate::cli::{self, Cli, Command};

/// A command line clap rejected. Help and version are printed as asked. For a pass
/// (`healwatch [run]`) the error is also reported as a pass that could not run reports
/// it (status line, `--log`, `--metrics`, `--ping-url`), as a bad `-t` is, so cron's
/// monitoring hears of a typo'd flag too. Returns the exit status (2 for an error).
pub(crate) fn reject(error: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let usage_error = !matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if usage_error && let Some(args) = lenient_run_args(&error) {
        let rendered = error.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        crate::run::reject(&args, first.trim_start_matches("error: ").to_string());
    }
    let _ = error.print();
    std::process::ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}

/// The run options of a rejected command line, read without what clap rejected: each
/// rejected argument (and its value) is taken out and the rest read again, at most once
/// per argument. `None` when it is not a pass or cannot be read at all.
fn lenient_run_args(error: &clap::Error) -> Option<cli::RunArgs> {
    use clap::{CommandFactory, FromArgMatches};
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut rejected = offending(error);
    for _ in 0..argv.len() {
        let (Some(flag), value) = std::mem::take(&mut rejected) else { break };
        let before = argv.len();
        drop_argument(&mut argv, &flag, value.as_deref());
        if argv.len() == before {
            return None;
        }
        match Cli::command().try_get_matches_from(&argv) {
            Ok(matches) => {
                let cli = Cli::from_arg_matches(&matches).ok()?;
                return match cli.command {
                    None => Some(cli.run),
                    Some(Command::Run(args)) => Some(args),
                    Some(_) => None,
                };
            }
            Err(next) => rejected = offending(&next),
        }
    }
    None
}

/// The argument (its flag) and the value clap rejected.
fn offending(error: &clap::Error) -> (Option<String>, Option<String>) {
    use clap::error::{ContextKind, ContextValue};
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // A stray word is read as a subcommand that conflicts with the options before it.
    let flag = text(ContextKind::InvalidArg)
        .and_then(|a| a.split_whitespace().next().map(str::to_string))
        .or_else(|| text(ContextKind::InvalidSubcommand));
    (flag, text(ContextKind::InvalidValue))
}

/// Takes `flag` out of `argv` (never the program's name): as `flag=value`, as
/// `flag value`, or alone.
fn drop_argument(argv: &mut Vec<std::ffi::OsString>, flag: &str, value: Option<&str>) {
    let joined = value.map(|v| format!("{flag}={v}"));
    let find = |argv: &[std::ffi::OsString], wanted: &dyn Fn(&std::ffi::OsString) -> bool| {
        argv.iter().skip(1).position(wanted).map(|i| i + 1)
    };
    if let Some(i) = find(argv, &|a| joined.as_deref().is_some_and(|j| a == j)) {
        argv.remove(i);
    } else if let Some(i) = find(argv, &|a| a == flag) {
        let takes_value = value.is_some_and(|v| argv.get(i + 1).is_some_and(|next| next == v));
        argv.drain(i..=i + usize::from(takes_value));
    }
}
