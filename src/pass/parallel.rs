//! Work spread over threads, in order, surviving a process limit.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Maps `f` over `items` on at most `workers` threads, the caller's included, keeping
/// the input order. A thread that cannot be started (a process limit) leaves its share
/// to the others: returns the results and how many threads did not start.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> (Vec<R>, usize) {
    parallel_map_or(items, workers, || {}, f)
}

/// As `parallel_map`; `short` is called once, as soon as a thread cannot be started,
/// for work that counted on a thread per item (the threads already started run on).
pub(crate) fn parallel_map_or<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    short: impl FnOnce(),
    f: impl Fn(&T) -> R + Sync,
) -> (Vec<R>, usize) {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = workers.clamp(1, items.len().max(1));
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let value = f(item);
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        }
    };
    let mut started = 1;
    std::thread::scope(|scope| {
        for _ in 1..workers {
            if std::thread::Builder::new().spawn_scoped(scope, work).is_err() {
                short();
                break;
            }
            started += 1;
        }
        work();
    });
    let results = results
        .into_iter()
        .map(|cell| cell.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every index is filled by a worker"))
        .collect();
    (results, workers - started)
}
