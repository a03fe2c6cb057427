//! Each client's share of the upstream: how many of its requests may be fetching from xkcd,
//! or queued for one of the `--max-upstream-concurrency` slots, at once. The slots
//! themselves are one first-come queue, so without a share one client's batches (five of
//! 100 comics fit in the rate limit's burst) would queue hundreds of fetches ahead of
//! everybody else's. With it, a client's fetches past its share wait in a line of its own,
//! and another client's request queues behind at most one share per busy client. The share
//! equals the slot count, so one client alone still fetches that many at a time.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::guard::client_key;

/// Every client's line of fetches, by client (an IPv4 address or an IPv6 /64).
pub struct UpstreamShare {
    per_client: usize,
    lines: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

/// One place in a client's share; dropping it gives the place back.
pub struct SharePlace {
    _permit: OwnedSemaphorePermit,
}

impl UpstreamShare {
    pub fn new(per_client: usize) -> Self {
        UpstreamShare {
            per_client: per_client.max(1),
            lines: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a place in `client`'s share.
    pub async fn enter(&self, client: IpAddr) -> SharePlace {
        let line = {
            let mut lines = self.lines.lock().expect("never poisoned");
            // Forget clients with nothing in flight, so the map stays as small as the set
            // of clients fetching right now (only this map holds their semaphore then).
            if lines.len() > 1024 {
                lines.retain(|_, line| Arc::strong_count(line) > 1);
            }
            lines
                .entry(client_key(client))
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
                .clone()
        };
        SharePlace {
            _permit: line.acquire_owned().await.expect("the semaphore is never closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_client_past_its_share_waits_and_others_do_not() {
        let share = UpstreamShare::new(2);
        let (one, two): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let held = [share.enter(one).await, share.enter(one).await];
        let third = tokio::time::timeout(Duration::from_millis(50), share.enter(one)).await;
        assert!(third.is_err(), "a third place for the same client waits");
        let other = tokio::time::timeout(Duration::from_millis(50), share.enter(two)).await;
        assert!(other.is_ok(), "another client is not held back");
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), share.enter(one)).await;
        assert!(again.is_ok(), "places come back when dropped");
    }
}
