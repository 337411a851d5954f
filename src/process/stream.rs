//! Reading a child's pipes without blocking: the tail of a whole stream, or its lines.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

/// Makes a pipe's reads return at once when it is empty; false when that failed.
pub(crate) fn nonblocking(pipe: &impl AsFd) -> bool {
    rustix::fs::fcntl_getfl(pipe)
        .and_then(|flags| rustix::fs::fcntl_setfl(pipe, flags | rustix::fs::OFlags::NONBLOCK))
        .is_ok()
}

/// a child's answer is read when it comes, not at the next look.
pub(super) fn wait_for_output<A: AsFd, B: AsFd>(a: &Stream<A>, b: &Stream<B>, timeout: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let open = [a.pipe.as_ref().map(|p| p.as_fd()), b.pipe.as_ref().map(|p| p.as_fd())];
    let mut fds: Vec<PollFd> = open.iter().flatten().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let timeout = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: i64::from(timeout.subsec_nanos()) };
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}

/// One of a child's output pipes, read without blocking; only the last `limit` bytes
/// are kept.
pub(super) struct Stream<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
    pub(super) cut: usize,
    limit: usize,
    pub(super) done: bool,
}

impl<R: Read + AsFd> Stream<R> {
    pub(super) fn new(pipe: Option<R>, limit: usize) -> Self {
        let pipe = pipe.filter(|p| nonblocking(p));
        let done = pipe.is_none();
        Self { pipe, kept: Vec::new(), cut: 0, limit, done }
    }

    pub(super) fn read_available(&mut self) {
        let Some(pipe) = self.pipe.as_mut() else { return };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.done = true;
                    self.pipe = None;
                    return;
                }
                Ok(n) => {
                    self.kept.extend_from_slice(&buf[..n]);
                    // Trim in batches, keeping the tail: the end of an error says most.
                    if self.kept.len() > self.limit.saturating_mul(2).max(64 * 1024) {
                        let excess = self.kept.len() - self.limit;
                        self.kept.drain(..excess);
                        self.cut += excess;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The kept text, trimmed, saying how much was cut.
    pub(super) fn text(&mut self) -> String {
        if self.kept.len() > self.limit {
            let excess = self.kept.len() - self.limit;
            self.kept.drain(..excess);
            self.cut += excess;
        }
        let text = String::from_utf8_lossy(&self.kept).trim().to_string();
        if self.cut > 0 { format!("[{} bytes cut] {text}", self.cut) } else { text }
    }
}

/// Splits bytes into lines, holding at most `limit` bytes of the current one: a longer
/// line is cut there (its rest is dropped), so no input can make it hold more.
#[derive(Debug)]
pub(crate) struct LineReader {
    line: Vec<u8>,
    limit: usize,
    /// The current line passed `limit`: the rest of it is dropped.
    cut: bool,
}

impl LineReader {
    /// A reader holding at most `limit` bytes of a line.
    pub(crate) fn new(limit: usize) -> Self {
        Self { line: Vec::new(), limit, cut: false }
    }

    /// Feeds `bytes`, calling `line` with each line they end (without its newline, and
    /// whether it was cut) until it returns true, which is returned.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8], bool) -> bool) -> bool {
        for segment in bytes.split_inclusive(|&b| b == b'\n') {
            let ends = segment.last() == Some(&b'\n');
            let body = if ends { &segment[..segment.len() - 1] } else { segment };
            let room = self.limit.saturating_sub(self.line.len());
            self.line.extend_from_slice(&body[..body.len().min(room)]);
            self.cut |= body.len() > room;
            if ends && self.finish(&mut line) {
                return true;
            }
        }
        false
    }

    /// Ends the current line, if it holds anything (at the end of the input).
    pub(crate) fn flush(&mut self, line: impl FnMut(&[u8], bool) -> bool) -> bool {
        !self.line.is_empty() && self.finish(line)
    }

    fn finish(&mut self, mut line: impl FnMut(&[u8], bool) -> bool) -> bool {
        let found = line(&self.line, self.cut);
        self.line.clear();
        self.cut = false;
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_the_limit_and_split_across_reads() {
        let mut reader = LineReader::new(4);
        let mut seen = Vec::new();
        let mut keep = |l: &[u8], cut: bool| {
            seen.push((String::from_utf8_lossy(l).into_owned(), cut));
            false
        };
        assert!(!reader.feed(b"ab", &mut keep));
        assert!(!reader.feed(b"c\nlonger than four\n", &mut keep));
        assert!(!reader.feed(b"tail", &mut keep));
        assert!(!reader.flush(&mut keep));
        let want = [("abc", false), ("long", true), ("tail", false)];
        assert_eq!(seen, want.map(|(l, c)| (l.to_string(), c)));
    }

    #[test]
    fn feeding_stops_at_the_line_asked_for() {
        let mut reader = LineReader::new(64);
        let mut count = 0;
        assert!(reader.feed(b"one\ntwo\nthree\n", |l, _| {
            count += 1;
            l == b"two"
        }));
        assert_eq!(count, 2);
    }
}
