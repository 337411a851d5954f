//! A pass's options: the targets, the per-target settings, `--watch`, and the run options
//! in their groups (from `run_options_table!`, options.rs).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::settings::{SettingFlags, WATCH, WATCH_CPU, WATCH_EVERY, flag_parser};

/// Where the targets come from: the config file and `-t` flags, combined.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// TOML config file with [defaults] and [[target]] tables [default:
    /// /etc/healwatch/healwatch.toml, when it exists and no -t is given].
    #[arg(short, long, env = "HEALWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A target as NAME=URL: NAME is the container to restart, URL its health endpoint.
    /// Repeatable; combined with the config file's targets.
    #[arg(short, long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
}

/// Generates each group of run options twice (its flags, and the same flags hidden, for
/// a subcommand that accepts them without reading them) and `RunArgs`: the fields
/// `$extra` gives, then one per group.
macro_rules! define_run_args {
    ({ $($extra:tt)* }
     $( $(#[doc = $gdoc:literal])* $group:ident : $Group:ident, $Ignored:ident {
        $( $(#[doc = $doc:literal])* #[arg($($arg:tt)*)] $name:ident : $flag:ty => $key:ty; )*
     } )*
    ) => {
        $(
            $(#[doc = $gdoc])*
            #[derive(Debug, Clone, Default, Args)]
            pub struct $Group {
                $( $(#[doc = $doc])* #[arg($($arg)*)] pub $name: $flag, )*
            }

            $(#[doc = $gdoc])*
            /// (Accepted and hidden: a subcommand that takes them reads none.)
            #[derive(Debug, Clone, Default, Args)]
            pub struct $Ignored {
                $( $(#[doc = $doc])* #[arg($($arg)*, hide = true)] pub $name: $flag, )*
            }

            impl From<$Ignored> for $Group {
                fn from(ignored: $Ignored) -> Self {
                    Self { $( $name: ignored.$name, )* }
                }
            }
        )*

        /// Options of one pass. Each run option (see `options.rs`) has a `[defaults]` twin;
        /// a flag wins over the file.
        #[derive(Debug, Clone, Default, Args)]
        pub struct RunArgs {
            $($extra)*
            $( $(#[doc = $gdoc])* #[command(flatten)] pub $group: $Group, )*
        }
    };
}

crate::options::run_options_table!(define_run_args {
    /// The targets.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The per-target settings (each also a config key and a label).
    #[command(flatten)]
    pub settings: SettingFlags,

    /// Stay up for DUR from the start and watch between passes: every --watch-every, one
    /// attempt at each HTTP and TCP target the last pass saw healthy, and Docker's events
    /// (die, oom, pause, unhealthy) for their containers. Anything amiss starts a pass at
    /// once, which writes its own status line. For healing within seconds from a timer
    /// (the shipped one runs --watch 14s every 15 s) or cron (--watch 55s every minute)
    /// [default: one pass, then exit].
    #[arg(long, value_name = "DUR", value_parser = flag_parser::<Duration>(WATCH.0, WATCH.1, ""))]
    pub watch: Option<Duration>,

    /// With --watch: how often the healthy targets are looked at [default: 500ms]. Many
    /// targets are looked at in slices of 50 spread over it, not all at once.
    #[arg(long, value_name = "DUR", requires = "watch",
          value_parser = flag_parser::<Duration>(WATCH_EVERY.0, WATCH_EVERY.1, ""))]
    pub watch_every: Option<Duration>,

    /// With --watch: the share of one core, in percent, the looks may take [default: 10].
    /// Beyond it each healthy target is looked at less often than --watch-every, said in
    /// the status line (`watch.slowed`) and the metrics; a pass starts to say so.
    #[arg(long, value_name = "PERCENT", requires = "watch",
          value_parser = flag_parser::<u32>(WATCH_CPU.0, WATCH_CPU.1, ""))]
    pub watch_cpu: Option<u32>,
});
