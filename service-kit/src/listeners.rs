//! The public listener and, when configured, the operator's own (`http.operator_listen`): health
//! probes and metrics (`/health/...`, `/metrics`) apart from what the public asks.
//!
//! With an operator listener, the operator routes are served there only, without the public
//! rate limit (the operator's prober and scraper are not the public), and the public listener
//! answers them `404`; the operator listener answers nothing else. Without one, the operator routes
//! are public routes like the others, limited like them: a flood of probes or scrapes costs the
//! flooder its own budget, never the other clients' database connections.
//!
//! Framework-free: a service asks [`Routing::admit`] in its request middleware with the
//! listener's local address (`actix_web`'s `AppConfig::local_addr`) and the request's path.

use std::net::{SocketAddr, TcpListener};

/// Whether `path` is an operator route: a health probe or the metrics scrape.
pub fn is_operator_path(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/health/")
}

/// Whether an operator listener, if any, is another address than the public one (both at port 0
/// are: each picks a free port).
pub fn apart(public: SocketAddr, operator: Option<SocketAddr>) -> bool {
    operator.is_none_or(|operator| operator != public || operator.port() == 0)
}

/// Why a listener does not serve `path` (the detail of its `404`).
pub fn not_here(path: &str) -> &'static str {
    if is_operator_path(path) {
        "the health probes and metrics are served on the operator's listener only"
    } else {
        "this listener serves the health probes and metrics only"
    }
}

/// The bound listeners of a service.
#[derive(Debug)]
pub struct Listeners {
    /// Where the public is served.
    pub public: TcpListener,
    /// Where the operator routes are served, if apart.
    pub operator: Option<TcpListener>,
    /// Which requests go where.
    pub routing: Routing,
}

/// A listener failed to bind.
#[derive(Debug, thiserror::Error)]
#[error("Failed to listen on {address} ({setting})")]
pub struct BindError {
    /// The address asked for.
    pub address: SocketAddr,
    /// The setting that named it.
    pub setting: &'static str,
    #[source]
    source: std::io::Error,
}

impl Listeners {
    /// Binds `public` (`http.listen`) and, if given, `operator` (`http.operator_listen`); port 0
    /// picks a free port.
    pub fn bind(public: SocketAddr, operator: Option<SocketAddr>) -> Result<Self, BindError> {
        let bind = |address: SocketAddr, setting: &'static str| {
            let listener = TcpListener::bind(address).map_err(|source| BindError {
                address,
                setting,
                source,
            })?;
            let local = listener.local_addr().map_err(|source| BindError {
                address,
                setting,
                source,
            })?;
            Ok::<_, BindError>((listener, local))
        };
        let (public, public_address) = bind(public, "http.listen")?;
        let (operator, operator_address) = match operator {
            Some(address) => {
                let (listener, local) = bind(address, "http.operator_listen")?;
                (Some(listener), Some(local))
            }
            None => (None, None),
        };
        Ok(Self {
            public,
            operator,
            routing: Routing {
                public: public_address,
                operator: operator_address,
            },
        })
    }
}

impl IntoIterator for Listeners {
    type Item = TcpListener;
    type IntoIter =
        std::iter::Chain<std::iter::Once<TcpListener>, std::option::IntoIter<TcpListener>>;

    /// The listeners a server listens on: the public one, then the operator's, if any.
    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.public).chain(self.operator)
    }
}

/// Which listener serves which routes: a copy lives in each service's request state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// The public listener's bound address.
    pub public: SocketAddr,
    /// The operator listener's bound address, if apart.
    pub operator: Option<SocketAddr>,
}

/// What a listener does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A public request: rate limited.
    Limited,
    /// An operator route on the operator's listener: not rate limited.
    Operator,
    /// Not served on this listener: `404`.
    NotHere,
}

impl Routing {
    /// What the listener bound at `local` does with a request for `path`.
    pub fn admit(&self, local: SocketAddr, path: &str) -> Admission {
        let operator_route = is_operator_path(path);
        match self.operator {
            Some(operator) if local == operator => {
                if operator_route {
                    Admission::Operator
                } else {
                    Admission::NotHere
                }
            }
            Some(_) if operator_route => Admission::NotHere,
            _ => Admission::Limited,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn operator_routes_are_public_and_limited_without_a_listener_of_their_own() {
        let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let routing = listeners.routing;
        assert!(listeners.operator.is_none());
        for path in [
            "/health/ready",
            "/health/live",
            "/metrics",
            "/items/x/history",
        ] {
            assert_eq!(routing.admit(routing.public, path), Admission::Limited);
        }
    }

    #[test]
    fn with_an_operator_listener_each_listener_serves_its_own_routes_only() {
        let listeners = Listeners::bind(
            "127.0.0.1:0".parse().unwrap(),
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .unwrap();
        let routing = listeners.routing;
        let operator = routing.operator.unwrap();
        assert_ne!(operator, routing.public);
        assert_eq!(listeners.operator.unwrap().local_addr().unwrap(), operator);
        assert_eq!(routing.admit(operator, "/metrics"), Admission::Operator);
        assert_eq!(
            routing.admit(operator, "/health/ready"),
            Admission::Operator
        );
        assert_eq!(routing.admit(operator, "/capture"), Admission::NotHere);
        assert_eq!(
            routing.admit(routing.public, "/metrics"),
            Admission::NotHere
        );
        assert_eq!(
            routing.admit(routing.public, "/health/live"),
            Admission::NotHere
        );
        assert_eq!(
            routing.admit(routing.public, "/capture"),
            Admission::Limited
        );
        // `/healthz` or `/metrics/x` are not operator routes.
        assert_eq!(
            routing.admit(routing.public, "/healthz"),
            Admission::Limited
        );
        assert_eq!(routing.admit(operator, "/metrics/x"), Admission::NotHere);
    }

    #[test]
    fn a_taken_address_names_its_setting() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = Listeners::bind("127.0.0.1:0".parse().unwrap(), Some(address)).unwrap_err();
        assert_eq!(error.setting, "http.operator_listen");
        assert!(error.to_string().contains(&address.to_string()));
    }
}
