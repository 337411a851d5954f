//! The documentation generated from the clap definitions, so it never drifts from
//! `--help`: one man page per command (`healwatch(1)`, `healwatch-drill(1)`...) and the
//! shell completions, and the reference tables of docs/reference.md (every flag, config
//! key and label, from the definitions). The files are these bytes; a test keeps them
//! current.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::file;

/// The shells completions are shipped for, and each file's name.
pub const SHELLS: [(clap_complete::Shell, &str); 3] = [
    (clap_complete::Shell::Bash, "healwatch.bash"),
    (clap_complete::Shell::Zsh, "_healwatch"),
    (clap_complete::Shell::Fish, "healwatch.fish"),
];

/// The completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "healwatch", &mut out);
    out
}

/// Every man page: (file name, roff).
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    // The page names the version, not the commit it was built from: it changes per release.
    // `healwatch help` stays a command, but it gets no page of its own to point to.
    let mut command = Cli::command().long_version(None::<&str>).disable_help_subcommand(true);
    command.build();
    let mut pages = vec![("healwatch.1".to_string(), render(command.clone()))];
    pages.push(("healwatch.toml.5".to_string(), config_page(&command).into_bytes()));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let name = format!("healwatch-{}", sub.get_name());
        let page =
            sub.clone().name(name.clone()).display_name(name.clone()).bin_name(format!("healwatch {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(page)));
    }
    pages
}

fn render(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = clap_mangen::Man::new(command)
        .date("")
        .source(concat!("healwatch ", env!("CARGO_PKG_VERSION")))
        .manual("healwatch manual")
        .render(&mut out);
    out
}

/// healwatch.toml(5): the config file, from the same definitions as docs/reference.md
/// (the run options that name a key, the settings table, the schema's keys) and the
/// shipped example.
fn config_page(command: &clap::Command) -> String {
    let mut page = format!(
        ".TH HEALWATCH.TOML 5 \"\" \"healwatch {}\" \"healwatch manual\"\n.SH NAME\nhealwatch.toml \\- \
         the healwatch configuration file\n.SH SYNOPSIS\n/etc/healwatch/healwatch.toml\n.SH DESCRIPTION\n",
        env!("CARGO_PKG_VERSION")
    );
    page += &roff(
        "A TOML file with a [defaults] table, [[target]] tables and [[engine]] tables. Every \
         healwatch command reads /etc/healwatch/healwatch.toml when it exists and no -c, -t or \
         HEALWATCH_CONFIG is given, except check, which reads only the file -c names. Durations \
         are written like 500ms, 5s, 2m. A flag given on the command line wins over the file; \
         a value outside its range is an error wherever it comes from. healwatch validate shows \
         what a file resolves to.",
    );
    page += "\n.SH \"[DEFAULTS]\"\n";
    page += &roff("Every per-target setting below, and these keys (each also a flag of healwatch run):");
    let run = command.find_subcommand("run").cloned().unwrap_or_default();
    for arg in run.get_arguments().filter(|a| crate::config::RUN_OPTION_KEYS.contains(&a.get_id().as_str())) {
        page += &format!("\n.TP\n\\fB{}\\fR\n{}", roff(arg.get_id().as_str()), roff(&help_text(arg)));
    }
    let setting_keys: Vec<String> = crate::settings::KEYS.iter().map(|k| k.to_string()).collect();
    let file_only: Vec<String> = file::keys("[defaults]")
        .into_iter()
        .filter(|k| !setting_keys.contains(k) && !crate::config::RUN_OPTION_KEYS.contains(&k.as_str()))
        .collect();
    page += &format!("\n.PP\n{}", roff(&format!("And, in the file only: {}.", file_only.join(", "))));
    page += "\n.SH \"PER-TARGET SETTINGS\"\n";
    page += &roff(
        "Each is a [defaults] and a [[target]] key, a flag of healwatch run (--retry-delay for \
         retry_delay) and a label (healwatch.retry_delay). A flag wins over a target's key or \
         labels, which win over [defaults], which wins over the default.",
    );
    for [key, default, least, most, help] in crate::settings::reference() {
        let meaning = help.split(" [default:").next().unwrap_or(&help).to_string();
        page += &format!(
            "\n.TP\n\\fB{}\\fR (default {}, {} to {})\n{}",
            roff(&key),
            roff(&default),
            roff(&least),
            roff(&most),
            roff(&meaning)
        );
    }
    for (table, probe) in [("[[TARGET]]", "[[target]]\nname = \"x\""), ("[[ENGINE]]", "[[engine]]\nname = \"x\"")] {
        page += &format!("\n.SH \"{table}\"\n{}", roff(&format!("Keys: {}.", file::keys(probe).join(", "))));
    }
    page += "\n.SH EXAMPLE\n.nf\n";
    page += &roff(include_str!("../examples/healwatch.toml"));
    page += "\n.fi\n.SH \"SEE ALSO\"\nhealwatch(1), healwatch\\-validate(1), /usr/share/doc/healwatch/docs/configuration.md\n";
    page
}

/// Text for roff: backslashes and hyphens escaped, no line read as a request.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|l| if l.starts_with(['.', '\'']) { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// docs/engine-api.md: every Engine API call healwatch can make, by feature, with the
/// socket-proxy switches that allow it (`docker::api::table`).
pub fn engine_api() -> String {
    let mut out = String::from(
        "# The Engine API healwatch calls\n\n<!-- Generated from src/docker/api/table.rs by \
         `HEALWATCH_UPDATE_DOCS=1 cargo test docs`; do not edit. -->\n\nEvery call healwatch can make to a Docker \
         engine's API, by the feature that makes it, and the switches of a socket proxy (Tecnativa's \
         docker-socket-proxy, LinuxServer's socket-proxy) that let it through. A unit test holds every request \
         the code builds to a row here, and the end-to-end tests hold every request a real proxy saw to one. \
         `healwatch validate` says which features a config uses; [security](security.md) says what each \
         switch grants.\n\n`{name}` is a container's name or id, `{id}` an exec's; a path may carry the API \
         version first (`/v1.43/containers/json`) and a query after.\n\n",
    );
    out.push_str(&crate::docker::api::table::markdown());
    out
}

/// docs/reference.md: the run options from their clap definitions, the per-target
/// settings from `settings_table!`, and the keys the config file and labels take from
/// the schema itself.
pub fn reference() -> String {
    let settings = crate::settings::reference();
    let setting_keys: Vec<&str> = settings.iter().map(|row| row[0].as_str()).collect();
    let defaults = file::keys("[defaults]");
    let mut out = String::from(
        "# Reference\n\n<!-- Generated from the definitions by `HEALWATCH_UPDATE_DOCS=1 cargo test docs`; \
         do not edit. -->\n\nEvery flag, config key and label healwatch takes. The guides in this folder \
         say how they work together; `healwatch SUBCOMMAND --help` and the man pages say the same.\n\n",
    );
    out.push_str("## `healwatch run` options\n\n| option | `[defaults]` key | meaning |\n| --- | --- | --- |\n");
    let mut run = Cli::command();
    run.build();
    let run = run.find_subcommand("run").cloned().unwrap_or_default();
    let mut flagged = Vec::new();
    for arg in run.get_arguments().filter(|a| !a.is_hide_set() && a.get_long().is_some()) {
        let id = arg.get_id().as_str();
        if id == "help" || setting_keys.contains(&id) {
            continue;
        }
        flagged.push(id.to_string());
        let key = if crate::config::RUN_OPTION_KEYS.contains(&id) { format!("`{id}`") } else { "-".to_string() };
        out.push_str(&format!("| {} | {key} | {} |\n", cell(&flag_text(arg)), cell(&help_text(arg))));
    }
    out.push_str(
        "\n## Per-target settings\n\nEach is a flag (`--retry-delay`), a `[defaults]` and `[[target]]` key \
         (`retry_delay`) and a label (`healwatch.retry_delay`). A flag wins over a target's key (or its \
         labels), which wins over `[defaults]`, which wins over the default. A value outside its range is \
         an error wherever it comes from.\n\n| key | default | range | meaning |\n| --- | --- | --- | --- |\n",
    );
    for [key, default, least, most, help] in &settings {
        let meaning = help.split(" [default:").next().unwrap_or(help);
        out.push_str(&format!("| `{key}` | {default} | {least} to {most} | {} |\n", cell(meaning)));
    }
    let file_only: Vec<String> =
        defaults.iter().filter(|k| !flagged.contains(k) && !setting_keys.contains(&k.as_str())).cloned().collect();
    out.push_str(&format!(
        "\n## Config file keys\n\n- `[defaults]`: every per-target setting, the run options above that name a \
         key, and {} (no flag).\n- `[[target]]`: {}.\n- `[[engine]]`: {}.\n",
        code_list(&file_only),
        code_list(&file::keys("[[target]]\nname = \"x\"")),
        code_list(&file::keys("[[engine]]\nname = \"x\"")),
    ));
    let labels: Vec<String> = crate::discover::OTHER_KEYS
        .iter()
        .copied()
        .chain(setting_keys.iter().copied())
        .map(|k| format!("healwatch.{k}"))
        .collect();
    out.push_str(&format!("\n## Labels\n\nWith `--discover` or `--unhealthy`: {}.\n", code_list(&labels)));
    out
}

/// `-c, --config FILE` (env `HEALWATCH_CONFIG`).
fn flag_text(arg: &clap::Arg) -> String {
    let mut text = String::from("`");
    if let Some(short) = arg.get_short() {
        text.push_str(&format!("-{short}, "));
    }
    text.push_str(&format!("--{}", arg.get_long().unwrap_or_default()));
    if arg.get_action().takes_values() {
        let names = arg.get_value_names().map(|n| n.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "));
        text.push_str(&format!(" {}", names.unwrap_or_else(|| "VALUE".to_string())));
    }
    text.push('`');
    if let Some(env) = arg.get_env() {
        text.push_str(&format!(" (env `{}`)", env.to_string_lossy()));
    }
    text
}

/// An argument's help, as `--help` shows it.
fn help_text(arg: &clap::Arg) -> String {
    arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default()
}

/// Text for a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

fn code_list(items: &[String]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}
