//! The documentation generated from the clap definitions, so it never drifts from
//! `--help`: one man page per command (`healwatch(1)`, `healwatch-drill(1)`...) and the
//! shell completions. The files in `doc/` are these bytes; a test keeps them current.

use clap::CommandFactory;

use crate::cli::Cli;

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
    let mut command = Cli::command().long_version(None::<&str>);
    command.build();
    let mut pages = vec![("healwatch.1".to_string(), render(command.clone()))];
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
