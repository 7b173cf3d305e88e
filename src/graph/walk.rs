//! One generic walker for refresh, plan and apply: runs a callback per node, at most
//! `parallelism` at once, starting each node as soon as all its dependencies finished
//! (no level-by-level barriers). A failure skips only its dependents, which are reported
//! with the root cause, so users see the failure once. Cancelling stops new starts and
//! lets in-flight work finish; aborting also drops the work in flight.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// Nodes run at once unless the user says otherwise (`--parallelism`).
pub const DEFAULT_PARALLELISM: usize = 10;

/// Set to stop starting new nodes (Ctrl-C); aborted, also to cancel the nodes running
/// (a second Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<watch::Sender<Level>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    #[default]
    Running,
    Cancelled,
    Aborted,
}

impl Cancel {
    pub fn cancel(&self) {
        self.raise(Level::Cancelled);
    }
    /// Cancels and also aborts the nodes in flight: their futures are dropped.
    pub fn abort(&self) {
        self.raise(Level::Aborted);
    }
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow() >= Level::Cancelled
    }
    pub fn is_aborted(&self) -> bool {
        *self.0.borrow() >= Level::Aborted
    }
    fn raise(&self, to: Level) {
        self.0.send_if_modified(|l| {
            let raised = *l < to;
            *l = (*l).max(to);
            raised
        });
    }
    async fn aborted(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|l| *l >= Level::Aborted).await;
    }
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<E> {
    Done,
    Failed(E),
    /// A dependency failed; `root` is the index of the node whose failure caused this.
    Skipped {
        root: usize,
    },
    /// Never started because the walk was cancelled.
    NotStarted,
    /// Started, then aborted in flight: whether it took effect is unknown until the next
    /// refresh.
    Aborted,
}

/// `deps[i]` lists the indices node `i` waits for.
pub async fn walk<E, F, Fut>(
    deps: &[Vec<usize>],
    parallelism: usize,
    cancel: &Cancel,
    run: F,
) -> Vec<Outcome<E>>
where
    E: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    walk_values(deps, parallelism, cancel, run)
        .await
        .into_iter()
        .map(|(outcome, _)| outcome)
        .collect()
}

/// Like [`walk`], for callbacks that produce a value: each node's outcome, with the value
/// its callback returned when the outcome is [`Outcome::Done`] (`None` otherwise).
pub async fn walk_values<T, E, F, Fut>(
    deps: &[Vec<usize>],
    parallelism: usize,
    cancel: &Cancel,
    run: F,
) -> Vec<(Outcome<E>, Option<T>)>
where
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let n = deps.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (i, ds) in deps.iter().enumerate() {
        waiting[i] = ds.len();
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut outcomes: Vec<Option<Outcome<E>>> = (0..n).map(|_| None).collect();
    let mut values: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running = JoinSet::new();
    let parallelism = parallelism.max(1);

    let mut started = HashMap::new();
    let mut aborting = false;
    loop {
        while running.len() < parallelism && !cancel.is_cancelled() {
            let Some(i) = ready.pop_front() else { break };
            let fut = run(i);
            started.insert(running.spawn(async move { (i, fut.await) }).id(), i);
        }
        let joined = tokio::select! {
            biased;
            () = cancel.aborted(), if !aborting && !running.is_empty() => {
                aborting = true;
                running.abort_all();
                continue;
            }
            joined = running.join_next_with_id() => joined,
        };
        let Some(joined) = joined else {
            break;
        };
        let (i, result) = match joined {
            Ok((_, done)) => done,
            Err(e) if e.is_cancelled() => {
                outcomes[started[&e.id()]] = Some(Outcome::Aborted);
                continue;
            }
            Err(e) => panic!("walk callbacks do not panic: {e}"),
        };
        match result {
            Ok(value) => {
                outcomes[i] = Some(Outcome::Done);
                values[i] = Some(value);
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 && outcomes[d].is_none() {
                        ready.push_back(d);
                    }
                }
            }
            Err(e) => {
                outcomes[i] = Some(Outcome::Failed(e));
                skip_dependents(i, &dependents, &mut outcomes);
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::NotStarted))
        .zip(values)
        .collect()
}

fn skip_dependents<E>(root: usize, dependents: &[Vec<usize>], outcomes: &mut [Option<Outcome<E>>]) {
    let mut stack = dependents[root].clone();
    while let Some(d) = stack.pop() {
        if outcomes[d].is_none() {
            outcomes[d] = Some(Outcome::Skipped { root });
            stack.extend(dependents[d].iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_in_dependency_order() {
        // 0 <- 1 <- 2, and 3 independent
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let out = walk::<(), _, _>(&deps, 4, &Cancel::default(), move |i| {
            let o = o.clone();
            async move {
                o.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await;
        assert!(out.iter().all(|x| *x == Outcome::Done));
        let order = order.lock().unwrap().clone();
        let pos = |n| order.iter().position(|&x| x == n).unwrap();
        assert!(pos(0) < pos(1) && pos(1) < pos(2));
    }

    #[tokio::test]
    async fn callbacks_return_values_in_node_order() {
        // 1 and 2 finish before 0; values still come back by node index.
        let deps = vec![vec![], vec![], vec![], vec![0]];
        let out = walk_values(&deps, 4, &Cancel::default(), |i| async move {
            tokio::time::sleep(Duration::from_millis(if i == 0 { 20 } else { 1 })).await;
            if i == 2 {
                Err("boom")
            } else {
                Ok(i * 10)
            }
        })
        .await;
        assert_eq!(out[0], (Outcome::Done, Some(0)));
        assert_eq!(out[1], (Outcome::Done, Some(10)));
        assert_eq!(out[2], (Outcome::Failed("boom"), None));
        assert_eq!(out[3], (Outcome::Done, Some(30)));
    }

    #[tokio::test]
    async fn failure_skips_dependents_only() {
        // 0 fails; 1 depends on 0; 2 depends on 1; 3 independent.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let out = walk(&deps, 2, &Cancel::default(), |i| async move {
            if i == 0 {
                Err("boom")
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(out[0], Outcome::Failed("boom"));
        assert_eq!(out[1], Outcome::Skipped { root: 0 });
        assert_eq!(out[2], Outcome::Skipped { root: 0 });
        assert_eq!(out[3], Outcome::Done);
    }

    #[tokio::test]
    async fn never_exceeds_parallelism_and_starts_without_barriers() {
        // A slow chain 0 -> 1 and many quick independents: independents must not wait.
        let mut deps = vec![vec![], vec![0]];
        deps.extend((0..20).map(|_| vec![]));
        let live = Arc::new(Mutex::new((0usize, 0usize)));
        let l = live.clone();
        let out = walk::<(), _, _>(&deps, 3, &Cancel::default(), move |i| {
            let l = l.clone();
            async move {
                {
                    let mut g = l.lock().unwrap();
                    g.0 += 1;
                    g.1 = g.1.max(g.0);
                }
                let ms = if i < 2 { 20 } else { 5 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                l.lock().unwrap().0 -= 1;
                Ok(())
            }
        })
        .await;
        assert!(out.iter().all(|x| *x == Outcome::Done));
        assert_eq!(live.lock().unwrap().1, 3, "peak concurrency is the limit");
    }

    #[tokio::test]
    async fn cancel_stops_new_starts_but_finishes_running() {
        let deps: Vec<Vec<usize>> = (0..10).map(|_| vec![]).collect();
        let cancel = Cancel::default();
        let c = cancel.clone();
        let out = walk::<(), _, _>(&deps, 2, &cancel, move |_| {
            let c = c.clone();
            async move {
                c.cancel();
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            }
        })
        .await;
        let done = out.iter().filter(|o| **o == Outcome::Done).count();
        assert_eq!(done, 2, "the two in flight finish");
        assert_eq!(out.iter().filter(|o| **o == Outcome::NotStarted).count(), 8);
    }

    #[tokio::test]
    async fn abort_drops_the_work_in_flight() {
        // 0 finishes at once and aborts the walk; 1 and 2 would run for an hour.
        let deps: Vec<Vec<usize>> = vec![vec![], vec![], vec![], vec![0]];
        let cancel = Cancel::default();
        let c = cancel.clone();
        let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let d = dropped.clone();
        struct CountDrop(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let out = walk::<(), _, _>(&deps, 3, &cancel, move |i| {
            let c = c.clone();
            let guard = CountDrop(d.clone());
            async move {
                if i == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    c.abort();
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(guard);
                Ok(())
            }
        })
        .await;
        assert_eq!(out[0], Outcome::Done);
        assert_eq!(out[1], Outcome::Aborted);
        assert_eq!(out[2], Outcome::Aborted);
        assert_eq!(out[3], Outcome::NotStarted, "nothing starts after an abort");
        assert!(cancel.is_cancelled() && cancel.is_aborted());
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
