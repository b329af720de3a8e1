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

#[cfg(test)]
mod tests {
    use super::parallel;

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
}
