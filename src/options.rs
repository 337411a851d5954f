//! The run options, defined once, as the per-target settings are in `settings.rs`.
//! `run_options_table!` below is the only list of the options a pass takes by flag and
//! by `[defaults]` key: one row (help text, clap attributes, flag type, key type) yields
//! the `--flag` of `healwatch run` (`cli::RunArgs`), the `[defaults]` key
//! (`config::file::FileDefaults`), the layering of the two (`RunOptions`, a flag winning
//! over the key) and the rows of docs/reference.md. What a value then means (a proxy
//! URL, a CA file) is read in `config/build.rs`, with the flag or key named.
//! Options with only a flag (`--watch`) or only a key (`notify_on`) are written beside
//! the table, in `cli/run.rs` and `config/file.rs`.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::model::{Named, parse_duration};

/// How a flag's value and its `[defaults]` key's layer into one value: the flag wins.
pub(crate) trait Layered<Key> {
    /// The value a pass works with.
    type Value;
    /// The flag's value over the key's (`key` names it in errors).
    fn layer(flag: &Self, file: Option<&Key>, key: &str) -> Result<Self::Value>;
}

/// A switch: on when the flag or the key says so.
impl Layered<bool> for bool {
    type Value = bool;
    fn layer(flag: &bool, file: Option<&bool>, _: &str) -> Result<bool> {
        Ok(*flag || file.copied().unwrap_or(false))
    }
}

/// A value taken as it is (a path, a count, text read later).
impl<T: Clone> Layered<T> for Option<T> {
    type Value = Option<T>;
    fn layer(flag: &Option<T>, file: Option<&T>, _: &str) -> Result<Option<T>> {
        Ok(flag.clone().or_else(|| file.cloned()))
    }
}

/// A name from the config file for an enum the flag reads with clap: `unhealthy = "all"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct NameKey(String);

impl<T: Named> Layered<NameKey> for Option<T> {
    type Value = Option<T>;
    fn layer(flag: &Option<T>, file: Option<&NameKey>, key: &str) -> Result<Option<T>> {
        match (flag, file) {
            (Some(value), _) => Ok(Some(*value)),
            (None, Some(NameKey(text))) => T::parse(text).map(Some).with_context(|| key.to_string()),
            (None, None) => Ok(None),
        }
    }
}

/// One URL or a list of them in the config file: `notify_url = "https://…"` or
/// `notify_url = ["slack://…", "ntfy://…"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum UrlList {
    One(String),
    Many(Vec<String>),
}

/// A repeatable flag over a key of one or more values: the flags, when any is given,
/// replace the key's (as a single flag wins over its key). Empty strings are dropped.
impl Layered<UrlList> for Vec<String> {
    type Value = Vec<String>;
    fn layer(flag: &Vec<String>, file: Option<&UrlList>, _: &str) -> Result<Vec<String>> {
        let all = match (flag.is_empty(), file) {
            (false, _) | (true, None) => flag.clone(),
            (true, Some(UrlList::One(url))) => vec![url.clone()],
            (true, Some(UrlList::Many(urls))) => urls.clone(),
        };
        Ok(all.into_iter().filter(|u| !u.is_empty()).collect())
    }
}

/// A duration from the config file, within `MIN..=MAX` seconds (the flag's clap parser
/// checks the same range): `forget_after = "7d"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct DurationKey<const MIN: u64, const MAX: u64>(String);

impl<const MIN: u64, const MAX: u64> Layered<DurationKey<MIN, MAX>> for Option<Duration> {
    type Value = Option<Duration>;
    fn layer(flag: &Option<Duration>, file: Option<&DurationKey<MIN, MAX>>, key: &str) -> Result<Option<Duration>> {
        match (flag, file) {
            (Some(value), _) => Ok(Some(*value)),
            (None, Some(DurationKey(text))) => parse_duration(text)
                .and_then(|d| crate::settings::in_range(d, Duration::from_secs(MIN), Duration::from_secs(MAX), ""))
                .map(Some)
                .with_context(|| key.to_string()),
            (None, None) => Ok(None),
        }
    }
}

/// The table of run options, in groups: a subcommand flattens the groups it reads (`run`
/// all of them, `check` and `drill` fewer, see `cli/partial.rs`). `$callback` receives `{ extra
/// tokens }` and then each group: its doc lines, `field: Group, Ignored` (the field of
/// `RunArgs` that holds it, its struct, and the struct of the same flags hidden, for a
/// subcommand that accepts them without reading them), and its rows: doc lines (the
/// `--help` text), `#[arg(...)]` (clap's attributes for the flag), `name: FlagType =>
/// KeyType;`.
macro_rules! run_options_table {
    ($callback:ident { $($extra:tt)* }) => {
        $callback! {
            { $($extra)* }
            /// Whether a pass acts.
            pass: PassArgs, PassIgnored {
                /// Check and decide, but run no docker command; failing targets are reported as `unhealthy`.
                #[arg(short = 'n', long)]
                dry_run: bool => bool;
            }
            /// Which targets, and how many at once.
            scope: ScopeArgs, ScopeIgnored {
                /// Check and heal at most N targets at once [default: 32].
                #[arg(long, value_name = "N")]
                concurrency: Option<usize> => usize;
                /// Also watch running containers that declare themselves with `healwatch.url` labels.
                #[arg(long)]
                discover: bool => bool;
                /// Also heal containers whose Docker HEALTHCHECK is unhealthy: `label` (those labelled
                /// healwatch.enable=true), `all`, or `off` [default: off].
                #[arg(long, value_name = "off|label|all", value_enum, hide_possible_values = true)]
                unhealthy: Option<$crate::model::Unhealthy> => $crate::options::NameKey;
            }
            /// How checks and docker commands reach their targets.
            reach: ReachArgs, ReachIgnored {
                /// Send health checks through this HTTP proxy; by default proxy variables
                /// (HTTP_PROXY, ALL_PROXY...) are ignored [default: none].
                #[arg(long, value_name = "URL")]
                proxy: Option<String> => String;
                /// PEM file of the CAs that HTTPS health checks trust, for services with an internal
                /// CA [default: the public web roots built in].
                #[arg(long, value_name = "FILE")]
                ca_file: Option<std::path::PathBuf> => std::path::PathBuf;
                /// The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker].
                #[arg(long, env = "HEALWATCH_DOCKER", value_name = "PATH")]
                docker: Option<std::path::PathBuf> => std::path::PathBuf;
            }
            /// Where a pass's report goes.
            report: ReportArgs, ReportIgnored {
                /// Also append the status line to FILE (JSON Lines).
                #[arg(long, value_name = "FILE")]
                log: Option<std::path::PathBuf> => std::path::PathBuf;
                /// Write Prometheus metrics (node_exporter textfile format) to FILE after every pass.
                #[arg(long, value_name = "FILE")]
                metrics: Option<std::path::PathBuf> => std::path::PathBuf;
                /// Notify here when a pass did something, or found something wrong that it did not
                /// fix (config `notify_on` picks the outcomes): an https:// webhook gets the status
                /// line; slack://, discord://, teams://, ntfy://, gotify://, telegram:// a message;
                /// smtp:// a mail. Repeatable. HEALWATCH_NOTIFY_URL (URLs separated by blanks) or the
                /// config file keeps a token out of the process list.
                #[arg(long, value_name = "URL")]
                notify_url: Vec<String> => $crate::options::UrlList;
                /// Dead man's switch: GET URL after a pass that exits 0, URL/fail after any other
                /// (or HEALWATCH_PING_URL, out of the process list).
                #[arg(long, value_name = "URL")]
                ping_url: Option<String> => String;
                /// Print only when something changed: a docker command ran, an outcome differs from
                /// the last pass's, or a warning is new. --log still gets every line.
                #[arg(short, long)]
                quiet: bool => bool;
                /// How the report is printed: `json` (one status line) or `text` (a short report for
                /// people and cron mail). --log is always JSON Lines [default: json].
                #[arg(long, value_name = "json|text", value_enum, hide_possible_values = true)]
                format: Option<$crate::model::Format> => $crate::options::NameKey;
            }
            /// What passes remember.
            memory: MemoryArgs, MemoryIgnored {
                /// Forget a target's memory when no pass has checked it for this long; a pause is
                /// kept until it ends (at most a year) [default: 7d].
                #[arg(long, value_name = "DUR", value_parser = $crate::settings::flag_parser::<std::time::Duration>(
                    $crate::settings::FORGET_AFTER.0, $crate::settings::FORGET_AFTER.1, ""))]
                forget_after: Option<std::time::Duration> => $crate::options::DurationKey<3600, 31_557_600>;
                /// State file: memory between passes [default: state.json in the state directory].
                #[arg(long, env = "HEALWATCH_STATE", value_name = "FILE")]
                state: Option<std::path::PathBuf> => std::path::PathBuf;
            }
            /// The lock that keeps passes apart.
            lock: LockArgs, LockIgnored {
                /// Lock file that keeps two passes from overlapping [default: healwatch.lock in
                /// /var/lib/healwatch when writable, else $XDG_STATE_HOME/healwatch or ~/.local/state/healwatch].
                #[arg(long, env = "HEALWATCH_LOCK", value_name = "FILE")]
                lock: Option<std::path::PathBuf> => std::path::PathBuf;
            }
        }
    };
}
pub(crate) use run_options_table;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::Unhealthy;

    #[test]
    fn a_flag_wins_over_its_key_and_keys_are_read_strictly() {
        assert!(<bool as Layered<bool>>::layer(&false, Some(&true), "k").unwrap());
        let path = |p: &str| Some(PathBuf::from(p));
        let flag = path("/flag");
        assert_eq!(<Option<PathBuf> as Layered<PathBuf>>::layer(&flag, path("/key").as_ref(), "k").unwrap(), flag);
        let key = NameKey("all".into());
        assert_eq!(<Option<Unhealthy>>::layer(&None, Some(&key), "k").unwrap(), Some(Unhealthy::All));
        let bad = NameKey("most".into());
        let err = format!("{:#}", <Option<Unhealthy>>::layer(&None, Some(&bad), "[defaults] unhealthy").unwrap_err());
        assert!(err.starts_with("[defaults] unhealthy: 'most' is not a mode"), "{err}");
        type Forget = DurationKey<3600, 31_557_600>;
        let week = Forget::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new("7d"));
        let layered = <Option<Duration> as Layered<Forget>>::layer(&None, week.as_ref().ok(), "k").unwrap();
        assert_eq!(layered, Some(Duration::from_secs(7 * 86_400)));
        let minute = DurationKey::<3600, 31_557_600>("1m".into());
        let err = format!("{:#}", <Option<Duration> as Layered<Forget>>::layer(&None, Some(&minute), "k").unwrap_err());
        assert!(err.contains("must be at least 1h"), "{err}");
    }
}
