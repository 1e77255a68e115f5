//! Who a client is, for limits: an IPv4 address is one client; an IPv6 client is its /64 (one host
//! is usually given a whole /64 and can rotate through it freely); an IPv4-mapped IPv6 address is
//! its IPv4 address. And the open connections of each client, capped ([`ConnectionLimits`]).
//!
//! Behind a reverse proxy every connection comes from the proxy's address: limit there instead.
//! `X-Forwarded-For` is not trusted, since any client can write it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The client an address belongs to: an IPv4 address itself, an IPv6 address its /64.
pub fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// The open connections of every client, with a cap per client. A service takes a
/// [`ConnectionSlot`] when a connection opens (it lives as long as the connection) and answers
/// the requests of a connection over the cap with an error that closes it, so one client cannot
/// hold the connections every other client needs. Clients with no open connection take no memory.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// The fewest connections beyond its cap a client may open before they are closed as they open
/// ([`ConnectionSlot::flooding`]): room for a client that opens a few too many by mistake to be
/// told so.
pub const FLOOD_MARGIN: usize = 16;

/// One open connection of a client; its client's count drops when it is dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    client: Option<IpAddr>,
    /// Its client's open connections, this one included, when it opened.
    count: usize,
}

impl ConnectionLimits {
    /// At most `per_client` open connections per client (at least 1).
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client: per_client.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A connection from `peer` opens (`None`: a peer with no IP address, never limited).
    pub fn open(self: &Arc<Self>, peer: Option<IpAddr>) -> ConnectionSlot {
        let client = peer.map(client_of);
        let count = client.map_or(0, |client| {
            let mut open = self.lock();
            let count = open.entry(client).or_insert(0);
            *count += 1;
            *count
        });
        ConnectionSlot {
            limits: self.clone(),
            client,
            count,
        }
    }

    /// A connection opens: `connection` is what an HTTP server hands its on-connect hook (a
    /// `tokio::net::TcpStream` for a TCP listener; anything else has no address and is not
    /// limited).
    pub fn open_connection(self: &Arc<Self>, connection: &dyn std::any::Any) -> ConnectionSlot {
        let peer = connection
            .downcast_ref::<tokio::net::TcpStream>()
            .and_then(|stream| stream.peer_addr().ok())
            .map(|peer| peer.ip());
        self.open(peer)
    }

    /// How many connections `client`'s address has open now.
    pub fn open_of(&self, client: IpAddr) -> usize {
        self.lock().get(&client_of(client)).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ConnectionSlot {
    /// Whether this connection is beyond its client's cap: its requests are refused and it is
    /// closed.
    pub fn over(&self) -> bool {
        self.count > self.limits.per_client
    }

    /// Whether this connection is beyond twice its client's cap (and at least [`FLOOD_MARGIN`]
    /// beyond it): a flood of connections, which the server closes as it opens, without waiting
    /// for a request to refuse (a client that opens connections and sends nothing would
    /// otherwise hold each until the head timeout). Between the cap and that, a request is
    /// answered with why it is refused.
    pub fn flooding(&self) -> bool {
        let per_client = self.limits.per_client;
        self.count > per_client.saturating_add(per_client.max(FLOOD_MARGIN))
    }

    /// The cap it was measured against.
    pub fn cap(&self) -> usize {
        self.limits.per_client
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some(client) = self.client else { return };
        let mut open = self.limits.lock();
        if let Some(count) = open.get_mut(&client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&client);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn every_address_of_one_ipv6_slash_64_is_one_client() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn connections_beyond_a_clients_cap_are_over_until_some_close() {
        let limits = ConnectionLimits::new(2);
        let one: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limits.open(Some(one));
        let second = limits.open(Some(same_64));
        let third = limits.open(Some(one));
        assert!(!first.over() && !second.over());
        assert!(third.over(), "a third connection of one /64");
        // Cap 2: the eighteenth connection is the last one told why (2 + 16).
        let more: Vec<ConnectionSlot> = (4..=19).map(|_| limits.open(Some(one))).collect();
        assert!(
            !third.flooding() && !more[14].flooding(),
            "within the cap and its margin"
        );
        assert!(more[15].flooding(), "the nineteenth");
        drop(more);
        assert!(!limits.open(Some(other)).over(), "another client");
        assert!(!limits.open(None).over(), "no address: not limited");
        assert_eq!(limits.open_of(one), 3);
        drop(third);
        drop(first);
        assert!(!limits.open(Some(one)).over());
        drop(second);
        assert_eq!(limits.open_of(one), 0);
        assert!(limits.lock().is_empty(), "closed clients take no memory");
    }
}
