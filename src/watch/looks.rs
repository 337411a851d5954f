//! A watch's look: one attempt at each target, on as few threads as keep a slow target
//! from holding up the rest. At rest every answer comes back within a millisecond, so
//! one thread makes them all in turn; whenever no attempt has ended for `PATIENCE`
//! while some wait to start, one more thread takes them, up to the pass's concurrency.
//! A hung endpoint therefore delays the others by `PATIENCE` at most, and a quiet round
//! starts one thread instead of one per target (each costs the kernel more than the
//! loopback request it would make). That first thread is kept from one look to the next
//! (`Crew`), so a watch at rest starts none.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::check::{Check, Probe};
use crate::config::Target;

/// How long the attempts may make no progress before another thread joins them.
pub(super) const PATIENCE: Duration = Duration::from_millis(20);

/// What the threads of one look share.
struct Shared<P> {
    probe: P,
    /// Each target with the bound of its attempt.
    items: Vec<(Arc<Target>, Duration)>,
    /// The next item no thread has taken yet.
    next: AtomicUsize,
    /// How many attempts have ended.
    ended: AtomicUsize,
    results: Mutex<Vec<Option<Check>>>,
}

/// How a look ended.
#[derive(Debug)]
pub(super) enum Looked {
    /// Every attempt's result, in the targets' order.
    Done(Vec<Check>),
    /// `stop` said to stop waiting (a signal), or no thread could start: the attempts
    /// still running are left to end by their own bounds.
    Abandoned,
}

/// Work for a thread of a look, given what to call once it has nothing left to do (the
/// kept thread is free from then on, before the look hears it ended).
type Job = Box<dyn FnOnce(&dyn Fn()) + Send>;

/// The thread kept between looks: it takes each look's first share of work when it is
/// free (not still in an attempt a look abandoned). It waits for work until the crew is
/// dropped (the watch's end), then ends.
#[derive(Default)]
pub(super) struct Crew {
    kept: Option<(Sender<Job>, Arc<AtomicBool>)>,
}

impl Crew {
    /// Runs `job` on the kept thread, starting it first if there is none yet; on a new
    /// thread when the kept one is busy or gone. False when no thread could be started.
    fn run(&mut self, job: Job) -> bool {
        if self.kept.is_none() {
            self.kept = keep();
        }
        let Some((to, free)) = &self.kept else { return spawn(job) };
        if !free.swap(false, Ordering::AcqRel) {
            return spawn(job);
        }
        match to.send(job) {
            Ok(()) => true,
            // The thread is gone (it cannot end but by a panic): a new one next time.
            Err(returned) => {
                self.kept = None;
                spawn(returned.0)
            }
        }
    }
}

/// A thread that runs the jobs sent to it one after the other, saying when it is free.
fn keep() -> Option<(Sender<Job>, Arc<AtomicBool>)> {
    let (to, jobs) = channel::<Job>();
    let free = Arc::new(AtomicBool::new(true));
    let says = Arc::clone(&free);
    let started = std::thread::Builder::new().name("watch-look".into()).spawn(move || {
        let idle = || says.store(true, Ordering::Release);
        while let Ok(job) = jobs.recv() {
            job(&idle);
            idle();
        }
    });
    started.ok().map(|_| (to, free))
}

/// Runs `job` on a thread of its own; false when the OS gives none.
fn spawn(job: Job) -> bool {
    std::thread::Builder::new().name("watch-look".into()).spawn(move || job(&|| {})).is_ok()
}

/// One attempt at each of `items` (a target and the bound of its attempt) through
/// `probe`, on at most `most` threads started as described above, the first of them
/// `crew`'s. `stop` is asked every `PATIENCE` while waiting.
pub(super) fn look<P: Probe + Send + Sync + 'static>(
    crew: &mut Crew,
    probe: P,
    items: Vec<(Arc<Target>, Duration)>,
    most: usize,
    stop: &dyn Fn() -> bool,
) -> Looked {
    let count = items.len();
    let Some(..) = items.first() else { return Looked::Done(Vec::new()) };
    let shared = Arc::new(Shared {
        probe,
        items,
        next: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
        results: Mutex::new(std::iter::repeat_with(|| None).take(count).collect()),
    });
    // One message, when the last attempt ends: no wake-up per attempt.
    let (all_ended, all_end) = channel();
    if !crew.run(work(&shared, &all_ended)) {
        // No thread to be had (a process limit): the looks are made here, one by one,
        // each within its bound, so a watch under a limit still sees what breaks.
        let mut results = Vec::with_capacity(count);
        for (target, bound) in &shared.items {
            if stop() {
                return Looked::Abandoned;
            }
            results.push(crate::check::attempt(&shared.probe, None, target, *bound));
        }
        return Looked::Done(results);
    }
    let mut threads = 1;
    let mut seen = 0;
    loop {
        match all_end.recv_timeout(PATIENCE) {
            Ok(()) => break,
            Err(RecvTimeoutError::Timeout) => {
                if stop() {
                    // No attempt starts any more; those running end by their bounds.
                    shared.next.store(count, Ordering::Relaxed);
                    return Looked::Abandoned;
                }
                let ended = shared.ended.load(Ordering::Acquire);
                let stuck = ended == seen && shared.next.load(Ordering::Relaxed) < count;
                if stuck && threads < most.max(1) && spawn(work(&shared, &all_ended)) {
                    threads += 1;
                }
                seen = ended;
            }
            // Every thread ended without the last attempt: cannot happen unless one
            // panicked; what is missing reads as unseen.
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let results = std::mem::take(&mut *shared.results.lock().unwrap_or_else(|e| e.into_inner()));
    if results.iter().any(Option::is_none) {
        return Looked::Abandoned;
    }
    Looked::Done(results.into_iter().flatten().collect())
}

/// A thread's share of a look: it takes items until none is left, saying on `all_ended`
/// when it ended the last one.
fn work<P: Probe + Send + Sync + 'static>(shared: &Arc<Shared<P>>, all_ended: &Sender<()>) -> Job {
    let (shared, all_ended) = (Arc::clone(shared), all_ended.clone());
    Box::new(move |idle| {
        let count = shared.items.len();
        loop {
            let i = shared.next.fetch_add(1, Ordering::Relaxed);
            let Some((target, bound)) = shared.items.get(i) else { break };
            let check = crate::check::attempt(&shared.probe, None, target, *bound);
            shared.results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(check);
            if shared.ended.fetch_add(1, Ordering::AcqRel) + 1 == count {
                idle();
                // Nobody may be waiting any more (abandoned): that is fine.
                let _ = all_ended.send(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Failure;
    use crate::model::HealthUrl;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    /// Answers at once, except targets named `hang*`, which take their whole bound; counts
    /// the threads that made attempts.
    #[derive(Clone, Default)]
    struct Recorder {
        threads: Arc<Mutex<std::collections::BTreeSet<String>>>,
    }

    impl Probe for Recorder {
        fn check(&self, target: &Target, _: &crate::config::HttpCheck, timeout: Duration) -> Check {
            self.threads.lock().unwrap().insert(format!("{:?}", std::thread::current().id()));
            if target.name.starts_with("hang") {
                std::thread::sleep(timeout);
                return Check::failed(Failure::Other, "timed out", timeout);
            }
            Check::passed(Some(200), Duration::ZERO)
        }
    }

    fn items(names: &[&str], bound: Duration) -> Vec<(Arc<Target>, Duration)> {
        let url = HealthUrl::parse("http://127.0.0.1:9/health").unwrap();
        names.iter().map(|n| (Arc::new(Target::http(n, n, url.clone())), bound)).collect()
    }

    #[test]
    fn quick_answers_take_one_thread_and_keep_their_order() {
        let probe = Recorder::default();
        let names: Vec<String> = (0..20).map(|i| format!("web-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let Looked::Done(checks) =
            look(&mut Crew::default(), probe.clone(), items(&names, Duration::from_secs(2)), 32, &|| false)
        else {
            panic!("abandoned")
        };
        assert_eq!(checks.len(), 20);
        assert!(checks.iter().all(Check::healthy));
        assert_eq!(probe.threads.lock().unwrap().len(), 1);
    }

    /// The crew's thread makes look after look; while it is still in an attempt a look
    /// abandoned, the next look runs on a thread of its own instead of waiting for it.
    #[test]
    fn the_kept_thread_makes_every_look_unless_it_is_still_busy() {
        let (probe, mut crew) = (Recorder::default(), Crew::default());
        for _ in 0..3 {
            let looked =
                look(&mut crew, probe.clone(), items(&["web-1", "web-2"], Duration::from_secs(2)), 32, &|| false);
            assert!(matches!(looked, Looked::Done(ref checks) if checks.len() == 2));
        }
        assert_eq!(probe.threads.lock().unwrap().len(), 1);
        let stopped = AtomicBool::new(false);
        let hung = items(&["hang-1"], Duration::from_millis(800));
        let looked = look(&mut crew, probe.clone(), hung, 32, &|| stopped.swap(true, Ordering::Relaxed));
        assert!(matches!(looked, Looked::Abandoned));
        let started = Instant::now();
        let looked = look(&mut crew, probe.clone(), items(&["web-3"], Duration::from_secs(2)), 32, &|| false);
        assert!(matches!(looked, Looked::Done(ref checks) if checks[0].healthy()));
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        assert_eq!(probe.threads.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_hung_target_holds_up_the_others_by_patience_only() {
        let probe = Recorder::default();
        let list = items(&["hang-1", "hang-2", "web-1", "web-2"], Duration::from_millis(1500));
        let started = Instant::now();
        let Looked::Done(checks) = look(&mut Crew::default(), probe.clone(), list, 32, &|| false) else {
            panic!("abandoned")
        };
        // Two hung, so three threads: the two stuck ones and the one that did the rest.
        assert_eq!(probe.threads.lock().unwrap().len(), 3);
        assert_eq!(checks.iter().map(Check::healthy).collect::<Vec<_>>(), [false, false, true, true]);
        // The hung ones ran side by side, not one after the other.
        assert!(started.elapsed() < Duration::from_millis(2900), "{:?}", started.elapsed());
    }

    #[test]
    fn the_threads_stop_at_the_concurrency_and_a_signal_abandons_the_wait() {
        let probe = Recorder::default();
        let list = items(&["hang-1", "hang-2", "hang-3"], Duration::from_millis(300));
        let Looked::Done(checks) = look(&mut Crew::default(), probe.clone(), list, 2, &|| false) else {
            panic!("abandoned")
        };
        assert_eq!(checks.len(), 3);
        assert_eq!(probe.threads.lock().unwrap().len(), 2);
        let stopped = AtomicBool::new(false);
        let list = items(&["hang-1", "web-1"], Duration::from_secs(5));
        let started = Instant::now();
        let looked =
            look(&mut Crew::default(), Recorder::default(), list, 1, &|| stopped.swap(true, Ordering::Relaxed));
        assert!(matches!(looked, Looked::Abandoned));
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }
}
