//! Delta debugging (Zeller's ddmin) over a list of mutations: the smallest sublist that
//! still fails, within a bounded number of test runs.

use std::future::Future;

/// Shrink `items` while `fails` holds, spending at most `max_runs` runs. Returns the
/// smallest failing list found and the runs spent. `fails` is never called on `items`
/// itself (the caller saw it fail).
pub async fn ddmin<T, F, Fut>(items: Vec<T>, mut fails: F, max_runs: usize) -> (Vec<T>, usize)
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut items = items;
    let mut runs = 0;
    let mut n = 2usize;
    while items.len() >= 2 && runs < max_runs {
        let chunk = items.len().div_ceil(n);
        let mut reduced = false;
        let mut next_n = n;
        // Try each chunk alone, then each complement.
        for i in 0..n {
            let lo = (i * chunk).min(items.len());
            let hi = ((i + 1) * chunk).min(items.len());
            if lo == hi || runs >= max_runs {
                continue;
            }
            runs += 1;
            let sub = items[lo..hi].to_vec();
            if fails(sub.clone()).await {
                items = sub;
                reduced = true;
                next_n = 2;
                break;
            }
            if n > 2 && runs < max_runs {
                runs += 1;
                let complement: Vec<T> = items[..lo].iter().chain(&items[hi..]).cloned().collect();
                if fails(complement.clone()).await {
                    items = complement;
                    reduced = true;
                    next_n = (n - 1).max(2);
                    break;
                }
            }
        }
        n = next_n;
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    // A failure without any mutation is the target's own (it fails on the plain script).
    if items.len() == 1 && runs < max_runs {
        runs += 1;
        if fails(Vec::new()).await {
            items.clear();
        }
    }
    (items, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn finds_the_two_culprits_among_many() {
        let items: Vec<u32> = (0..16).collect();
        let (min, runs) = block(ddmin(items, |v| async move { v.contains(&3) && v.contains(&11) }, 200));
        assert_eq!(min, vec![3, 11]);
        assert!(runs <= 200);
    }

    #[test]
    fn an_always_failing_target_shrinks_to_nothing_and_the_budget_holds() {
        let (min, _) = block(ddmin(vec![1, 2, 3], |_| async { true }, 50));
        assert!(min.is_empty());
        let (min, runs) = block(ddmin((0..64).collect::<Vec<u32>>(), |v| async move { v.len() > 40 }, 5));
        assert!(runs <= 5 && !min.is_empty());
    }
}
