//! Pure decisions: from what a check found (and, later, memory and the clock) to what
//! the pass should do. No I/O, no clock, no environment.

use crate::probe::Check;

/// What to do about one target after its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Healthy: nothing to do.
    Leave,
    /// Failing, but this is a dry run: report it, touch nothing.
    Report,
    /// Failing: restart its container.
    Restart,
}

/// Decides for one target.
pub fn decide(check: &Check, dry_run: bool) -> Decision {
    match (check.healthy(), dry_run) {
        (true, _) => Decision::Leave,
        (false, true) => Decision::Report,
        (false, false) => Decision::Restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn decisions() {
        let ok = Check { http_status: Some(200), latency: Duration::ZERO, error: None };
        let bad = Check { http_status: Some(503), latency: Duration::ZERO, error: Some("status 503".into()) };
        let cases = [
            (&ok, false, Decision::Leave),
            (&ok, true, Decision::Leave),
            (&bad, true, Decision::Report),
            (&bad, false, Decision::Restart),
        ];
        for (check, dry_run, want) in cases {
            assert_eq!(decide(check, dry_run), want, "{check:?} dry_run={dry_run}");
        }
    }
}
