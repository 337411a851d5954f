//! Where a pass's report goes besides stdout, and stdout itself: the metrics file, the
//! notification and the ping (each failure a warning on the report), the log, and the
//! line or text on stdout.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::RunArgs;
use crate::config::Config;
use crate::exit::{Exit, Stop};
use crate::files::atomic;
use crate::memory::state::State;
use crate::model::{Format, HealthUrl, Outcome, one_line};
use crate::output::notify::{self, Message, Service};
use crate::output::report::{self, Report};
use crate::output::{metrics, print};

/// Where a pass reports besides stdout.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outputs {
    /// `--log`.
    pub(crate) log: Option<PathBuf>,
    /// `--metrics`.
    pub(crate) metrics: Option<PathBuf>,
    /// `--notify-url`, each.
    pub(crate) notify: Vec<Service>,
    /// `--notify-on`.
    pub(crate) notify_on: Vec<Outcome>,
    /// `--ping-url`.
    pub(crate) ping_url: Option<HealthUrl>,
}

impl Outputs {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            log: config.log.clone(),
            metrics: config.metrics.clone(),
            notify: config.notify.clone(),
            notify_on: config.notify_on.clone(),
            ping_url: config.ping_url.clone(),
        }
    }

    /// What the flags alone say, for a config that did not load.
    pub(crate) fn from_flags(args: &RunArgs) -> Self {
        Self {
            log: args.report.log.clone(),
            metrics: args.report.metrics.clone(),
            notify: Vec::new(),
            notify_on: Vec::new(),
            ping_url: args.report.ping_url.as_deref().and_then(|u| HealthUrl::parse_secret_path(u).ok()),
        }
    }
}

/// Metrics file, notification and ping, in that order of need; each failure becomes a
/// warning on the report.
pub(crate) fn publish(report: &mut Report, outputs: &Outputs, exit: Exit, memory: Option<&State>) {
    write_metrics(report, outputs, exit, memory);
    send(report, outputs, exit);
}

/// The metrics file, from the report and the memory the pass leaves (`None`: a run that
/// never got to a pass).
pub(crate) fn write_metrics(report: &mut Report, outputs: &Outputs, exit: Exit, memory: Option<&State>) {
    let Some(path) = &outputs.metrics else { return };
    if memory.is_some() {
        // Only a pass that holds the lock writes metrics, so leftovers are a killed pass's.
        atomic::sweep(path);
    }
    let text = match memory {
        Some(memory) => metrics::render(report, memory, report.time, exit),
        None => metrics::render_run(report.time, report.duration, exit),
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        report.warnings.push(format!(
            "metrics: directory {} does not exist: create it (node_exporter's --collector.textfile.directory), \
             or drop --metrics",
            dir.display()
        ));
    } else if let Err(e) = atomic::write(path, text.as_bytes()) {
        report.warnings.push(format!("metrics: {e:#}"));
    }
}

/// The notification (when the report has news for it) and the ping, sent now; their
/// failures become warnings on the report.
pub(crate) fn send(report: &mut Report, outputs: &Outputs, exit: Exit) {
    if let Some(parcel) = Parcel::from_report(report, outputs, exit) {
        report.warnings.extend(parcel.deliver(Instant::now() + notify::DEADLINE));
    }
}

/// When a delivery starting now must be done: within `notify::DEADLINE`, and by the
/// pass's `end` if it has one (a watch's), though never with less than `notify::TIMEOUT`
/// (one request): news of a pass near the watch's end is not cut off unsent.
pub(crate) fn deadline(end: Option<Instant>) -> Instant {
    let now = Instant::now();
    let most = now + notify::DEADLINE;
    match end {
        Some(end) => most.min(end.max(now + notify::TIMEOUT)),
        None => most,
    }
}

/// What a pass sends, owned, so that it can go on a thread of its own.
pub(crate) struct Parcel {
    message: Option<Message>,
    /// The status line as it stood, for webhooks.
    line: Vec<u8>,
    services: Vec<Service>,
    ping: Option<HealthUrl>,
    success: bool,
}

impl Parcel {
    /// What `report` has to send; `None` when nothing (no news and no ping).
    pub(crate) fn from_report(report: &Report, outputs: &Outputs, exit: Exit) -> Option<Self> {
        // Built only when there is someone to tell.
        let message = (!outputs.notify.is_empty()).then(|| Message::from_report(report, &outputs.notify_on)).flatten();
        if message.is_none() && outputs.ping_url.is_none() {
            return None;
        }
        // A webhook gets the line as it stands; the notifications' own fate is added after.
        let line = message.as_ref().map(|_| report.line()).unwrap_or_default();
        let services = if message.is_some() { outputs.notify.clone() } else { Vec::new() };
        Some(Self { message, line, services, ping: outputs.ping_url.clone(), success: exit == Exit::Healthy })
    }

    /// Sends it: every notification and the ping side by side, all done by `deadline`
    /// (a signal cuts it short), so a dead or dawdling receiver costs one bounded wait,
    /// never one per service. The failures, as warnings.
    pub(crate) fn deliver(&self, deadline: Instant) -> Vec<String> {
        let sender = notify::Sender::default();
        let (sender, line) = (&sender, &self.line);
        let (notified, pinged) = std::thread::scope(|scope| {
            // A thread that cannot be started (a process limit) leaves its service to this one.
            let (started, inline): (Vec<_>, Vec<_>) = self
                .message
                .iter()
                .flat_map(|m| self.services.iter().map(move |s| (s, m)))
                .map(|(service, m)| {
                    let notify = move || sender.notify(service, m, line, deadline);
                    std::thread::Builder::new().spawn_scoped(scope, notify).map_err(|_| (service, m))
                })
                .partition(Result::is_ok);
            let pinged = self.ping.as_ref().map(|url| sender.ping(url, self.success, deadline));
            let mut notified: Vec<_> =
                inline.into_iter().filter_map(Result::err).map(|(s, m)| sender.notify(s, m, line, deadline)).collect();
            notified.extend(
                started
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|h| h.join().unwrap_or_else(|_| Err("notifier panicked".to_string()))),
            );
            (notified, pinged)
        });
        notified.into_iter().filter_map(Result::err).chain(pinged.and_then(Result::err)).collect()
    }
}

/// Deliveries off the pass's thread, for a watch: a silent receiver must not hold up the
/// next look, and with it the next heal. Each delivery is bounded by its deadline; their
/// failures are said by the pass after (`finished`), or when the watch ends (`drain`).
#[derive(Default)]
pub(crate) struct Courier {
    under_way: std::sync::Mutex<Vec<std::thread::JoinHandle<Vec<String>>>>,
}

impl Courier {
    /// Starts delivering `parcel` (done by `deadline`) on a thread of its own; where the
    /// OS gives none, it is delivered now and its failures returned.
    pub(crate) fn dispatch(&self, parcel: Parcel, deadline: Instant) -> Vec<String> {
        let parcel = std::sync::Arc::new(parcel);
        let theirs = std::sync::Arc::clone(&parcel);
        match std::thread::Builder::new().name("courier".into()).spawn(move || theirs.deliver(deadline)) {
            Ok(handle) => {
                self.lock().push(handle);
                Vec::new()
            }
            Err(_) => parcel.deliver(deadline),
        }
    }

    /// The failures of deliveries that have ended since the last call.
    pub(crate) fn finished(&self) -> Vec<String> {
        let mut under_way = self.lock();
        let (done, going): (Vec<_>, Vec<_>) = under_way.drain(..).partition(|h| h.is_finished());
        *under_way = going;
        done.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    }

    /// Waits for every delivery still under way (each ends by its deadline).
    pub(crate) fn drain(&self) -> Vec<String> {
        let all: Vec<_> = self.lock().drain(..).collect();
        all.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<std::thread::JoinHandle<Vec<String>>>> {
        self.under_way.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Opens the log (if any) before the report is final, so a log that cannot be opened
/// is a warning in the line itself.
pub(crate) fn open_log_for<'a>(report: &mut Report, log: Option<&'a Path>) -> Option<(&'a Path, File)> {
    let path = log?;
    match open_log(path) {
        Ok(file) => Some((path, file)),
        Err(e) => {
            warn(report, format!("{e:#}"));
            None
        }
    }
}

/// Appends the status line to the log and prints the report (when `tell`), as JSON or
/// as text. The line is serialized once, unless the log write itself fails.
/// Under `quiet`, the text report lists only the targets that changed.
pub(crate) fn emit(
    report: &mut Report,
    log: Option<(&Path, File)>,
    tell: bool,
    format: Format,
    quiet: bool,
) -> Result<(), Stop> {
    report.tidy_warnings();
    let mut line = report.line();
    if let Some((path, mut file)) = log
        && let Err(e) = file.write_all(&line)
    {
        warn(report, format!("appending to log {}: {e}", path.display()));
        line = report.line();
    }
    if !tell {
        return Ok(());
    }
    match format {
        Format::Json => print(&line),
        Format::Text => {
            use std::io::IsTerminal;
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print(report::text(report, color, quiet).as_bytes())
        }
    }
}

pub(crate) fn warn(report: &mut Report, warning: String) {
    eprintln!("healwatch: warning: {}", one_line(&warning, 2000));
    report.warnings.push(warning);
}

/// Opens the log for appending: one write per line, so O_APPEND keeps concurrent
/// writers' lines whole.
fn open_log(path: &Path) -> Result<File> {
    crate::files::open_append(path).with_context(|| format!("opening log {}", path.display()))
}
