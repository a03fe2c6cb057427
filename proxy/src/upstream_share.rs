//! Each client's share of the upstream: how many of its requests may be fetching from xkcd,
//! or queued for one of the `--max-upstream-concurrency` slots, at once. Without a share one
//! client's batches (five of 100 comics fit in the rate limit's burst) would queue hundreds
//! of fetches ahead of everybody else's. With it, a client's fetches past its share wait in
//! a line of its own, and another client's request queues behind at most one share per busy
//! client. The share equals the slot count, so one client alone still fetches that many at
//! a time.
//!
//! Both the share and the global slots are a [`PriorityLine`]: two lanes, images first. A
//! gather's 100 metadata fetches used to fill the client's line, and the images the page
//! asks for as the lines arrive queued behind every one of them (first tile 2,146 ms on
//! the xkcd path instead of one chain, 600 ms). An image completes a comic whose metadata
//! is already delivered, so it goes ahead of metadata not yet started; within a lane,
//! first come, first served. The number of places is as strict as before.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use crate::guard::client_key;

/// Which lane of a line a fetch waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Work that completes a comic in flight (its image): served first.
    Completes,
    /// Work that starts a comic (its metadata): served when no image waits.
    Starts,
}

impl Lane {
    fn index(self) -> usize {
        match self {
            Lane::Completes => 0,
            Lane::Starts => 1,
        }
    }
}

/// A counting semaphore whose waiters stand in two lanes: a freed place goes to the first
/// waiter of [`Lane::Completes`], or else to the first of [`Lane::Starts`].
pub struct PriorityLine {
    state: Mutex<LineState>,
}

struct LineState {
    /// Places nobody holds. Never above zero while anyone waits: a freed place is handed
    /// straight to the next waiter.
    free: usize,
    lanes: [VecDeque<Waiter>; 2],
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    granted: oneshot::Sender<()>,
}

impl LineState {
    /// Gives one freed place to the next waiter, or back to the pool.
    fn hand_on(&mut self) {
        for lane in &mut self.lanes {
            while let Some(waiter) = lane.pop_front() {
                // A waiter leaves its lane before its receiver goes, so this only fails if
                // that ever changes; the place then goes to the next one.
                if waiter.granted.send(()).is_ok() {
                    return;
                }
            }
        }
        self.free += 1;
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum()
    }
}

/// One place in a [`PriorityLine`]; dropping it hands the place on.
pub struct LinePlace {
    line: Arc<PriorityLine>,
}

impl Drop for LinePlace {
    fn drop(&mut self) {
        self.line.lock().hand_on();
    }
}

/// A waiter's stand in its lane. Dropped before it is served (its request cancelled), it
/// leaves the lane; dropped after a place was handed to it but before it took it, it hands
/// the place on, so a cancelled waiter never keeps a place.
struct Stand<'a> {
    line: &'a PriorityLine,
    lane: Lane,
    ticket: u64,
    granted: oneshot::Receiver<()>,
    served: bool,
}

impl Drop for Stand<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        let mut state = self.line.lock();
        let lane = &mut state.lanes[self.lane.index()];
        if let Some(at) = lane.iter().position(|w| w.ticket == self.ticket) {
            lane.remove(at);
        } else if self.granted.try_recv().is_ok() {
            state.hand_on();
        }
    }
}

impl PriorityLine {
    pub fn new(places: usize) -> Arc<Self> {
        Arc::new(PriorityLine {
            state: Mutex::new(LineState {
                free: places,
                lanes: [VecDeque::new(), VecDeque::new()],
                next_ticket: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().expect("never poisoned")
    }

    /// Waits in `lane` for a place.
    pub async fn enter(self: Arc<Self>, lane: Lane) -> LinePlace {
        let waiting = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                None
            } else {
                let (sender, receiver) = oneshot::channel();
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                state.lanes[lane.index()].push_back(Waiter {
                    ticket,
                    granted: sender,
                });
                Some((ticket, receiver))
            }
        };
        let Some((ticket, granted)) = waiting else {
            return LinePlace { line: self };
        };
        let mut stand = Stand {
            line: &self,
            lane,
            ticket,
            granted,
            served: false,
        };
        (&mut stand.granted)
            .await
            .expect("a waiter's sender goes only when it is granted or the waiter leaves");
        stand.served = true;
        drop(stand);
        LinePlace { line: self }
    }

    /// How many wait, in both lanes.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.lock().waiting()
    }
}

/// Every client's line of fetches, by client (an IPv4 address or an IPv6 /64).
pub struct UpstreamShare {
    per_client: usize,
    lines: Mutex<HashMap<IpAddr, Arc<PriorityLine>>>,
}

/// One place in a client's share; dropping it gives the place back.
pub struct SharePlace {
    _place: LinePlace,
}

impl UpstreamShare {
    pub fn new(per_client: usize) -> Self {
        UpstreamShare {
            per_client: per_client.max(1),
            lines: Mutex::new(HashMap::new()),
        }
    }

    /// Waits in `lane` for a place in `client`'s share.
    pub async fn enter(&self, client: IpAddr, lane: Lane) -> SharePlace {
        let line = {
            let mut lines = self.lines.lock().expect("never poisoned");
            // Forget clients with nothing in flight, so the map stays as small as the set
            // of clients fetching right now (only this map holds their line then).
            if lines.len() > 1024 {
                lines.retain(|_, line| Arc::strong_count(line) > 1);
            }
            lines
                .entry(client_key(client))
                .or_insert_with(|| PriorityLine::new(self.per_client))
                .clone()
        };
        SharePlace {
            _place: line.enter(lane).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    /// Lets spawned waiters run until `line` has `n` of them standing in it.
    async fn until_waiting(line: &PriorityLine, n: usize) {
        while line.waiting() != n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_client_past_its_share_waits_and_others_do_not() {
        let share = UpstreamShare::new(2);
        let held = [
            share.enter(ONE, Lane::Starts).await,
            share.enter(ONE, Lane::Completes).await,
        ];
        let third = tokio::time::timeout(Duration::from_millis(50), share.enter(ONE, Lane::Completes)).await;
        assert!(
            third.is_err(),
            "a third place for the same client waits, image or not"
        );
        let other = tokio::time::timeout(Duration::from_millis(50), share.enter(TWO, Lane::Starts)).await;
        assert!(other.is_ok(), "another client is not held back");
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), share.enter(ONE, Lane::Starts)).await;
        assert!(again.is_ok(), "places come back when dropped");
    }

    /// The order in which spawned waiters got their place, by label.
    type Served = Arc<Mutex<Vec<String>>>;

    fn wait_in(
        line: &Arc<PriorityLine>,
        lane: Lane,
        label: String,
        served: &Served,
    ) -> tokio::task::JoinHandle<LinePlace> {
        let (line, served) = (line.clone(), served.clone());
        tokio::spawn(async move {
            let place = line.enter(lane).await;
            served.lock().unwrap().push(label);
            place
        })
    }

    #[tokio::test]
    async fn an_image_asked_for_while_90_metadata_fetches_wait_goes_next() {
        let line = PriorityLine::new(16);
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(line.clone().enter(Lane::Starts).await);
        }
        let served = Served::default();
        let metadata: Vec<_> = (0..90)
            .map(|i| wait_in(&line, Lane::Starts, format!("comic {i}"), &served))
            .collect();
        until_waiting(&line, 90).await;
        let image = wait_in(&line, Lane::Completes, "image".into(), &served);
        until_waiting(&line, 91).await;

        drop(held.pop());
        while served.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            served.lock().unwrap().as_slice(),
            ["image"],
            "the image goes next"
        );
        let image = image.await.unwrap();

        // Then metadata, first come first served, one place at a time.
        drop(image);
        drop(held);
        let mut places = Vec::new();
        for waiter in metadata {
            places.push(waiter.await.unwrap());
            drop(places.pop());
        }
        let expected: Vec<String> = std::iter::once("image".to_owned())
            .chain((0..90).map(|i| format!("comic {i}")))
            .collect();
        assert_eq!(*served.lock().unwrap(), expected);
        assert_eq!(line.lock().free, 16, "every place came back");
    }

    #[tokio::test]
    async fn a_waiter_cancelled_in_its_lane_or_after_being_served_keeps_no_place() {
        let line = PriorityLine::new(1);
        let held = line.clone().enter(Lane::Starts).await;
        let served = Served::default();
        let dropped_in_lane = wait_in(&line, Lane::Completes, "gone".into(), &served);
        let next = wait_in(&line, Lane::Starts, "next".into(), &served);
        until_waiting(&line, 2).await;
        dropped_in_lane.abort();
        until_waiting(&line, 1).await;
        drop(held);
        drop(next.await.unwrap());
        assert_eq!(*served.lock().unwrap(), ["next"]);

        // Handed a place, then dropped before it ever ran to take it.
        let held = line.clone().enter(Lane::Starts).await;
        let mut granted_not_taken = Box::pin(line.clone().enter(Lane::Completes));
        assert!(futures::poll!(granted_not_taken.as_mut()).is_pending());
        drop(held);
        drop(granted_not_taken);
        assert_eq!(line.lock().free, 1, "the place handed to it came back");
        let again = tokio::time::timeout(Duration::from_millis(50), line.clone().enter(Lane::Starts)).await;
        assert!(again.is_ok());
    }

    /// Two clients' shares in front of one global line, as the proxy stacks them: a client's
    /// fetch holds its share place while it waits for a global slot. Client one runs a
    /// gather (many metadata fetches, then an image per comic); client two asks for one
    /// comic. Neither the share nor the global cap is ever exceeded, and client two's comic
    /// waits behind at most one share of client one's fetches.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_clients_never_exceed_their_share_or_the_cap() {
        const SHARE: usize = 4;
        let share = Arc::new(UpstreamShare::new(SHARE));
        let global = PriorityLine::new(SHARE);
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)]);
        let peaks = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)]);
        // A stand-in fetch that counts what is in flight: per client (0, 1) and in all (2).
        let fetch = {
            let (share, global, counts, peaks) =
                (share.clone(), global.clone(), counts.clone(), peaks.clone());
            move |client: usize, lane: Lane| {
                let (share, global, counts, peaks) =
                    (share.clone(), global.clone(), counts.clone(), peaks.clone());
                async move {
                    let _share = share.enter([ONE, TWO][client], lane).await;
                    let _slot = global.enter(lane).await;
                    for i in [client, 2] {
                        let now = counts[i].fetch_add(1, Ordering::SeqCst) + 1;
                        peaks[i].fetch_max(now, Ordering::SeqCst);
                    }
                    tokio::task::yield_now().await;
                    for i in [client, 2] {
                        counts[i].fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
        };
        let gather: Vec<_> = (0..40)
            .map(|_| {
                let fetch = fetch.clone();
                tokio::spawn(async move {
                    fetch(0, Lane::Starts).await;
                    fetch(0, Lane::Completes).await;
                })
            })
            .collect();
        let other = tokio::spawn(fetch(1, Lane::Starts));
        for comic in gather {
            comic.await.unwrap();
        }
        other.await.unwrap();
        assert!(
            peaks[0].load(Ordering::SeqCst) <= SHARE,
            "client one within its share"
        );
        assert!(
            peaks[1].load(Ordering::SeqCst) <= SHARE,
            "client two within its share"
        );
        assert!(peaks[2].load(Ordering::SeqCst) <= SHARE, "the global cap holds");
        assert_eq!(
            peaks[0].load(Ordering::SeqCst),
            SHARE,
            "client one used its whole share"
        );

        // Deterministically: client one's share full, its next fetches waiting in its own
        // line (not the global one); client two's fetch waits only for a global slot.
        let held: Vec<_> =
            futures::future::join_all((0..SHARE).map(|_| share.enter(ONE, Lane::Starts))).await;
        let slots: Vec<_> =
            futures::future::join_all((0..SHARE).map(|_| global.clone().enter(Lane::Starts))).await;
        let served = Served::default();
        let queued: Vec<_> = (0..10)
            .map(|i| {
                let (share, global, served) = (share.clone(), global.clone(), served.clone());
                tokio::spawn(async move {
                    let _place = share.enter(ONE, Lane::Completes).await;
                    let _slot = global.enter(Lane::Completes).await;
                    served.lock().unwrap().push(format!("one {i}"));
                })
            })
            .collect();
        let two = {
            let (share, global, served) = (share.clone(), global.clone(), served.clone());
            tokio::spawn(async move {
                let _place = share.enter(TWO, Lane::Starts).await;
                let _slot = global.enter(Lane::Starts).await;
                served.lock().unwrap().push("two".into());
            })
        };
        until_waiting(&global, 1).await;
        drop(slots);
        drop(held);
        two.await.unwrap();
        for one in queued {
            one.await.unwrap();
        }
        let order = served.lock().unwrap().clone();
        let two_at = order.iter().position(|s| s == "two").unwrap();
        assert!(
            two_at <= SHARE,
            "client two waited behind {two_at} of client one's fetches, more than one share: {order:?}"
        );
    }
}
