//! Simulated waits in flight (demo-origin delays and timeouts): a global cap, and a share of
//! it per client, so that one client asking for long waits cannot take the pool from the
//! others.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::guard::client_key;

/// The share of the pool one client may hold: a browser run of 100 comics needs 200, the
/// default pool of 10,000 gives each client 1,250.
const CLIENT_SHARE: u32 = 8;

/// Places for simulated waits in flight: a global cap, of which one client may hold a share.
pub struct WaitPool {
    total: Arc<Semaphore>,
    held_by_client: Mutex<HashMap<IpAddr, u32>>,
    client_cap: u32,
}

/// One wait in flight; dropping it gives its place back.
pub struct WaitPermit {
    _total: OwnedSemaphorePermit,
    pool: Arc<WaitPool>,
    client: IpAddr,
}

impl WaitPool {
    pub fn new(total: u32) -> Arc<Self> {
        Arc::new(WaitPool {
            total: Arc::new(Semaphore::new(total as usize)),
            held_by_client: Mutex::new(HashMap::new()),
            client_cap: (total / CLIENT_SHARE).max(1),
        })
    }

    /// A place for one more wait from `peer`, or `None` when the pool or this client's
    /// share of it is full.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Option<WaitPermit> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let client = client_key(peer);
        let mut held = self.held_by_client.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(client).or_insert(0);
        if *count >= self.client_cap {
            return None;
        }
        *count += 1;
        Some(WaitPermit {
            _total: total,
            pool: self.clone(),
            client,
        })
    }
}

impl Drop for WaitPermit {
    fn drop(&mut self) {
        let mut held = self.pool.held_by_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_client_gets_its_share_and_the_others_still_get_theirs() {
        let pool = WaitPool::new(16);
        let mine: Vec<_> = (0..2).map(|_| pool.try_acquire(ip("127.0.0.1"))).collect();
        assert!(mine.iter().all(Option::is_some));
        assert!(pool.try_acquire(ip("127.0.0.1")).is_none(), "past its share");
        assert!(pool.try_acquire(ip("127.0.0.2")).is_some(), "another client");
        drop(mine);
        assert!(pool.try_acquire(ip("127.0.0.1")).is_some(), "places come back");
        assert!(
            pool.held_by_client.lock().unwrap().is_empty(),
            "nothing left behind"
        );
    }

    #[test]
    fn the_pool_caps_every_client_together() {
        let pool = WaitPool::new(16);
        let held: Vec<_> = (1..=8)
            .flat_map(|n| {
                [
                    pool.try_acquire(ip(&format!("127.0.0.{n}"))),
                    pool.try_acquire(ip(&format!("127.0.0.{n}"))),
                ]
            })
            .collect();
        assert!(held.iter().all(Option::is_some));
        assert!(pool.try_acquire(ip("127.0.0.9")).is_none(), "the pool is full");
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let pool = WaitPool::new(16);
        let _a = pool.try_acquire(ip("2001:db8::1")).unwrap();
        let _b = pool.try_acquire(ip("2001:db8::2")).unwrap();
        assert!(pool.try_acquire(ip("2001:db8::3")).is_none(), "same /64");
        assert!(pool.try_acquire(ip("2001:db8:0:1::1")).is_some(), "another /64");
    }
}
