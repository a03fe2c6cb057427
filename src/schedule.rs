//! Runs one future per comic with at most `max_in_flight` of them pending at once:
//! 1 is sequential (await one after another), N is all at once. Knows nothing of the DOM.

use std::{
    future::{Future, poll_fn},
    pin::{Pin, pin},
    task::{Context, Poll},
};

/// One job in flight, boxed so that every run drives one kind of future.
type Job<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Jobs in flight, polled together in the order they started: a plain list (a run has at
/// most `MAX_COMICS` comics), so none of a general executor's machinery is compiled in.
#[derive(Default)]
pub struct Jobs<'a> {
    running: Vec<Job<'a>>,
}

impl<'a> Jobs<'a> {
    /// Adds `job`; it first runs the next time the jobs are driven.
    pub fn start(&mut self, job: impl Future<Output = ()> + 'a) {
        self.running.push(Box::pin(job));
    }

    /// Awaits `other` while driving the jobs (items that come over time, such as the lines of
    /// a streamed answer, each starting a job as it comes).
    pub async fn alongside<T>(&mut self, other: impl Future<Output = T>) -> T {
        let mut other = pin!(other);
        poll_fn(|cx| {
            poll_running(&mut self.running, cx);
            other.as_mut().poll(cx)
        })
        .await
    }

    /// Drives the jobs until fewer than `count` are in flight.
    async fn until_fewer_than(&mut self, count: usize) {
        self.until_fewer_than_or_stopped(count, &|| false).await;
    }

    /// Drives the jobs until fewer than `count` are in flight (true), or until `stopped()`
    /// (false: every job is dropped unpolled). Stop is looked at before the jobs are polled,
    /// so a job woken by its aborted request never runs on to paint.
    async fn until_fewer_than_or_stopped(&mut self, count: usize, stopped: &impl Fn() -> bool) -> bool {
        poll_fn(|cx| {
            if stopped() {
                self.running.clear();
                return Poll::Ready(false);
            }
            if self.running.len() >= count {
                poll_running(&mut self.running, cx);
            }
            if self.running.len() < count {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Drives the jobs until every one has settled.
    pub async fn finish(&mut self) {
        self.until_fewer_than(1).await;
    }
}

/// Drives `job(item)` for every item, starting the next as soon as one settles.
pub async fn run_bounded<'a, I, F, Fut>(items: I, max_in_flight: usize, job: F)
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = ()> + 'a,
{
    run_bounded_until(items, max_in_flight, || false, job).await;
}

/// [`run_bounded`] that ends as soon as `stopped()` says so: from then on no job starts, and
/// the jobs in flight are dropped without being polled again, so none of them settles after
/// Stop (their requests are aborted by the caller; their tiles are the caller's to mark).
pub async fn run_bounded_until<'a, I, F, Fut>(
    items: I,
    max_in_flight: usize,
    stopped: impl Fn() -> bool,
    mut job: F,
) where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = ()> + 'a,
{
    let mut jobs = Jobs::default();
    let count = max_in_flight.max(1);
    for item in items {
        if !jobs.until_fewer_than_or_stopped(count, &stopped).await {
            return;
        }
        jobs.start(job(item));
    }
    jobs.until_fewer_than_or_stopped(1, &stopped).await;
}

/// Polls every job in flight once and drops those that settled.
fn poll_running(running: &mut Vec<Job<'_>>, cx: &mut Context<'_>) {
    running.retain_mut(|job| job.as_mut().poll(cx).is_pending());
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{channel::oneshot, executor::LocalPool, task::LocalSpawnExt};
    use std::{
        cell::{Cell, RefCell},
        rc::Rc,
    };

    /// Jobs that finish only when the test says so, recording what ran when. The run is
    /// `run_bounded_until`, stopped by a switch the test sets, as the page's Stop sets its
    /// run's abort signal; the jobs themselves know nothing of Stop.
    struct Harness {
        release: Vec<Option<oneshot::Sender<()>>>,
        log: Rc<RefCell<Vec<String>>>,
        in_flight: Rc<RefCell<(usize, usize)>>,
        stopped: Rc<Cell<bool>>,
    }

    fn start(pool: &mut LocalPool, count: usize, max: usize) -> Harness {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| oneshot::channel::<()>()).unzip();
        let log = Rc::new(RefCell::new(Vec::new()));
        let in_flight = Rc::new(RefCell::new((0usize, 0usize)));
        let stopped = Rc::new(Cell::new(false));
        let (job_log, job_flight, run_stopped) = (log.clone(), in_flight.clone(), stopped.clone());
        let items: Vec<(usize, oneshot::Receiver<()>)> = receivers.into_iter().enumerate().collect();
        let run = run_bounded_until(
            items,
            max,
            move || run_stopped.get(),
            move |(i, done)| {
                let (log, flight) = (job_log.clone(), job_flight.clone());
                async move {
                    {
                        let mut f = flight.borrow_mut();
                        f.0 += 1;
                        f.1 = f.1.max(f.0);
                    }
                    log.borrow_mut().push(format!("start {i}"));
                    // Released, or its request ended (the sender dropped, as an abort ends it).
                    let _ = done.await;
                    flight.borrow_mut().0 -= 1;
                    log.borrow_mut().push(format!("done {i}"));
                }
            },
        );
        let run_log = log.clone();
        pool.spawner()
            .spawn_local(async move {
                run.await;
                run_log.borrow_mut().push("over".into());
            })
            .unwrap();
        pool.run_until_stalled();
        let release = senders.into_iter().map(Some).collect();
        Harness {
            release,
            log,
            in_flight,
            stopped,
        }
    }

    impl Harness {
        fn finish(&mut self, pool: &mut LocalPool, i: usize) {
            self.release[i].take().unwrap().send(()).unwrap();
            pool.run_until_stalled();
        }
        fn started(&self) -> usize {
            self.log
                .borrow()
                .iter()
                .filter(|l| l.starts_with("start"))
                .count()
        }
        fn finished(&self) -> Vec<String> {
            self.log
                .borrow()
                .iter()
                .filter(|l| l.starts_with("done"))
                .cloned()
                .collect()
        }
    }

    #[test]
    fn sequential_starts_one_after_another() {
        let mut pool = LocalPool::new();
        let mut h = start(&mut pool, 3, 1);
        assert_eq!(h.started(), 1);
        h.finish(&mut pool, 0);
        assert_eq!(h.started(), 2);
        h.finish(&mut pool, 1);
        h.finish(&mut pool, 2);
        assert_eq!(h.in_flight.borrow().1, 1);
    }

    #[test]
    fn concurrent_starts_all_and_settles_in_completion_order() {
        let mut pool = LocalPool::new();
        let mut h = start(&mut pool, 4, 4);
        assert_eq!(h.started(), 4);
        for i in [2, 0, 3, 1] {
            h.finish(&mut pool, i);
        }
        assert_eq!(h.finished(), ["done 2", "done 0", "done 3", "done 1"]);
    }

    #[test]
    fn limited_never_exceeds_k_and_refills_at_once() {
        let mut pool = LocalPool::new();
        let mut h = start(&mut pool, 10, 3);
        assert_eq!(h.started(), 3);
        h.finish(&mut pool, 1);
        assert_eq!(h.started(), 4, "a slot is refilled as soon as one settles");
        for i in [0, 2, 3, 4, 5, 6, 7, 8, 9] {
            h.finish(&mut pool, i);
        }
        assert_eq!(h.in_flight.borrow().1, 3);
        assert_eq!(h.finished().len(), 10);
    }

    #[test]
    fn after_stop_no_job_starts_and_none_in_flight_settles() {
        let mut pool = LocalPool::new();
        let mut h = start(&mut pool, 5, 2);
        h.finish(&mut pool, 0);
        assert_eq!(h.started(), 3);
        // Stop as the page does it: the switch, and the requests in flight end (aborted),
        // which wakes their jobs.
        h.stopped.set(true);
        h.release.clear();
        pool.run_until_stalled();
        let log = h.log.borrow().clone();
        assert_eq!(
            log,
            ["start 0", "start 1", "done 0", "start 2", "over"],
            "the woken jobs are dropped unpolled, comics 3 and 4 never start, and the run ends"
        );
    }

    #[test]
    fn stop_while_a_slot_is_free_starts_nothing_more() {
        let mut pool = LocalPool::new();
        let mut h = start(&mut pool, 4, 1);
        h.stopped.set(true);
        // Job 0 settles normally after Stop: the run must not start job 1 in its place.
        h.finish(&mut pool, 0);
        let log = h.log.borrow().clone();
        assert_eq!(log, ["start 0", "over"], "{log:?}");
    }

    #[test]
    fn jobs_run_while_waiting_for_something_else() {
        let mut pool = LocalPool::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (job_done, job_gate) = oneshot::channel::<()>();
        let (other_done, other_gate) = oneshot::channel::<()>();
        let task_log = log.clone();
        pool.spawner()
            .spawn_local(async move {
                let mut jobs = Jobs::default();
                let job_log = task_log.clone();
                jobs.start(async move {
                    let _ = job_gate.await;
                    job_log.borrow_mut().push("job");
                });
                let _ = jobs.alongside(other_gate).await;
                task_log.borrow_mut().push("other");
                jobs.finish().await;
                task_log.borrow_mut().push("all");
            })
            .unwrap();
        pool.run_until_stalled();
        job_done.send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(
            *log.borrow(),
            ["job"],
            "the job settles while the other wait goes on"
        );
        other_done.send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(*log.borrow(), ["job", "other", "all"]);
    }

    #[test]
    fn finish_waits_for_the_job_still_in_flight() {
        let mut pool = LocalPool::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (release, gate) = oneshot::channel::<()>();
        let task_log = log.clone();
        pool.spawner()
            .spawn_local(async move {
                let mut jobs = Jobs::default();
                let job_log = task_log.clone();
                jobs.start(async move {
                    let _ = gate.await;
                    job_log.borrow_mut().push("job");
                });
                jobs.finish().await;
                task_log.borrow_mut().push("all");
            })
            .unwrap();
        pool.run_until_stalled();
        assert!(log.borrow().is_empty(), "{:?}", log.borrow());
        release.send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(*log.borrow(), ["job", "all"]);
    }

    #[test]
    fn run_bounded_without_a_stop_runs_every_item() {
        let mut pool = LocalPool::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let run_log = log.clone();
        pool.spawner()
            .spawn_local(async move {
                let job_log = run_log.clone();
                run_bounded(0..3, 2, move |i| {
                    let log = job_log.clone();
                    async move { log.borrow_mut().push(i) }
                })
                .await;
                run_log.borrow_mut().push(99);
            })
            .unwrap();
        pool.run_until_stalled();
        assert_eq!(*log.borrow(), [0, 1, 2, 99]);
    }
}
