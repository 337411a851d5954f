//! Memory between passes: one versioned JSON file, written atomically (temp file in the
//! same directory, fsync, rename) and only while the pass lock is held. A bad file never
//! stops healing: it is moved aside and the pass goes on with empty memory.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::files::{self, Link};
use crate::model::{Outcome, rfc3339, timestamp};

/// The state file format this build reads and writes.
///
/// Version 2 added `last_warnings`; a version 1 file reads as version 2 with none.
pub(crate) const VERSION: u32 = 2;
/// A state file larger than this is not read (about 20,000 targets' worth).
const MAX_SIZE: u64 = 16 << 20;
/// The state file's name inside the state directory.
pub(crate) const STATE_FILE: &str = "state.json";

/// Everything healwatch remembers, by target name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// Format version; 1 and 2 are read, anything else is treated as corrupt.
    pub version: u32,
    /// Per target.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetState>,
    /// The last pass's warnings, so `--quiet` tells only new ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_warnings: Vec<String>,
    /// The last pass reached none of its Docker engines (a socket that refuses it, an
    /// engine that is down): it ran, but could heal nothing. `status --max-age` fails on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reached_no_engine: bool,
}

/// What healwatch remembers about one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetState {
    /// Failed passes in a row (0 after a healthy check or a recovery).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Times of restart attempts still inside the restart window (RFC 3339), oldest first.
    #[serde(default, with = "rfc3339::list")]
    pub recent_restarts: Vec<SystemTime>,
    /// Successful restarts, ever.
    #[serde(default)]
    pub restarts_total: u64,
    /// Restart commands that failed, ever.
    #[serde(default)]
    pub restart_failures_total: u64,
    /// The last pass's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<Outcome>,
    /// When the last pass ran (RFC 3339).
    #[serde(default, with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub last_time: Option<SystemTime>,
    /// Maintenance: no restarts before this time (RFC 3339).
    #[serde(default, with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<SystemTime>,
    /// With `log_pattern`: the container's logs are read up to here (RFC 3339).
    #[serde(default, with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub logs_read_until: Option<SystemTime>,
    /// Healthy in every pass since this time (RFC 3339), while restarts are in the window:
    /// once it is `stable_after` ago, they held and no longer count.
    #[serde(default, with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<SystemTime>,
    /// The container whose network namespace it runs in, by name, as last seen: when
    /// that one is replaced (a new id under the same name), its successor is found so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl TargetState {
    /// Restart attempts within `window` before `now`. A time in the future (the clock
    /// stepped back since) counts as `now`, so it leaves the window one window from now,
    /// not one window after a time that may be years ahead.
    pub(crate) fn restarts_in_window(&self, now: SystemTime, window: Duration) -> Vec<SystemTime> {
        self.recent_restarts
            .iter()
            .map(|&t| t.min(now))
            .filter(|&t| now.duration_since(t).is_ok_and(|age| age < window))
            .collect()
    }

    /// The pause end, when it is still in the future.
    pub(crate) fn paused_until(&self, now: SystemTime) -> Option<SystemTime> {
        self.paused_until.filter(|&t| t > now)
    }
}

/// The state as read, with anything worth telling the operator.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The state (empty when missing or bad).
    pub state: State,
    /// Problems met while reading, for the status line's `warnings`.
    pub warnings: Vec<String>,
    /// False when the file exists but could not be read: writing would destroy it.
    pub writable: bool,
}

/// Why a state file could not be used.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It exists but is not a regular file (a device, a directory): never touched.
    NotAFile,
    /// It exists but could not be read (permissions...): left alone.
    Unreadable(std::io::Error),
    /// Truncated, not JSON, wrong version or empty: the reason.
    Corrupt(String),
}

/// The one reader of the state file: `Ok(None)` when there is none yet.
pub(crate) fn read(path: &Path) -> Result<Option<State>, ReadError> {
    // Never read, move aside or replace something that is not a plain file (/dev/null,
    // a FIFO, a symbolic link someone planted in the state directory...).
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Ok(m) if !m.is_file() => return Err(ReadError::NotAFile),
        _ => {}
    }
    let bytes = match files::read_bounded(path, MAX_SIZE, Link::Refuse) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        // No pass ever writes one this large: moved aside like any other bad file, or
        // memory would be off for good.
        Err(e) if e.kind() == ErrorKind::FileTooLarge => {
            return Err(ReadError::Corrupt(format!("over {} MiB", MAX_SIZE >> 20)));
        }
        Err(e) => return Err(ReadError::Unreadable(e)),
    };
    match serde_json::from_slice::<State>(&bytes) {
        // Version 1 is version 2 without `last_warnings`.
        Ok(state) if (1..=VERSION).contains(&state.version) => Ok(Some(State { version: VERSION, ..state })),
        Ok(state) => {
            Err(ReadError::Corrupt(format!("version {} (this healwatch reads version {VERSION})", state.version)))
        }
        Err(_) if bytes.is_empty() => Err(ReadError::Corrupt("empty".to_string())),
        Err(e) => Err(ReadError::Corrupt(format!("not valid state JSON: {e}"))),
    }
}

/// Reads the state file for a pass, which never stops for it. Missing: empty state.
/// Unreadable or not a file: empty state, a warning, and no write this pass. Corrupt:
/// moved aside as `<file>.corrupt-<time>`, empty state, and a warning.
pub(crate) fn load(path: &Path, now: SystemTime) -> Loaded {
    let empty = |warning: Option<String>, writable: bool| Loaded {
        state: State { version: VERSION, ..State::default() },
        warnings: warning.into_iter().collect(),
        writable,
    };
    let problem = match read(path) {
        Ok(Some(state)) => return Loaded { state, warnings: Vec::new(), writable: true },
        Ok(None) => return empty(None, true),
        Err(ReadError::NotAFile) => {
            let warning = format!(
                "state file {} is not a regular file (or is a symbolic link); going on without memory",
                path.display()
            );
            return empty(Some(warning), false);
        }
        Err(ReadError::Unreadable(e)) => {
            let warning = format!("state file {} unreadable ({e}); going on without memory", path.display());
            return empty(Some(warning), false);
        }
        Err(ReadError::Corrupt(problem)) => problem,
    };
    let aside = corrupt_name(path, now);
    let moved = match std::fs::rename(path, &aside) {
        Ok(()) => format!("moved to {}", aside.display()),
        Err(e) => format!("could not move it aside: {e}"),
    };
    let warning = format!("state file {} is corrupt ({problem}); {moved}; starting with empty memory", path.display());
    empty(Some(warning), true)
}

/// Reads the state for `status`, `pause` and `resume`. Unlike a pass, these stop on a
/// bad file: they exist to show or change it, and must not move it aside behind a
/// person's back.
pub(crate) fn read_for_command(path: &Path) -> Result<State> {
    match read(path) {
        Ok(state) => Ok(state.unwrap_or(State { version: VERSION, ..State::default() })),
        Err(ReadError::NotAFile) => {
            anyhow::bail!(
                "state file {} is not a regular file (or is a symbolic link): give --state a file path",
                path.display()
            )
        }
        Err(ReadError::Unreadable(e)) => Err(e).with_context(|| format!("reading state file {}", path.display())),
        Err(ReadError::Corrupt(problem)) => anyhow::bail!(
            "state file {} is corrupt ({problem}); the next pass moves it aside and starts afresh",
            path.display()
        ),
    }
}

fn corrupt_name(path: &Path, now: SystemTime) -> PathBuf {
    let stamp = timestamp(now).replace(':', "");
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    path.with_file_name(name)
}

/// Writes `state` atomically (see `atomic::write`): a crash at any moment leaves the old
/// file or the new one. Only what `read` can read back is written: a state over
/// `MAX_SIZE` (a listing of tens of thousands of labelled containers, or a hostile engine)
/// is written compact, then without the entries that only say "healthy" (oldest first),
/// so the crash-loop guard, thresholds and pauses of every target are kept (said in the
/// returned warning); one that still does not fit is not written (an error; the old file
/// stays).
pub(crate) fn save(path: &Path, state: &State) -> Result<Option<String>> {
    save_within(path, state, MAX_SIZE)
}

fn save_within(path: &Path, state: &State, limit: u64) -> Result<Option<String>> {
    let (json, warning) = match fit(state, limit) {
        Ok(fitted) => fitted,
        Err(too_big) => anyhow::bail!(
            "state file {}: {too_big} bytes of memory that matters (failures, restarts, pauses), over the \
             {limit}-byte bound a pass reads; not written, the last state stays",
            path.display()
        ),
    };
    crate::files::atomic::write(path, &json).with_context(|| format!("state file {}", path.display()))?;
    Ok(warning.map(|w| format!("state file {}: {w}", path.display())))
}

/// The bytes to write for `state` within `limit`, with what was left out; or the size of
/// what cannot be left out.
fn fit(state: &State, limit: u64) -> Result<(Vec<u8>, Option<String>), u64> {
    let encode = |state: &State, pretty: bool| {
        let mut json =
            if pretty { serde_json::to_vec_pretty(state) } else { serde_json::to_vec(state) }.unwrap_or_default();
        json.push(b'\n');
        json
    };
    let fits = |json: &Vec<u8>| json.len() as u64 <= limit;
    let pretty = encode(state, true);
    if fits(&pretty) {
        return Ok((pretty, None));
    }
    let compact = encode(state, false);
    if fits(&compact) {
        return Ok((compact, None));
    }
    // Entries that only say "healthy", oldest first: what can go without losing a guard.
    let mut plain: Vec<(&Option<SystemTime>, &String)> = state
        .targets
        .iter()
        .filter(|(_, m)| m.consecutive_failures == 0 && m.recent_restarts.is_empty() && m.paused_until.is_none())
        .map(|(name, m)| (&m.last_time, name))
        .collect();
    plain.sort();
    let mut kept = state.clone();
    let mut json = compact;
    let mut dropped = 0;
    // Each round drops about what is over, by the average entry's size, plus a tenth: a
    // few rounds at most, each bounded by the entries left.
    while !fits(&json) && dropped < plain.len() {
        let per_entry = (json.len() / kept.targets.len().max(1)).max(1) as u64;
        let over = json.len() as u64 - limit;
        let more = (over / per_entry + over / per_entry / 10 + 1) as usize;
        for (_, name) in plain.iter().skip(dropped).take(more) {
            kept.targets.remove(*name);
        }
        dropped = (dropped + more).min(plain.len());
        json = encode(&kept, false);
    }
    if !fits(&json) {
        return Err(json.len() as u64);
    }
    let warning = format!(
        "over the {limit}-byte bound with {} targets: written without {dropped} healthy targets' entries \
         (oldest first; their restart totals start again), every failure, restart and pause kept",
        state.targets.len()
    );
    Ok((json, Some(warning)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_000_000 + secs)
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let loaded = load(&path, at(0));
        assert!(loaded.warnings.is_empty() && loaded.writable && loaded.state.targets.is_empty());
        let mut state = State { version: VERSION, ..State::default() };
        state.targets.insert("app".into(), TargetState { restarts_total: 4, ..TargetState::default() });
        save(&path, &state).unwrap();
        assert_eq!(load(&path, at(0)).state, state);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["state.json"], "no temp file is left behind");
    }

    #[test]
    fn a_state_file_too_large_to_read_is_moved_aside_and_memory_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_SIZE + 1).unwrap();
        let loaded = load(&path, SystemTime::UNIX_EPOCH);
        assert!(loaded.writable, "the next pass writes a fresh one");
        assert!(
            loaded.warnings[0].contains("over 16 MiB") && loaded.warnings[0].contains("moved to"),
            "{:?}",
            loaded.warnings
        );
        assert!(!path.exists());
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        let cases: [(&str, &[u8]); 5] = [
            ("truncated", br#"{"version":1,"targets":{"app":{"consecu"#),
            ("garbage", b"\x00\xffnot json at all"),
            ("wrong version", br#"{"version":3,"targets":{}}"#),
            ("empty", b""),
            ("wrong shape", br#"{"version":1,"targets":[]}"#),
        ];
        for (what, bytes) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.json");
            std::fs::write(&path, bytes).unwrap();
            let loaded = load(&path, at(0));
            assert!(loaded.state.targets.is_empty() && loaded.writable, "{what}");
            assert_eq!(loaded.warnings.len(), 1, "{what}");
            assert!(loaded.warnings[0].contains("corrupt"), "{what}: {}", loaded.warnings[0]);
            assert!(!path.exists(), "{what}: the bad file is moved away");
            let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(aside.len(), 1);
            assert!(aside[0].to_string_lossy().starts_with("state.json.corrupt-"), "{aside:?}");
            assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), bytes, "{what}: kept for a post-mortem");
        }
    }

    #[test]
    fn a_device_or_directory_is_never_touched() {
        for path in [Path::new("/dev/null"), Path::new("/tmp")] {
            let loaded = load(path, at(0));
            assert!(!loaded.writable && loaded.warnings[0].contains("not a regular file"), "{path:?}");
        }
        assert!(Path::new("/dev/null").exists(), "still there");
    }

    #[test]
    fn a_version_1_file_is_read_and_written_as_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"version":1,"targets":{"app":{"restarts_total":4,"last_outcome":"restarted"}}}"#)
            .unwrap();
        let loaded = load(&path, at(0));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.state.version, 2);
        assert_eq!(loaded.state.targets["app"].restarts_total, 4);
        save(&path, &loaded.state).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["version"], 2);
        assert_eq!(written["targets"]["app"]["last_outcome"], "restarted");
    }

    #[test]
    fn the_file_format_is_unchanged() {
        let t = TargetState {
            consecutive_failures: 2,
            recent_restarts: vec![at(0)],
            restarts_total: 4,
            restart_failures_total: 1,
            last_outcome: Some(Outcome::GaveUp),
            last_time: Some(at(60)),
            paused_until: None,
            logs_read_until: None,
            healthy_since: None,
            provider: None,
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"consecutive_failures":2,"recent_restarts":["2026-11-18T11:06:40.000Z"],"restarts_total":4,"restart_failures_total":1,"last_outcome":"gave_up","last_time":"2026-11-18T11:07:40.000Z"}"#
        );
        assert_eq!(serde_json::from_str::<TargetState>(&json).unwrap(), t);
        assert!(
            serde_json::from_str::<TargetState>(r#"{"recent_restarts":["yesterday"]}"#).is_err(),
            "a bad time is corrupt"
        );
        assert!(
            serde_json::from_str::<TargetState>(r#"{"last_outcome":"fine"}"#).is_err(),
            "an unknown outcome is corrupt"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1000, failure_persistence: None, ..Default::default()
        })]

        /// Any bytes as a state file, and any remembered times judged at any time: no panic.
        #[test]
        fn any_state_is_read_or_moved_aside(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            times in proptest::collection::vec(0u64..400_000_000_000, 0..4),
            now in 0u64..400_000_000_000,
            window in 1u64..10_000_000,
        ) {
            let _ = serde_json::from_slice::<State>(&bytes);
            let year_9999 = |s: u64| std::time::UNIX_EPOCH + Duration::from_secs(s % 253_402_300_799);
            let t = TargetState {
                recent_restarts: times.iter().map(|&s| year_9999(s)).collect(),
                paused_until: times.first().map(|&s| year_9999(s)),
                ..TargetState::default()
            };
            let settings = crate::settings::Settings { restart_window: Duration::from_secs(window), ..crate::settings::BUILTIN };
            let _ = crate::pass::policy::judge(false, &settings, &t, year_9999(now), false);
            let json = serde_json::to_string(&t).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<TargetState>(&json).unwrap(), t);
        }
    }

    #[test]
    fn restarts_in_window_and_pause() {
        let t = TargetState {
            recent_restarts: vec![at(0), at(100), at(1000)],
            paused_until: Some(at(500)),
            ..TargetState::default()
        };
        assert_eq!(t.restarts_in_window(at(1000), Duration::from_secs(950)).len(), 2);
        assert_eq!(t.restarts_in_window(at(1000), Duration::from_secs(5000)).len(), 3);
        assert_eq!(t.paused_until(at(499)), Some(at(500)));
        let stepped_back = TargetState { recent_restarts: vec![at(100_000)], ..TargetState::default() };
        assert_eq!(stepped_back.restarts_in_window(at(0), Duration::from_secs(60)), [at(0)], "the future is now");
        assert_eq!(t.paused_until(at(500)), None);
    }

    #[test]
    fn a_state_over_the_bound_is_cut_to_what_matters_and_always_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State { version: VERSION, ..State::default() };
        for i in 0..2000u64 {
            let plain = TargetState { last_time: Some(at(i)), restarts_total: 1, ..TargetState::default() };
            state.targets.insert(format!("discovered-{i:05}"), plain);
        }
        let guard = TargetState { recent_restarts: vec![at(1), at(2), at(3)], ..TargetState::default() };
        let pause = TargetState { paused_until: Some(at(9999)), ..TargetState::default() };
        state.targets.insert("looping".into(), guard.clone());
        state.targets.insert("maintenance".into(), pause.clone());
        let limit = 40_000;
        let warning = save_within(&path, &state, limit).unwrap().expect("cut, and said so");
        assert!(warning.contains("healthy targets' entries"), "{warning}");
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() as u64 <= limit, "{} bytes", bytes.len());
        let back: State = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((back.targets["looping"].clone(), back.targets["maintenance"].clone()), (guard, pause));
        // The oldest healthy entries went first.
        assert!(!back.targets.contains_key("discovered-00000") && back.targets.contains_key("discovered-01999"));
        // Memory that matters and still does not fit is not written: the file stays.
        let mut heavy = State { version: VERSION, ..State::default() };
        for i in 0..2000u64 {
            heavy
                .targets
                .insert(format!("failing-{i}"), TargetState { consecutive_failures: 1, ..TargetState::default() });
        }
        let error = save_within(&path, &heavy, limit).unwrap_err().to_string();
        assert!(error.contains("not written, the last state stays"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        // Within the bound: pretty, whole, no warning.
        assert!(save_within(&path, &back, 1 << 20).unwrap().is_none());
    }
}
