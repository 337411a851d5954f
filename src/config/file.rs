//! The config file's schema: the `[defaults]` table and the `[[target]]` tables as TOML
//! gives them (raw values), and reading the file with errors that name its line.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;

use crate::settings::{settings_table, with_file_settings};

/// Generates `FileDefaults`: a key per run option (see `options.rs`), the keys only the
/// file has, and every per-target setting.
macro_rules! file_defaults {
    ({}
     $( $(#[doc = $gdoc:literal])* $group:ident : $Group:ident, $Ignored:ident {
        $( $(#[doc = $doc:literal])* #[arg($($arg:tt)*)] $name:ident : $flag:ty => $key:ty; )*
     } )*
    ) => {
        settings_table!(with_file_settings {
            /// The `[defaults]` table: every run option, the keys only the file has, and
            /// every per-target setting.
            #[derive(Debug, Default, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub(crate) struct FileDefaults {
                $( $( pub(crate) $name: Option<$key>, )* )*
                pub(crate) notify_on: Option<Vec<String>>,
                pub(crate) action: Option<String>,
                pub(crate) ignore_stopped: Option<bool>,
                pub(crate) trust_labels: Option<bool>,
                pub(crate) on_restart: Option<Vec<String>>,
                pub(crate) ssh_reuse: Option<bool>,
            }
        });
    };
}

crate::options::run_options_table!(file_defaults {});

settings_table!(with_file_settings {
    /// One `[[target]]` table.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct FileTarget {
        pub(crate) name: String,
        pub(crate) url: Option<String>,
        pub(crate) exec: Option<Vec<String>>,
        pub(crate) log_pattern: Option<String>,
        pub(crate) send: Option<String>,
        pub(crate) expect: Option<String>,
        pub(crate) container: Option<String>,
        pub(crate) expect_status: Option<String>,
        pub(crate) expect_body: Option<String>,
        #[serde(default)]
        pub(crate) headers: BTreeMap<String, String>,
        pub(crate) action: Option<String>,
        pub(crate) ignore_stopped: Option<bool>,
        #[serde(default)]
        pub(crate) restart_with: Vec<String>,
        pub(crate) docker_host: Option<String>,
        pub(crate) docker_context: Option<String>,
        pub(crate) engine: Option<String>,
        pub(crate) compose_project: Option<String>,
        pub(crate) compose_service: Option<String>,
        pub(crate) on_restart: Option<Vec<String>>,
    }
});

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) defaults: FileDefaults,
    #[serde(default, rename = "target")]
    pub(crate) targets: Vec<FileTarget>,
    #[serde(default, rename = "engine")]
    pub(crate) engines: Vec<FileEngine>,
}

/// One `[[engine]]` table: a Docker engine by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEngine {
    pub(crate) name: String,
    pub(crate) host: Option<String>,
    pub(crate) context: Option<String>,
    pub(crate) tls_ca: Option<String>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    pub(crate) discover: Option<bool>,
    pub(crate) unhealthy: Option<String>,
}

/// The config file read when none is named: a configured host just works.
pub(crate) const DEFAULT_PATH: &str = "/etc/healwatch/healwatch.toml";

/// Reads and parses the file at `path`; no path is an empty config.
pub(crate) fn read(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let bytes = crate::files::read_bounded(path, 1 << 20, crate::files::Link::Follow)
        .with_context(|| format!("reading config {}", path.display()))?;
    let text = String::from_utf8(bytes).with_context(|| format!("config {} is not UTF-8 text", path.display()))?;
    parse(&text).map_err(|(line, message)| match line {
        Some(n) => anyhow!("config {} line {n}: {message}", path.display()),
        None => anyhow!("config {}: {message}", path.display()),
    })
}

/// Parses config text; an error comes with its line number when TOML knows it, and
/// says what is wanted rather than what serde expected.
pub(crate) fn parse(text: &str) -> Result<FileConfig, (Option<usize>, String)> {
    let e = match toml::from_str(text) {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
    if let Some(unknown) = unknown_key(e.message()) {
        return Err((line, unknown_keys(text, line, unknown)));
    }
    let key = line
        .and_then(|n| text.lines().nth(n - 1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    Err((line, plain_message(e.message(), key.as_deref())))
}

/// serde's "unknown field `x`, expected one of `a`, `b`" as the key and its likeliest
/// meaning (`None` for any other error).
fn unknown_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let near = known.iter().map(|k| (distance(key, k), *k)).filter(|(d, k)| *d <= 2.max(k.len() / 4)).min();
    Some(match near {
        Some((_, k)) => format!("unknown key `{key}`: did you mean `{k}`?"),
        None => format!("unknown key `{key}` (it takes {})", known.join(", ")),
    })
}

/// Every unknown key in `text`, not only the first: each line that holds one is left out
/// and the text read again (at most 20 times), so one run of `validate` names them all.
fn unknown_keys(text: &str, line: Option<usize>, first: String) -> String {
    let mut said = vec![first];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut at = line;
    for _ in 0..20 {
        let Some(n) = at.filter(|n| (1..=lines.len()).contains(n)) else { break };
        lines[n - 1] = "#".to_string();
        let again = lines.join("\n");
        let Err(e) = toml::from_str::<FileConfig>(&again) else { break };
        let Some(unknown) = unknown_key(e.message()) else { break };
        at = e.span().map(|s| again[..s.start].matches('\n').count() + 1);
        said.push(match at {
            Some(n) => format!("line {n}: {unknown}"),
            None => unknown,
        });
    }
    said.join("; ")
}

/// The edit distance between two keys (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut last = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(last + usize::from(ca != *cb));
            last = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The keys a table takes, in the order the schema defines them: `table` is the TOML
/// that opens it (`[defaults]`, `[[target]]\nname = "x"`). Read from the schema itself
/// (serde names every field it expects), so the reference can never list a key the
/// file does not take, or miss one it does.
pub(crate) fn keys(table: &str) -> Vec<String> {
    let probe = format!("{table}\nzz_no_such_key = 1\n");
    let message = match toml::from_str::<FileConfig>(&probe) {
        Err(e) => e.message().to_string(),
        Ok(_) => return Vec::new(),
    };
    let Some((_, expected)) = message.split_once("expected one of") else { return Vec::new() };
    expected.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// serde's "invalid type: string \"2\", expected u32" as what to write instead.
fn plain_message(message: &str, key: Option<&str>) -> String {
    let message = message.replace('\n', " ");
    let key = key.unwrap_or("this value");
    let wanted = if message.contains("expected u32") || message.contains("expected usize") {
        format!("{key} must be a whole number of 0 or more, without quotes, e.g. {key} = 2")
    } else if message.contains("expected a boolean") {
        format!("{key} must be true or false, without quotes")
    } else if message.contains("expected a string") {
        format!("{key} must be text in quotes, e.g. {key} = \"5s\"")
    } else if message.contains("expected a sequence") {
        format!("{key} must be a list, e.g. {key} = [\"a\", \"b\"]")
    } else {
        return message;
    };
    format!("{wanted} ({message})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_said_all_at_once_with_what_was_meant() {
        let text =
            "[defaults]\ntimout = \"2s\"\nretries = 1\nretires = 2\n[[target]]\nname = \"a\"\nulr = \"http://x/\"\n";
        let (line, message) = parse(text).unwrap_err();
        assert!(line.is_some(), "{message}");
        for want in [
            "unknown key `timout`: did you mean `timeout`?",
            "unknown key `retires`: did you mean `retries`?",
            "line 7: unknown key `ulr`: did you mean `url`?",
        ] {
            assert!(message.contains(want), "{want} in {message}");
        }
        let (_, far) = parse("[defaults]\nzzzzzzzz = 1\n").unwrap_err();
        assert!(far.contains("unknown key `zzzzzzzz` (it takes "), "{far}");
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn keys_are_read_from_the_schema() {
        let defaults = keys("[defaults]");
        for key in ["metrics", "notify_on", "ssh_reuse", "timeout", "decide_within"] {
            assert!(defaults.iter().any(|k| k == key), "{key} in {defaults:?}");
        }
        let target = keys("[[target]]\nname = \"x\"");
        assert!(target.iter().any(|k| k == "compose_service") && !target.iter().any(|k| k == "metrics"), "{target:?}");
        assert!(keys("[[engine]]\nname = \"x\"").iter().any(|k| k == "tls_ca"));
    }
}
