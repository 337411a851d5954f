//! Scanning a child's output line by line for a pattern, holding one line at a time.

use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::stream::{LineReader, nonblocking};
use super::{exit_text, kill_group, spawn_in_group};
use crate::model::show_ms;

/// A longer line is matched on its first this many bytes.
pub(crate) const LINE_LIMIT: usize = 64 * 1024;

/// Runs `command` and matches each line of its output (both streams) against `pattern`,
/// holding at most one line (cut at `LINE_LIMIT`) per stream. Stops at the first match
/// (killing the child's process group), at EOF, after `byte_limit` bytes, or at
/// `timeout`, which is an error.
pub(crate) fn scan_lines(
    command: &mut Command,
    pattern: &regex::Regex,
    timeout: Duration,
    byte_limit: u64,
) -> Result<Option<String>, String> {
    let start = Instant::now();
    let mut child = spawn_in_group(command.stdin(Stdio::null()).stderr(Stdio::piped()))
        .map_err(|e| format!("could not run {}: {e}", command.get_program().to_string_lossy()))?;
    let mut out = LineStream::new(child.stdout.take());
    let mut err = LineStream::new(child.stderr.take());
    let mut total = 0u64;
    let mut nap = Duration::from_millis(1);
    loop {
        let mut read_any = false;
        for read in [out.next_lines(pattern, &mut total), err.next_lines(pattern, &mut total)] {
            match read {
                LineRead::Match(line) => {
                    kill_group(&mut child);
                    return Ok(Some(line));
                }
                LineRead::Data => read_any = true,
                LineRead::Nothing => {}
            }
        }
        if total > byte_limit {
            kill_group(&mut child);
            return Ok(None);
        }
        if out.done && err.done {
            let status = child.wait().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("docker logs failed ({})", exit_text(status.code())));
            }
            return Ok(None);
        }
        if start.elapsed() >= timeout || crate::interrupt::requested().is_some() {
            kill_group(&mut child);
            return Err(format!("reading the logs took longer than {}", show_ms(timeout)));
        }
        if read_any {
            nap = Duration::from_millis(1);
        } else {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }
}

enum LineRead {
    Match(String),
    Data,
    Nothing,
}

/// One output pipe read without blocking, line by line.
struct LineStream<R> {
    pipe: Option<R>,
    lines: LineReader,
    done: bool,
}

impl<R: Read + AsFd> LineStream<R> {
    fn new(pipe: Option<R>) -> Self {
        let pipe = pipe.filter(|p| nonblocking(p));
        let done = pipe.is_none();
        Self { pipe, lines: LineReader::new(LINE_LIMIT), done }
    }

    fn next_lines(&mut self, pattern: &regex::Regex, total: &mut u64) -> LineRead {
        let Some(pipe) = self.pipe.as_mut() else { return LineRead::Nothing };
        let mut found = None;
        let mut matches = |line: &[u8], _cut: bool| {
            let text = String::from_utf8_lossy(line);
            found = pattern.is_match(&text).then(|| text.trim().to_string());
            found.is_some()
        };
        let mut buf = [0u8; 64 * 1024];
        match pipe.read(&mut buf) {
            Ok(0) => {
                self.done = true;
                self.pipe = None;
                self.lines.flush(&mut matches);
            }
            Ok(n) => {
                *total += n as u64;
                if !self.lines.feed(&buf[..n], &mut matches) {
                    return LineRead::Data;
                }
            }
            Err(_) => {}
        }
        found.map_or(LineRead::Nothing, LineRead::Match)
    }
}
