# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_healwatch_global_optspecs
    string join \n c/config= t/target= timeout= retries= retry-delay= decide-within= restart-timeout= recovery-timeout= failure-threshold= max-restarts= restart-window= stable-after= start-period= recreate-dependents= watch= watch-every= watch-cpu= n/dry-run concurrency= discover unhealthy= proxy= ca-file= docker= log= metrics= notify-url= ping-url= q/quiet format= forget-after= state= lock= h/help V/version
end

function __fish_healwatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_healwatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_healwatch_using_subcommand
    set -l cmd (__fish_healwatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c healwatch -n "__fish_healwatch_needs_command" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l timeout -d 'Bound on one HTTP attempt, connect through last body byte [default: 2s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l retries -d 'Extra HTTP attempts inside the pass before a target counts as failed [default: 2]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l retry-delay -d 'Pause between those attempts [default: 100ms]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l decide-within -d 'Deadline for the first check and its retries: a target still failing then is failing (a hung endpoint is decided within this) [default: 5s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l restart-timeout -d 'Stop timeout passed to `docker restart -t`, rounded up to whole seconds [default: 10s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l recovery-timeout -d 'After a restart, poll the URL until healthy or this passes; 0 = do not wait [default: 60s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l failure-threshold -d 'Restart only after this many failed passes in a row [default: 1]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l max-restarts -d 'Stop restarting after N restarts within --restart-window; 0 = never give up [default: 3]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l restart-window -d 'The crash-loop guard\'s window [default: 30m]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l stable-after -d 'A restart after which the target stays healthy this long held: it no longer counts toward --max-restarts (the guard counts restarts that did not hold) [default: 30s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l start-period -d 'Do not restart a container started less than this long ago [default: 0s]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l recreate-dependents -d 'Recreate a container that runs in the network namespace of one that was replaced (same name, image, command, environment, labels, mounts; the new provider\'s namespace), instead of reporting it `needs_recreate` [default: false]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l watch -d 'Stay up for DUR from the start and watch between passes: every --watch-every, one attempt at each HTTP and TCP target the last pass saw healthy, and Docker\'s events (die, oom, pause, unhealthy) for their containers. Anything amiss starts a pass at once, which writes its own status line. For healing within seconds from a timer (the shipped one runs --watch 14s every 15 s) or cron (--watch 55s every minute) [default: one pass, then exit]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l watch-every -d 'With --watch: how often the healthy targets are looked at [default: 500ms]. Many targets are looked at in slices of 50 spread over it, not all at once' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l watch-cpu -d 'With --watch: the share of one core, in percent, the looks may take [default: 10]. Beyond it each healthy target is looked at less often than --watch-every, said in the status line (`watch.slowed`) and the metrics; a pass starts to say so' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l concurrency -d 'Check and heal at most N targets at once [default: 32]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l unhealthy -d 'Also heal containers whose Docker HEALTHCHECK is unhealthy: `label` (those labelled healwatch.enable=true), `all`, or `off` [default: off]' -r -f -a "off\t'None (only URL targets)'
label\t'Those labelled `healwatch.enable=true`'
all\t'Every one not labelled `healwatch.enable=false`'"
complete -c healwatch -n "__fish_healwatch_needs_command" -l proxy -d 'Send health checks through this HTTP proxy; by default proxy variables (HTTP_PROXY, ALL_PROXY...) are ignored [default: none]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l ca-file -d 'PEM file of the CAs that HTTPS health checks trust, for services with an internal CA [default: the public web roots built in]' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -l log -d 'Also append the status line to FILE (JSON Lines)' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -l metrics -d 'Write Prometheus metrics (node_exporter textfile format) to FILE after every pass' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -l notify-url -d 'Notify here when a pass did something, or found something wrong that it did not fix (config `notify_on` picks the outcomes): an https:// webhook gets the status line; slack://, discord://, teams://, ntfy://, gotify://, telegram:// a message; smtp:// a mail. Repeatable. HEALWATCH_NOTIFY_URL (URLs separated by blanks) or the config file keeps a token out of the process list' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l ping-url -d 'Dead man\'s switch: GET URL after a pass that exits 0, URL/fail after any other (or HEALWATCH_PING_URL, out of the process list)' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l format -d 'How the report is printed: `json` (one status line) or `text` (a short report for people and cron mail). --log is always JSON Lines [default: json]' -r -f -a "json\t'One JSON status line'
text\t'A short report for people: a line per target that is not plainly healthy, and a summary'"
complete -c healwatch -n "__fish_healwatch_needs_command" -l forget-after -d 'Forget a target\'s memory when no pass has checked it for this long; a pause is kept until it ends (at most a year) [default: 7d]' -r
complete -c healwatch -n "__fish_healwatch_needs_command" -l state -d 'State file: memory between passes [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -l lock -d 'Lock file that keeps two passes from overlapping [default: healwatch.lock in /var/lib/healwatch when writable, else $XDG_STATE_HOME/healwatch or ~/.local/state/healwatch]' -r -F
complete -c healwatch -n "__fish_healwatch_needs_command" -s n -l dry-run -d 'Check and decide, but run no docker command; failing targets are reported as `unhealthy`'
complete -c healwatch -n "__fish_healwatch_needs_command" -l discover -d 'Also watch running containers that declare themselves with `healwatch.url` labels'
complete -c healwatch -n "__fish_healwatch_needs_command" -s q -l quiet -d 'Print only when something changed: a docker command ran, an outcome differs from the last pass\'s, or a warning is new. --log still gets every line'
complete -c healwatch -n "__fish_healwatch_needs_command" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_needs_command" -s V -l version -d 'Print version'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "run" -d 'Make one pass: check every target, heal the failing ones, print one status line (default)'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "validate" -d 'Parse the config and targets, print the resolved targets, and check that each target\'s container exists; exit 0, 1 when one is missing or an engine cannot be asked (unless --offline), 2 on a config error (no targets included, as for a pass)'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "drill" -d 'Crash a target\'s container for real (kill its main process from the host) and measure how long until it runs and answers healthy again. Exit 0 when healthy within --wait'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "audit" -d 'List containers with their restart policy, HEALTHCHECK and whether a target watches them. Exit 1 when a watched container\'s restart policy is `no`'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "status" -d 'Show what healwatch remembers per target: last outcome, failures, restarts, pauses'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "pause" -d 'Maintenance: keep checking and reporting TARGET, but never restart it, for a while'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "resume" -d 'End a pause and reset the crash-loop guard of TARGET'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "check" -d 'CI smoke check: wait until every target is healthy (or --wait passes), restart nothing, write no state; exit 0 when all became healthy in time, 1 otherwise'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "completions" -d 'Print the shell completion script for SHELL (bash, zsh, fish), e.g. `healwatch completions bash > /etc/bash_completion.d/healwatch`'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "version" -d 'Print the version, the commit and date it was built from, its target, and the docker CLI a pass would use'
complete -c healwatch -n "__fish_healwatch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l timeout -d 'Bound on one HTTP attempt, connect through last body byte [default: 2s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l retries -d 'Extra HTTP attempts inside the pass before a target counts as failed [default: 2]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l retry-delay -d 'Pause between those attempts [default: 100ms]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l decide-within -d 'Deadline for the first check and its retries: a target still failing then is failing (a hung endpoint is decided within this) [default: 5s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l restart-timeout -d 'Stop timeout passed to `docker restart -t`, rounded up to whole seconds [default: 10s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l recovery-timeout -d 'After a restart, poll the URL until healthy or this passes; 0 = do not wait [default: 60s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l failure-threshold -d 'Restart only after this many failed passes in a row [default: 1]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l max-restarts -d 'Stop restarting after N restarts within --restart-window; 0 = never give up [default: 3]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l restart-window -d 'The crash-loop guard\'s window [default: 30m]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l stable-after -d 'A restart after which the target stays healthy this long held: it no longer counts toward --max-restarts (the guard counts restarts that did not hold) [default: 30s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l start-period -d 'Do not restart a container started less than this long ago [default: 0s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l recreate-dependents -d 'Recreate a container that runs in the network namespace of one that was replaced (same name, image, command, environment, labels, mounts; the new provider\'s namespace), instead of reporting it `needs_recreate` [default: false]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l watch -d 'Stay up for DUR from the start and watch between passes: every --watch-every, one attempt at each HTTP and TCP target the last pass saw healthy, and Docker\'s events (die, oom, pause, unhealthy) for their containers. Anything amiss starts a pass at once, which writes its own status line. For healing within seconds from a timer (the shipped one runs --watch 14s every 15 s) or cron (--watch 55s every minute) [default: one pass, then exit]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l watch-every -d 'With --watch: how often the healthy targets are looked at [default: 500ms]. Many targets are looked at in slices of 50 spread over it, not all at once' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l watch-cpu -d 'With --watch: the share of one core, in percent, the looks may take [default: 10]. Beyond it each healthy target is looked at less often than --watch-every, said in the status line (`watch.slowed`) and the metrics; a pass starts to say so' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l concurrency -d 'Check and heal at most N targets at once [default: 32]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l unhealthy -d 'Also heal containers whose Docker HEALTHCHECK is unhealthy: `label` (those labelled healwatch.enable=true), `all`, or `off` [default: off]' -r -f -a "off\t'None (only URL targets)'
label\t'Those labelled `healwatch.enable=true`'
all\t'Every one not labelled `healwatch.enable=false`'"
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l proxy -d 'Send health checks through this HTTP proxy; by default proxy variables (HTTP_PROXY, ALL_PROXY...) are ignored [default: none]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l ca-file -d 'PEM file of the CAs that HTTPS health checks trust, for services with an internal CA [default: the public web roots built in]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l log -d 'Also append the status line to FILE (JSON Lines)' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l metrics -d 'Write Prometheus metrics (node_exporter textfile format) to FILE after every pass' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l notify-url -d 'Notify here when a pass did something, or found something wrong that it did not fix (config `notify_on` picks the outcomes): an https:// webhook gets the status line; slack://, discord://, teams://, ntfy://, gotify://, telegram:// a message; smtp:// a mail. Repeatable. HEALWATCH_NOTIFY_URL (URLs separated by blanks) or the config file keeps a token out of the process list' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l ping-url -d 'Dead man\'s switch: GET URL after a pass that exits 0, URL/fail after any other (or HEALWATCH_PING_URL, out of the process list)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l format -d 'How the report is printed: `json` (one status line) or `text` (a short report for people and cron mail). --log is always JSON Lines [default: json]' -r -f -a "json\t'One JSON status line'
text\t'A short report for people: a line per target that is not plainly healthy, and a summary'"
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l forget-after -d 'Forget a target\'s memory when no pass has checked it for this long; a pause is kept until it ends (at most a year) [default: 7d]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l state -d 'State file: memory between passes [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l lock -d 'Lock file that keeps two passes from overlapping [default: healwatch.lock in /var/lib/healwatch when writable, else $XDG_STATE_HOME/healwatch or ~/.local/state/healwatch]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -s n -l dry-run -d 'Check and decide, but run no docker command; failing targets are reported as `unhealthy`'
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -l discover -d 'Also watch running containers that declare themselves with `healwatch.url` labels'
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -s q -l quiet -d 'Print only when something changed: a docker command ran, an outcome differs from the last pass\'s, or a warning is new. --log still gets every line'
complete -c healwatch -n "__fish_healwatch_using_subcommand run" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand validate" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand validate" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand validate" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand validate" -l offline -d 'Do not ask the engines whether the containers exist'
complete -c healwatch -n "__fish_healwatch_using_subcommand validate" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l wait -d 'How long to wait for the container to run and answer healthy again (at most 1h)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l timeout -d 'Bound on one HTTP attempt, connect through last body byte [default: 2s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l decide-within -d 'Deadline for the first check and its retries: a target still failing then is failing (a hung endpoint is decided within this) [default: 5s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l restart-timeout -d 'Stop timeout passed to `docker restart -t`, rounded up to whole seconds [default: 10s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l recovery-timeout -d 'After a restart, poll the URL until healthy or this passes; 0 = do not wait [default: 60s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l stable-after -d 'A restart after which the target stays healthy this long held: it no longer counts toward --max-restarts (the guard counts restarts that did not hold) [default: 30s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l recreate-dependents -d 'Recreate a container that runs in the network namespace of one that was replaced (same name, image, command, environment, labels, mounts; the new provider\'s namespace), instead of reporting it `needs_recreate` [default: false]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l proxy -d 'Send health checks through this HTTP proxy; by default proxy variables (HTTP_PROXY, ALL_PROXY...) are ignored [default: none]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l ca-file -d 'PEM file of the CAs that HTTPS health checks trust, for services with an internal CA [default: the public web roots built in]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l lock -d 'Lock file that keeps two passes from overlapping [default: healwatch.lock in /var/lib/healwatch when writable, else $XDG_STATE_HOME/healwatch or ~/.local/state/healwatch]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l concurrency -d 'Check and heal at most N targets at once [default: 32]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l unhealthy -d 'Also heal containers whose Docker HEALTHCHECK is unhealthy: `label` (those labelled healwatch.enable=true), `all`, or `off` [default: off]' -r -f -a "off\t'None (only URL targets)'
label\t'Those labelled `healwatch.enable=true`'
all\t'Every one not labelled `healwatch.enable=false`'"
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l log -d 'Also append the status line to FILE (JSON Lines)' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l metrics -d 'Write Prometheus metrics (node_exporter textfile format) to FILE after every pass' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l notify-url -d 'Notify here when a pass did something, or found something wrong that it did not fix (config `notify_on` picks the outcomes): an https:// webhook gets the status line; slack://, discord://, teams://, ntfy://, gotify://, telegram:// a message; smtp:// a mail. Repeatable. HEALWATCH_NOTIFY_URL (URLs separated by blanks) or the config file keeps a token out of the process list' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l ping-url -d 'Dead man\'s switch: GET URL after a pass that exits 0, URL/fail after any other (or HEALWATCH_PING_URL, out of the process list)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l format -d 'How the report is printed: `json` (one status line) or `text` (a short report for people and cron mail). --log is always JSON Lines [default: json]' -r -f -a "json\t'One JSON status line'
text\t'A short report for people: a line per target that is not plainly healthy, and a summary'"
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l forget-after -d 'Forget a target\'s memory when no pass has checked it for this long; a pause is kept until it ends (at most a year) [default: 7d]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l state -d 'State file: memory between passes [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l watch -d '`--watch` (only `run` watches)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l watch-every -d '`--watch-every`' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l watch-cpu -d '`--watch-cpu`' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l retries -d 'Extra HTTP attempts inside the pass before a target counts as failed [default: 2]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l retry-delay -d 'Pause between those attempts [default: 100ms]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l failure-threshold -d 'Restart only after this many failed passes in a row [default: 1]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l max-restarts -d 'Stop restarting after N restarts within --restart-window; 0 = never give up [default: 3]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l restart-window -d 'The crash-loop guard\'s window [default: 30m]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l start-period -d 'Do not restart a container started less than this long ago [default: 0s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l heal -d 'If the restart policy has not brought it back (at once when the policy is `no`, else after 5s), heal it as a pass would'
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -l discover -d 'Also watch running containers that declare themselves with `healwatch.url` labels'
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -s n -l dry-run -d 'Check and decide, but run no docker command; failing targets are reported as `unhealthy`'
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -s q -l quiet -d 'Print only when something changed: a docker command ran, an outcome differs from the last pass\'s, or a warning is new. --log still gets every line'
complete -c healwatch -n "__fish_healwatch_using_subcommand drill" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -l targets-only -d 'Only the containers that targets watch'
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -l json -d 'One JSON line instead of a table'
complete -c healwatch -n "__fish_healwatch_using_subcommand audit" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -l max-age -d 'Exit 1 (and say why on stderr) unless a pass was remembered less than DUR ago: healwatch\'s own liveness, e.g. its image\'s HEALTHCHECK (`status --max-age 5m`)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -l state -d 'State file [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -l lock -d 'Lock file shared with passes (status reads without taking it) [default: as for a pass]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -l json -d 'One JSON line instead of a table'
complete -c healwatch -n "__fish_healwatch_using_subcommand status" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -l for -d 'How long the pause lasts (at most a year)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -l state -d 'State file [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -l lock -d 'Lock file shared with passes (status reads without taking it) [default: as for a pass]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand pause" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand resume" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables [default: /etc/healwatch/healwatch.toml, when it exists and no -t is given]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand resume" -s t -l target -d 'A target as NAME=URL: NAME is the container to restart, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand resume" -l state -d 'State file [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand resume" -l lock -d 'Lock file shared with passes (status reads without taking it) [default: as for a pass]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand resume" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l wait -d 'How long to wait for every target to become healthy (at most 1h)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l stable -d 'Consecutive healthy checks that make a target healthy (1-100)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l junit -d 'Also write the result as JUnit XML (one testcase per target), which GitLab, Jenkins and most CI systems show natively' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l timeout -d 'Bound on one HTTP attempt, connect through last body byte [default: 2s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l recreate-dependents -d 'Recreate a container that runs in the network namespace of one that was replaced (same name, image, command, environment, labels, mounts; the new provider\'s namespace), instead of reporting it `needs_recreate` [default: false]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l proxy -d 'Send health checks through this HTTP proxy; by default proxy variables (HTTP_PROXY, ALL_PROXY...) are ignored [default: none]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l ca-file -d 'PEM file of the CAs that HTTPS health checks trust, for services with an internal CA [default: the public web roots built in]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l log -d 'Also append the status line to FILE (JSON Lines)' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l metrics -d 'Write Prometheus metrics (node_exporter textfile format) to FILE after every pass' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l notify-url -d 'Notify here when a pass did something, or found something wrong that it did not fix (config `notify_on` picks the outcomes): an https:// webhook gets the status line; slack://, discord://, teams://, ntfy://, gotify://, telegram:// a message; smtp:// a mail. Repeatable. HEALWATCH_NOTIFY_URL (URLs separated by blanks) or the config file keeps a token out of the process list' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l ping-url -d 'Dead man\'s switch: GET URL after a pass that exits 0, URL/fail after any other (or HEALWATCH_PING_URL, out of the process list)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l format -d 'How the report is printed: `json` (one status line) or `text` (a short report for people and cron mail). --log is always JSON Lines [default: json]' -r -f -a "json\t'One JSON status line'
text\t'A short report for people: a line per target that is not plainly healthy, and a summary'"
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l forget-after -d 'Forget a target\'s memory when no pass has checked it for this long; a pause is kept until it ends (at most a year) [default: 7d]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l state -d 'State file: memory between passes [default: state.json in the state directory]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l lock -d 'Lock file that keeps two passes from overlapping [default: healwatch.lock in /var/lib/healwatch when writable, else $XDG_STATE_HOME/healwatch or ~/.local/state/healwatch]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l watch -d '`--watch` (only `run` watches)' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l watch-every -d '`--watch-every`' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l watch-cpu -d '`--watch-cpu`' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l retries -d 'Extra HTTP attempts inside the pass before a target counts as failed [default: 2]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l retry-delay -d 'Pause between those attempts [default: 100ms]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l decide-within -d 'Deadline for the first check and its retries: a target still failing then is failing (a hung endpoint is decided within this) [default: 5s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l restart-timeout -d 'Stop timeout passed to `docker restart -t`, rounded up to whole seconds [default: 10s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l recovery-timeout -d 'After a restart, poll the URL until healthy or this passes; 0 = do not wait [default: 60s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l failure-threshold -d 'Restart only after this many failed passes in a row [default: 1]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l max-restarts -d 'Stop restarting after N restarts within --restart-window; 0 = never give up [default: 3]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l restart-window -d 'The crash-loop guard\'s window [default: 30m]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l start-period -d 'Do not restart a container started less than this long ago [default: 0s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l stable-after -d 'A restart after which the target stays healthy this long held: it no longer counts toward --max-restarts (the guard counts restarts that did not hold) [default: 30s]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -s c -l config -d 'TOML config file with [defaults] and [[target]] tables; check reads none unless named here (never the host\'s /etc/healwatch/healwatch.toml)' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l unhealthy -d 'Also wait for containers with a Docker HEALTHCHECK: `label` (those labelled healwatch.enable=true), `all`, or `off` [default: off]' -r -f -a "off\t'None (only URL targets)'
label\t'Those labelled `healwatch.enable=true`'
all\t'Every one not labelled `healwatch.enable=false`'"
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l concurrency -d 'Check at most N targets at once [default: 32]' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -s t -l target -d 'A target as NAME=URL: NAME is its container, URL its health endpoint. Repeatable; combined with the config file\'s targets' -r
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -l discover -d 'Also watch running containers that declare themselves with `healwatch.url` labels'
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -s n -l dry-run -d 'Check and decide, but run no docker command; failing targets are reported as `unhealthy`'
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -s q -l quiet -d 'Print only when something changed: a docker command ran, an outcome differs from the last pass\'s, or a warning is new. --log still gets every line'
complete -c healwatch -n "__fish_healwatch_using_subcommand check" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand completions" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand version" -l docker -d 'The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker]' -r -F
complete -c healwatch -n "__fish_healwatch_using_subcommand version" -s h -l help -d 'Print help'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "run" -d 'Make one pass: check every target, heal the failing ones, print one status line (default)'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "validate" -d 'Parse the config and targets, print the resolved targets, and check that each target\'s container exists; exit 0, 1 when one is missing or an engine cannot be asked (unless --offline), 2 on a config error (no targets included, as for a pass)'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "drill" -d 'Crash a target\'s container for real (kill its main process from the host) and measure how long until it runs and answers healthy again. Exit 0 when healthy within --wait'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "audit" -d 'List containers with their restart policy, HEALTHCHECK and whether a target watches them. Exit 1 when a watched container\'s restart policy is `no`'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "status" -d 'Show what healwatch remembers per target: last outcome, failures, restarts, pauses'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "pause" -d 'Maintenance: keep checking and reporting TARGET, but never restart it, for a while'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "resume" -d 'End a pause and reset the crash-loop guard of TARGET'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "check" -d 'CI smoke check: wait until every target is healthy (or --wait passes), restart nothing, write no state; exit 0 when all became healthy in time, 1 otherwise'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "completions" -d 'Print the shell completion script for SHELL (bash, zsh, fish), e.g. `healwatch completions bash > /etc/bash_completion.d/healwatch`'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "version" -d 'Print the version, the commit and date it was built from, its target, and the docker CLI a pass would use'
complete -c healwatch -n "__fish_healwatch_using_subcommand help; and not __fish_seen_subcommand_from run validate drill audit status pause resume check completions version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
