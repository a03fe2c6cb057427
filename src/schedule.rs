//! Runs one future per comic with at most `max_in_flight` of them pending at once:
//! 1 is sequential (await one after another), N is all at once. Knows nothing of the DOM.

use futures::Stream;
use std::{
    future::{Future, poll_fn},
    pin::{Pin, pin},
    task::{Context, Poll},
};

/// One job in flight, boxed so that every run drives one kind of future.
type Job<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Drives `job(item)` for every item, starting the next as soon as one settles. The items may
/// come over time (a streamed answer): each starts as it comes, if a slot is free. The jobs
/// in flight are polled together, in the order they started (a plain list: a run has at most
/// a few hundred, so this needs none of a general executor's machinery).
pub async fn run_bounded<'a, S, F, Fut>(items: S, max_in_flight: usize, mut job: F)
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future<Output = ()> + 'a,
{
    let max_in_flight = max_in_flight.max(1);
    let mut items = pin!(items);
    let mut ended = false;
    let mut running: Vec<Job<'a>> = Vec::new();
    poll_fn(|cx| {
        loop {
            while !ended && running.len() < max_in_flight {
                match items.as_mut().poll_next(cx) {
                    Poll::Ready(Some(item)) => running.push(Box::pin(job(item))),
                    Poll::Ready(None) => ended = true,
                    Poll::Pending => break,
                }
            }
            if !poll_running(&mut running, cx) {
                return if ended && running.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                };
            }
        }
    })
    .await;
}

/// Polls every job in flight once and drops those that settled; true if any did (a slot is
/// free again).
fn poll_running(running: &mut Vec<Job<'_>>, cx: &mut Context<'_>) -> bool {
    let before = running.len();
    running.retain_mut(|job| job.as_mut().poll(cx).is_pending());
    running.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{
        channel::oneshot,
        executor::LocalPool,
        future::{AbortHandle, Abortable},
        task::LocalSpawnExt,
    };
    use std::{cell::RefCell, rc::Rc};

    /// Jobs that finish only when the test says so, recording what ran when.
    struct Harness {
        release: Vec<Option<oneshot::Sender<()>>>,
        log: Rc<RefCell<Vec<String>>>,
        in_flight: Rc<RefCell<(usize, usize)>>,
    }

    fn start(pool: &mut LocalPool, count: usize, max: usize) -> (Harness, AbortHandle) {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| oneshot::channel::<()>()).unzip();
        let log = Rc::new(RefCell::new(Vec::new()));
        let in_flight = Rc::new(RefCell::new((0usize, 0usize)));
        let (job_log, job_flight) = (log.clone(), in_flight.clone());
        let items: Vec<(usize, oneshot::Receiver<()>)> = receivers.into_iter().enumerate().collect();
        let run = run_bounded(futures::stream::iter(items), max, move |(i, done)| {
            let (log, flight) = (job_log.clone(), job_flight.clone());
            async move {
                {
                    let mut f = flight.borrow_mut();
                    f.0 += 1;
                    f.1 = f.1.max(f.0);
                }
                log.borrow_mut().push(format!("start {i}"));
                let _ = done.await;
                flight.borrow_mut().0 -= 1;
                log.borrow_mut().push(format!("done {i}"));
            }
        });
        let (handle, registration) = AbortHandle::new_pair();
        pool.spawner()
            .spawn_local(async move {
                let _ = Abortable::new(run, registration).await;
            })
            .unwrap();
        pool.run_until_stalled();
        let release = senders.into_iter().map(Some).collect();
        (
            Harness {
                release,
                log,
                in_flight,
            },
            handle,
        )
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
        let (mut h, _) = start(&mut pool, 3, 1);
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
        let (mut h, _) = start(&mut pool, 4, 4);
        assert_eq!(h.started(), 4);
        for i in [2, 0, 3, 1] {
            h.finish(&mut pool, i);
        }
        assert_eq!(h.finished(), ["done 2", "done 0", "done 3", "done 1"]);
    }

    #[test]
    fn limited_never_exceeds_k_and_refills_at_once() {
        let mut pool = LocalPool::new();
        let (mut h, _) = start(&mut pool, 10, 3);
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
    fn aborting_stops_everything_and_nothing_settles_late() {
        let mut pool = LocalPool::new();
        let (mut h, abort) = start(&mut pool, 5, 2);
        h.finish(&mut pool, 0);
        abort.abort();
        pool.run_until_stalled();
        let before = h.log.borrow().len();
        for i in 1..5 {
            // The receivers are gone with the aborted run; sending fails quietly.
            if let Some(tx) = h.release[i].take() {
                let _ = tx.send(());
            }
        }
        pool.run_until_stalled();
        assert_eq!(h.log.borrow().len(), before);
        assert_eq!(h.finished(), ["done 0"]);
    }
}
