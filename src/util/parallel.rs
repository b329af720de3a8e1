//! Work spread over a few threads: registry requests (each waits on the network) and reads
//! of a store where each read is a request.

/// Runs `work` on every item, on up to `jobs` threads, and returns the results in the items'
/// order; after the first error no more work starts, and that error is returned.
pub fn parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    let failure: std::sync::Mutex<Option<E>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, 64).min(items.len().max(1)) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    match work(item) {
                        Ok(result) => {
                            if let Ok(mut results) = results.lock() {
                                results[i] = Some(result);
                            }
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

/// Runs `work` on every item (`0..needs.len()`) on up to `jobs` threads, each item once
/// every item of its `needs` (indices) is done: what is ready starts in the items' order, and
/// what an item unblocks starts as soon as a thread is free, so no thread waits on a whole
/// stage. After the first error no more work starts, and that error is returned. Needs out of
/// range are ignored; items whose needs can never be met (a cycle) run last, in order.
pub fn parallel_after<E: Send>(
    needs: &[Vec<usize>],
    jobs: usize,
    work: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    use std::collections::VecDeque;
    use std::sync::{Condvar, Mutex};

    struct State<E> {
        ready: VecDeque<usize>,
        /// Needs not yet done, a count an item.
        waiting: Vec<usize>,
        running: usize,
        done: usize,
        failure: Option<E>,
    }
    let count = needs.len();
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut waiting = vec![0; count];
    for (item, needed) in needs.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for &need in needed {
            if need < count && need != item && seen.insert(need) {
                unblocks[need].push(item);
                waiting[item] += 1;
            }
        }
    }
    let ready = (0..count).filter(|i| waiting[*i] == 0).collect();
    let state = Mutex::new(State {
        ready,
        waiting,
        running: 0,
        done: 0,
        failure: None,
    });
    let changed = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, 64).min(count.max(1)) {
            scope.spawn(|| {
                loop {
                    let Ok(mut guard) = state.lock() else { return };
                    let item = loop {
                        if guard.failure.is_some() || guard.done == count {
                            return;
                        }
                        if let Some(item) = guard.ready.pop_front() {
                            break item;
                        }
                        if guard.running == 0 {
                            // Nothing runs and nothing is ready: what is left waits on
                            // itself; it runs in order.
                            let left: Vec<usize> =
                                (0..count).filter(|i| guard.waiting[*i] > 0).collect();
                            for i in left {
                                guard.waiting[i] = 0;
                                guard.ready.push_back(i);
                            }
                            continue;
                        }
                        let Ok(next) = changed.wait(guard) else {
                            return;
                        };
                        guard = next;
                    };
                    guard.running += 1;
                    drop(guard);
                    let outcome = work(item);
                    let Ok(mut guard) = state.lock() else { return };
                    guard.running -= 1;
                    guard.done += 1;
                    match outcome {
                        Ok(()) => {
                            for &next in &unblocks[item] {
                                if guard.waiting[next] > 0 {
                                    guard.waiting[next] -= 1;
                                    if guard.waiting[next] == 0 {
                                        guard.ready.push_back(next);
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            guard.failure.get_or_insert(e);
                        }
                    }
                    drop(guard);
                    changed.notify_all();
                }
            });
        }
    });
    match state.into_inner() {
        Ok(State {
            failure: Some(e), ..
        }) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{parallel, parallel_after};

    #[test]
    fn results_come_in_the_items_order_and_the_first_error_stops_the_rest() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = parallel(&items, 8, |i| Ok::<_, ()>(i * 2));
        assert_eq!(doubled, Ok(items.iter().map(|i| i * 2).collect::<Vec<_>>()));
        let failed = parallel(&items, 4, |i| if *i == 7 { Err(*i) } else { Ok(*i) });
        assert_eq!(failed, Err(7));
        let none: Vec<u32> = Vec::new();
        assert_eq!(parallel(&none, 4, |i| Ok::<_, ()>(*i)), Ok(Vec::new()));
    }

    #[test]
    fn an_item_runs_after_everything_it_needs_and_each_runs_once() {
        use std::sync::Mutex;
        // 0..6 need nothing; 6 needs 0 and 1; 7 needs 6 and 2; 8 needs 7 (and itself, and an
        // index out of range, both ignored); 9 and 10 need each other: they run last.
        let mut needs: Vec<Vec<usize>> = vec![Vec::new(); 6];
        needs.extend([vec![0, 1], vec![6, 2], vec![7, 8, 99], vec![10], vec![9]]);
        for jobs in [1, 3, 8] {
            let order = Mutex::new(Vec::new());
            parallel_after(&needs, jobs, |i| {
                order.lock().unwrap().push(i);
                Ok::<(), ()>(())
            })
            .unwrap();
            let order = order.into_inner().unwrap();
            let at = |i: usize| order.iter().position(|x| *x == i).unwrap();
            assert_eq!(order.len(), needs.len(), "{order:?}");
            for (item, needed) in needs.iter().enumerate().take(9) {
                for &need in needed.iter().filter(|n| **n < 9 && **n != item) {
                    assert!(at(need) < at(item), "{item} before {need}: {order:?}");
                }
            }
            assert!(at(9) > at(8) && at(10) > at(8), "{order:?}");
        }
        // The first error stops what has not started, and is returned.
        let ran = Mutex::new(0);
        let failed = parallel_after(&needs, 1, |i| {
            *ran.lock().unwrap() += 1;
            if i == 2 { Err(i) } else { Ok(()) }
        });
        assert_eq!(failed, Err(2));
        assert_eq!(*ran.lock().unwrap(), 3);
    }
}
