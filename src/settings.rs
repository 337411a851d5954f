//! The per-target settings, defined once. `settings_table!` below is the only list of
//! them (name, type, default, range, help); it yields the resolved `Settings`, the
//! `Layer` of values one source gives (flag, target, label, `[defaults]`), the clap
//! flags (`SettingFlags`, parsed by clap), the config file's keys (see `config::file`),
//! the label keys, and the one merge. Adding a setting touches that table and the docs.

use std::fmt::Debug;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

use crate::model::parse_duration;

/// A type a per-target setting can have.
pub(crate) trait SettingValue: Copy + PartialOrd + Sized {
    /// What the config file holds for it (a string for durations, an integer for counts).
    type Raw: DeserializeOwned + Debug + Clone;
    /// From a flag or a label.
    fn parse_text(text: &str) -> Result<Self>;
    /// From the config file.
    fn from_raw(raw: &Self::Raw) -> Result<Self>;
    /// As `validate` and error messages print it.
    fn show(self) -> String;
    /// The error text for a value below `min`.
    fn below(min: Self) -> String {
        format!("must be at least {}", min.show())
    }
}

impl SettingValue for Duration {
    type Raw = String;
    fn parse_text(text: &str) -> Result<Self> {
        parse_duration(text)
    }
    fn from_raw(raw: &String) -> Result<Self> {
        parse_duration(raw)
    }
    fn show(self) -> String {
        humantime::format_duration(self).to_string()
    }
    fn below(min: Self) -> String {
        if min <= Duration::from_nanos(1) {
            "must be more than 0".to_string()
        } else {
            format!("must be at least {}", min.show())
        }
    }
}

impl SettingValue for u32 {
    type Raw = u32;
    fn parse_text(text: &str) -> Result<Self> {
        text.trim().parse().with_context(|| format!("'{text}' is not a whole number"))
    }
    fn from_raw(raw: &u32) -> Result<Self> {
        Ok(*raw)
    }
    fn show(self) -> String {
        self.to_string()
    }
}

impl SettingValue for bool {
    type Raw = bool;
    fn parse_text(text: &str) -> Result<Self> {
        match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => bail!("'{other}' is not true or false"),
        }
    }
    fn from_raw(raw: &bool) -> Result<Self> {
        Ok(*raw)
    }
    fn show(self) -> String {
        self.to_string()
    }
}

/// Checks `value` against the setting's range; `hint` says what to write instead.
pub(crate) fn in_range<T: SettingValue>(value: T, min: T, max: T, hint: &str) -> Result<T> {
    let problem = if value < min {
        T::below(min)
    } else if value > max {
        format!("must be at most {}", max.show())
    } else {
        return Ok(value);
    };
    if hint.is_empty() { bail!("{} {problem}", value.show()) } else { bail!("{} {problem} ({hint})", value.show()) }
}

/// The shortest duration that is more than 0.
pub(crate) const ANY: Duration = Duration::from_nanos(1);
/// An hour: the longest `drill --wait` and `check --wait`.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);
/// A year (365.25 days, as humantime prints "1year"): the longest pause.
pub(crate) const YEAR: Duration = Duration::from_secs(31_557_600);
/// The range of `--forget-after` / `forget_after`.
pub(crate) const FORGET_AFTER: (Duration, Duration) = (HOUR, YEAR);

/// The range of `run --watch`: a second to an hour.
pub(crate) const WATCH: (Duration, Duration) = (Duration::from_secs(1), HOUR);
/// The range of `run --watch-every`.
pub(crate) const WATCH_EVERY: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(60));
/// `run --watch-every` when not given.
pub(crate) const DEFAULT_WATCH_EVERY: Duration = Duration::from_millis(500);
/// The range of `run --watch-cpu` (percent of one core).
pub(crate) const WATCH_CPU: (u32, u32) = (1, 800);
/// `run --watch-cpu` when not given: a tenth of a core.
pub(crate) const DEFAULT_WATCH_CPU: u32 = 10;

/// A clap value parser for a setting of type `T` within `min..=max`.
pub(crate) fn flag_parser<T: SettingValue + Send + Sync + 'static>(
    min: T,
    max: T,
    hint: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text: &str| T::parse_text(text).and_then(|v| in_range(v, min, max, hint)).map_err(|e| format!("{e:#}"))
}

/// The table of per-target settings. `$callback` receives `{ extra tokens }` and then one
/// row per setting: doc lines (the `--help` text), `name: Type = default;`,
/// `range MIN, MAX;`, `hint "what to write instead";`, `value "VALUE_NAME";`,
/// `label RULE;` (how far a label may move it from what the operator set: see `LabelRule`).
/// Every value from a flag, the file or a label is checked against its range, so no
/// setting can make a pass hang (a timeout of years) or its arithmetic overflow.
macro_rules! settings_table {
    ($callback:ident { $($extra:tt)* }) => {
        $callback! {
            { $($extra)* }
            /// Bound on one HTTP attempt, connect through last body byte [default: 2s].
            timeout: std::time::Duration = std::time::Duration::from_secs(2);
            range std::time::Duration::from_nanos(1), std::time::Duration::from_secs(3600);
            hint ""; value "DUR";
            label AtMost;
            /// Extra HTTP attempts inside the pass before a target counts as failed [default: 2].
            retries: u32 = 2;
            range 0, 100;
            hint ""; value "N";
            label Any;
            /// Pause between those attempts [default: 100ms].
            retry_delay: std::time::Duration = std::time::Duration::from_millis(100);
            range std::time::Duration::ZERO, std::time::Duration::from_secs(600);
            hint ""; value "DUR";
            label Any;
            /// Deadline for the first check and its retries: a target still failing then is
            /// failing (a hung endpoint is decided within this) [default: 5s].
            decide_within: std::time::Duration = std::time::Duration::from_secs(5);
            range std::time::Duration::from_millis(1), std::time::Duration::from_secs(3600);
            hint ""; value "DUR";
            label AtMost;
            /// Stop timeout passed to `docker restart -t`, rounded up to whole seconds [default: 10s].
            restart_timeout: std::time::Duration = std::time::Duration::from_secs(10);
            range std::time::Duration::ZERO, std::time::Duration::from_secs(3600);
            hint ""; value "DUR";
            label AtMost;
            /// After a restart, poll the URL until healthy or this passes; 0 = do not wait [default: 60s].
            recovery_timeout: std::time::Duration = std::time::Duration::from_secs(60);
            range std::time::Duration::ZERO, std::time::Duration::from_secs(3600);
            hint ""; value "DUR";
            label AtMost;
            /// Restart only after this many failed passes in a row [default: 1].
            failure_threshold: u32 = 1;
            range 1, 1000;
            hint "1 restarts at the first failed pass"; value "N";
            label Any;
            /// Stop restarting after N restarts within --restart-window; 0 = never give up [default: 3].
            max_restarts: u32 = 3;
            range 0, 1000;
            hint ""; value "N";
            label FewerRestarts;
            /// The crash-loop guard's window [default: 30m].
            restart_window: std::time::Duration = std::time::Duration::from_secs(30 * 60);
            range std::time::Duration::from_nanos(1), std::time::Duration::from_secs(30 * 24 * 3600);
            hint "to never give up, set max_restarts = 0"; value "DUR";
            label AtLeast;
            /// A restart after which the target stays healthy this long held: it no longer
            /// counts toward --max-restarts (the guard counts restarts that did not hold) [default: 30s].
            stable_after: std::time::Duration = std::time::Duration::from_secs(30);
            range std::time::Duration::ZERO, std::time::Duration::from_secs(30 * 24 * 3600);
            hint ""; value "DUR";
            label AtLeast;
            /// Do not restart a container started less than this long ago [default: 0s].
            start_period: std::time::Duration = std::time::Duration::ZERO;
            range std::time::Duration::ZERO, std::time::Duration::from_secs(24 * 3600);
            hint ""; value "DUR";
            label Any;
            /// Recreate a container that runs in the network namespace of one that was
            /// replaced (same name, image, command, environment, labels, mounts; the new
            /// provider's namespace), instead of reporting it `needs_recreate` [default: false].
            recreate_dependents: bool = false;
            range false, true;
            hint ""; value "BOOL";
            label OffOnly;
        }
    };
}
pub(crate) use settings_table;

/// How far a label, which is the image author's text and not the operator's, may move a
/// setting from what the operator's flags, `[defaults]` and the built-in default say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelRule {
    /// Anything in range: it changes only how the labelled container itself is judged,
    /// and the waits around it are bounded by the settings below.
    Any,
    /// At most the operator's: a wait that holds the pass (and every other target's heal).
    AtMost,
    /// At least the operator's: the crash-loop guard's window and patience.
    AtLeast,
    /// Fewer restarts than the operator's before giving up; 0 (never give up) only
    /// where the operator's is 0.
    FewerRestarts,
    /// Off, or on only where the operator turned it on: a label never lets healwatch do
    /// more to a container than the operator chose.
    OffOnly,
}

impl LabelRule {
    /// Whether a label's value may replace the operator's.
    pub(crate) fn allows<T: SettingValue + LabelOrder>(self, label: T, operator: T) -> bool {
        match self {
            Self::Any => true,
            Self::AtMost => label <= operator,
            Self::AtLeast => label >= operator,
            Self::FewerRestarts => label.unlimited_last() <= operator.unlimited_last(),
            Self::OffOnly => label.unlimited_last() <= operator.unlimited_last(),
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::Any => "is not refused by",
            Self::AtMost => "is over",
            Self::AtLeast => "is under",
            Self::FewerRestarts => "allows more restarts than",
            Self::OffOnly => "turns on what is off by",
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::AtMost => "a longer wait would hold up every other target",
            Self::AtLeast | Self::FewerRestarts => "it would loosen the crash-loop guard",
            Self::OffOnly => "recreating containers is the operator's choice",
        }
    }
}

/// The order `LabelRule::fewer_restarts` needs: a count where 0 means no limit.
pub(crate) trait LabelOrder: Copy {
    /// The value with "no limit" (0) ordered after every other.
    fn unlimited_last(self) -> u64;
}

impl LabelOrder for u32 {
    fn unlimited_last(self) -> u64 {
        if self == 0 { u64::MAX } else { u64::from(self) }
    }
}

impl LabelOrder for bool {
    fn unlimited_last(self) -> u64 {
        u64::from(self)
    }
}

impl LabelOrder for Duration {
    fn unlimited_last(self) -> u64 {
        u64::try_from(self.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The row grammar of `settings_table!`, for the generators below.
macro_rules! define_settings {
    ({}
     $( $(#[doc = $doc:literal])* $s:ident : $ty:ty = $default:expr;
        range $min:expr, $max:expr; hint $hint:literal; value $vn:literal; label $rule:ident; )*
    ) => {
        /// Per-target settings, resolved: what a pass needs to check, heal and judge one target.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $s: $ty, )*
        }

        /// The built-in defaults.
        pub(crate) const BUILTIN: Settings = Settings { $( $s: $default, )* };

        /// One row of the reference per setting: key, default, least, most, help.
        pub(crate) fn reference() -> Vec<[String; 5]> {
            vec![$( [
                stringify!($s).to_string(),
                SettingValue::show($default),
                SettingValue::show($min),
                SettingValue::show($max),
                [$($doc),*].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "),
            ], )*]
        }

        /// The keys of the settings, as in the config file and after `healwatch.` in labels.
        pub(crate) const KEYS: &[&str] = &[$( stringify!($s), )*];

        /// The settings one source gives (flags, a `[[target]]`, labels, `[defaults]`),
        /// parsed and checked; unset ones are `None`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Layer {
            $( $(#[doc = $doc])* pub $s: Option<$ty>, )*
        }

        impl Layer {
            /// The settings the layers give, the first that sets each one winning, else
            /// the built-in default. Pass them as flag, target, labels, `[defaults]`.
            pub fn resolve(layers: &[&Layer]) -> Settings {
                Settings { $( $s: layers.iter().find_map(|l| l.$s).unwrap_or(BUILTIN.$s), )* }
            }

            /// Checks a label layer against what the operator's own layers resolve to: a
            /// label may only tighten (each key's `label` rule); the error names the first
            /// key that would loosen, the operator's value and how to allow it.
            pub fn only_tightens(&self, operator: &Settings) -> Result<()> {
                $(
                    if let Some(label) = self.$s {
                        let rule = LabelRule::$rule;
                        if !rule.allows(label, operator.$s) {
                            bail!(
                                "label healwatch.{}: {} {} the operator's {} ({}); a label may only tighten what the \
                                 operator allows: change it in the config, or set [defaults] trust_labels = true",
                                stringify!($s), SettingValue::show(label), rule.refusal(), SettingValue::show(operator.$s),
                                rule.meaning(),
                            );
                        }
                    }
                )*
                Ok(())
            }

            /// This layer without the keys `over` sets (they win over it anyway).
            pub fn under(&self, over: &Layer) -> Layer {
                Layer { $( $s: if over.$s.is_some() { None } else { self.$s }, )* }
            }

            /// Reads labels: `get(key)` is the value of `healwatch.<key>`, if set.
            pub fn from_text<'a>(get: impl Fn(&str) -> Option<&'a str>, place: impl Fn(&str) -> String) -> Result<Self> {
                Ok(Self { $(
                    $s: get(stringify!($s))
                        .map(|text| <$ty as SettingValue>::parse_text(text)
                            .and_then(|v| in_range(v, $min, $max, $hint)))
                        .transpose()
                        .with_context(|| place(stringify!($s)))?,
                )* })
            }
        }

        impl Settings {
            /// Every setting as `key=value`, for `validate`.
            pub fn describe(&self) -> String {
                let parts: Vec<String> =
                    vec![$( format!("{}={}", stringify!($s), SettingValue::show(self.$s)), )*];
                parts.join(" ")
            }
        }

        /// The per-target settings as run flags (each has a `[defaults]` twin), parsed by clap.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct SettingFlags {
            $(
                $(#[doc = $doc])*
                #[arg(long, value_name = $vn, value_parser = flag_parser::<$ty>($min, $max, $hint))]
                pub $s: Option<$ty>,
            )*
        }

        impl SettingFlags {
            /// The flags as the top layer.
            pub fn layer(&self) -> Layer {
                Layer { $( $s: self.$s, )* }
            }
        }
    };
}

settings_table!(define_settings {});

/// Adds the settings to a config-file table's struct (`[defaults]`, `[[target]]`) as raw
/// values, and `settings_layer` to parse them, so `deny_unknown_fields` still sees every key.
macro_rules! with_file_settings {
    ({ $(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* } }
     $( $(#[doc = $doc:literal])* $s:ident : $ty:ty = $default:expr;
        range $min:expr, $max:expr; hint $hint:literal; value $vn:literal; label $rule:ident; )*
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($body)*
            $( $(#[doc = $doc])* pub(crate) $s: Option<<$ty as $crate::settings::SettingValue>::Raw>, )*
        }

        impl $name {
            /// This table's settings, parsed; `place` names a key in errors.
            pub(crate) fn settings_layer(&self, place: &dyn Fn(&str) -> String) -> anyhow::Result<$crate::settings::Layer> {
                use anyhow::Context as _;
                use $crate::settings::SettingValue as _;
                Ok($crate::settings::Layer { $(
                    $s: self.$s.as_ref()
                        .map(|raw| <$ty>::from_raw(raw)
                            .and_then(|v| $crate::settings::in_range(v, $min, $max, $hint)))
                        .transpose()
                        .with_context(|| place(stringify!($s)))?,
                )* })
            }
        }
    };
}
pub(crate) use with_file_settings;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_layer_that_sets_a_value_wins() {
        let flag = Layer { timeout: Some(Duration::from_secs(1)), ..Layer::default() };
        let target = Layer { timeout: Some(Duration::from_secs(2)), retries: Some(7), ..Layer::default() };
        let defaults = Layer { retries: Some(5), max_restarts: Some(9), ..Layer::default() };
        let s = Layer::resolve(&[&flag, &target, &defaults]);
        assert_eq!((s.timeout, s.retries, s.max_restarts), (Duration::from_secs(1), 7, 9));
        assert_eq!(s.restart_window, BUILTIN.restart_window);
    }

    #[test]
    fn text_is_checked_against_the_range() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
        };
        let place = |k: &str| format!("label healwatch.{k}");
        let layer = Layer::from_text(get(&[("retries", "4"), ("timeout", "2s")]), place).unwrap();
        assert_eq!((layer.retries, layer.timeout), (Some(4), Some(Duration::from_secs(2))));
        for (pairs, want) in [
            (&[("timeout", "0s")][..], "label healwatch.timeout: 0s must be more than 0"),
            (&[("failure_threshold", "0")][..], "must be at least 1 (1 restarts"),
            (&[("restart_window", "0")][..], "set max_restarts = 0"),
            (&[("retries", "two")][..], "label healwatch.retries: 'two' is not a whole number"),
        ] {
            let err = format!("{:#}", Layer::from_text(get(pairs), place).unwrap_err());
            assert!(err.contains(want), "{pairs:?}: {err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1000, failure_persistence: None, ..Default::default()
        })]

        /// Any label values: no panic, and whatever is accepted is inside its range.
        #[test]
        fn any_label_values_stay_in_range(key in proptest::sample::select(KEYS), value in "\\PC{0,12}|[0-9]{1,25}[a-z]{0,5}") {
            if let Ok(layer) = Layer::from_text(|k| (k == key).then_some(value.as_str()), |k| k.to_string()) {
                let s = Layer::resolve(&[&layer]);
                proptest::prop_assert!(s.timeout <= Duration::from_secs(3600) && !s.timeout.is_zero());
                proptest::prop_assert!(s.restart_window <= Duration::from_secs(30 * 24 * 3600));
                proptest::prop_assert!(s.retries <= 100 && s.failure_threshold >= 1);
            }
        }
    }

    #[test]
    fn every_key_is_described() {
        let text = BUILTIN.describe();
        for key in KEYS {
            assert!(text.contains(&format!("{key}=")), "{key} in {text}");
        }
        assert!(text.starts_with("timeout=2s retries=2 retry_delay=100ms decide_within=5s"), "{text}");
    }
}
