//! One worker's upstream connections: the ones in use by the client connection each
//! serves, and the idle ones kept alive by target for the next request.
//!
//! Upstream tokens are odd, above the worker's first connection token; client
//! connections use the even ones, so a token alone tells which kind an event is for. A
//! connection keeps its token and its registration for its whole life, so taking it from
//! the pool costs no `epoll_ctl`.
//!
//! Application connections are not pooled here: each is [`Parked`] with its process
//! between requests, still registered with the worker that used it last. Their tokens
//! are [`APP_TOKENS_START`] plus the socket's descriptor, unique in the process while
//! the socket is open, so the same worker takes one again without a system call and
//! another worker moves it over with two.
//!
//! What it does not do: speak HTTP (an exchange does) or decide when a connection may be
//! reused.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use mio::{Interest, Registry, Token};
use unit_engine::{HashMap, Stream};
use unit_http::ResponseHeadParsed;

use crate::routes::ProxyTarget;

/// Buffers larger than this are freed rather than kept for reuse.
const RECYCLED_BUFFER_LIMIT: usize = 64 * 1024;
/// How many spare buffers a worker keeps: an exchange holds two, and a worker may have
/// dozens of exchanges at once with an application whose processes take many requests
/// each (ASGI); fewer spares than that frees and allocates buffers as they come and go.
const SPARE_BUFFERS: usize = 128;
/// A new buffer's room: a request frame or head fits, and so does a first read.
const NEW_BUFFER_CAPACITY: usize = 4096;
/// Idle upstream connections kept per target in one worker.
const POOL_PER_TARGET: usize = 64;

/// Application connection tokens start here (above every upstream token).
pub(crate) const APP_TOKENS_START: usize = unit_engine::Engine::<()>::RESERVED_TOKENS_START / 2;

/// The token of an application connection: fixed by its descriptor.
fn app_token(stream: &Stream) -> Token {
    let fd = usize::try_from(stream.as_fd().as_raw_fd()).unwrap_or_default();
    Token(APP_TOKENS_START + fd)
}

/// A worker, as the poll a parked application connection stays registered with.
#[derive(Debug)]
pub(crate) struct WorkerHome {
    registry: Registry,
    /// The worker's number.
    worker: usize,
}

impl WorkerHome {
    /// The home of worker `worker`, whose poll `registry` is (a handle of its own to it).
    pub(crate) fn of(registry: &Registry, worker: usize) -> io::Result<Arc<WorkerHome>> {
        Ok(Arc::new(WorkerHome {
            registry: registry.try_clone()?,
            worker,
        }))
    }
}

/// An application process's connection between two requests, registered with the
/// worker that used it last.
#[derive(Debug)]
pub(crate) struct Parked {
    stream: Stream,
    home: Arc<WorkerHome>,
}

impl Parked {
    /// Neither closed by the process nor holding bytes it sent unasked.
    pub(crate) fn is_quiet(&self) -> bool {
        self.stream.is_quiet()
    }

    /// The worker it is registered with.
    pub(crate) fn worker(&self) -> usize {
        self.home.worker
    }
}

/// Starts connecting to a proxy target.
pub(crate) fn connect(target: &ProxyTarget) -> io::Result<Stream> {
    match target {
        ProxyTarget::Inet(address) => Stream::connect_tcp(*address),
        ProxyTarget::Unix(path) => Stream::connect_unix(path),
    }
}

/// An upstream connection with the token it stays registered under for its whole life,
/// so reusing it from the pool costs no epoll_ctl calls.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) stream: Stream,
    pub(crate) token: Token,
}

/// One worker's upstream connections: which client connection each one in use serves,
/// and the idle ones kept alive by target.
///
/// Upstream tokens are odd, above `first_token`; the worker's client connections use
/// the even ones, so a token alone tells which kind an event is for.
#[derive(Debug)]
pub(crate) struct UpstreamPool {
    idle: HashMap<ProxyTarget, Vec<Upstream>>,
    /// Every upstream token in use → the client connection token it serves, or None
    /// while the connection is idle in the pool.
    owners: HashMap<Token, Option<usize>>,
    /// Buffers of finished exchanges, for the next ones.
    spare_buffers: Vec<Vec<u8>>,
    /// Upstream response heads are parsed into this one (a worker runs one exchange
    /// at a time), so parsing reuses its strings.
    pub(crate) response_head: ResponseHeadParsed,
    next_token: usize,
    first_token: usize,
    last_token: usize,
    /// This worker, for the application connections it parks.
    home: Arc<WorkerHome>,
}

impl UpstreamPool {
    /// A pool handing out odd tokens from `first_token | 1` up to `last_token` (below
    /// [`APP_TOKENS_START`]), in the worker `home`.
    pub(crate) fn new(
        first_token: usize,
        last_token: usize,
        home: Arc<WorkerHome>,
    ) -> UpstreamPool {
        UpstreamPool {
            idle: HashMap::default(),
            owners: HashMap::default(),
            spare_buffers: Vec::new(),
            response_head: ResponseHeadParsed::default(),
            next_token: first_token | 1,
            first_token: first_token | 1,
            last_token: last_token.min(APP_TOKENS_START - 1),
            home,
        }
    }

    /// The client connection an upstream token serves, if it is in use.
    pub(crate) fn owner(&self, token: Token) -> Option<usize> {
        self.owners.get(&token).copied().flatten()
    }

    /// An idle connection reported readiness. Unless the event is a stale one from its
    /// last exchange, the upstream closed it or spoke out of turn, so it cannot serve
    /// another request: it is dropped (and deregistered).
    pub(crate) fn check_idle(&mut self, registry: &Registry, token: Token) {
        for upstreams in self.idle.values_mut() {
            if let Some(position) = upstreams.iter().position(|idle| idle.token == token) {
                if !upstreams[position].stream.is_quiet() {
                    let mut upstream = upstreams.swap_remove(position);
                    self.owners.remove(&token);
                    let _ = registry.deregister(upstream.stream.source());
                }
                return;
            }
        }
    }

    /// Closes every idle connection (a new configuration may name other upstreams).
    pub(crate) fn clear_idle(&mut self, registry: &Registry) {
        for (_, upstreams) in self.idle.drain() {
            for mut upstream in upstreams {
                self.owners.remove(&upstream.token);
                let _ = registry.deregister(upstream.stream.source());
            }
        }
    }

    /// How many upstream connections are idle in the pool.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    /// An empty buffer, reused when one is spare.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.spare_buffers
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(NEW_BUFFER_CAPACITY))
    }

    /// Keeps a buffer for a later exchange; large or surplus ones are freed.
    pub(crate) fn recycle_buffer(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() <= RECYCLED_BUFFER_LIMIT && self.spare_buffers.len() < SPARE_BUFFERS {
            buffer.clear();
            self.spare_buffers.push(buffer);
        }
    }

    pub(crate) fn take(&mut self, target: &ProxyTarget, owner: usize) -> Option<Upstream> {
        let upstream = self.idle.get_mut(target)?.pop()?;
        self.owners.insert(upstream.token, Some(owner));
        Some(upstream)
    }

    /// A token for a new upstream connection serving `owner`.
    pub(crate) fn new_token(&mut self, owner: usize) -> Token {
        loop {
            let token = Token(self.next_token);
            self.next_token = if self.next_token >= self.last_token - 2 {
                self.first_token
            } else {
                self.next_token + 2
            };
            if let hashbrown::hash_map::Entry::Vacant(entry) = self.owners.entry(token) {
                entry.insert(Some(owner));
                return token;
            }
        }
    }

    /// Keeps a connection for the next request to `target`, or closes it if enough are kept.
    pub(crate) fn put(&mut self, registry: &Registry, target: ProxyTarget, mut upstream: Upstream) {
        let idle = self.idle.entry(target).or_default();
        if idle.len() < POOL_PER_TARGET {
            self.owners.insert(upstream.token, None);
            idle.push(upstream);
        } else {
            self.owners.remove(&upstream.token);
            let _ = registry.deregister(upstream.stream.source());
        }
    }

    /// A new application connection serving `owner`, registered here.
    pub(crate) fn register_app(
        &mut self,
        registry: &Registry,
        mut stream: Stream,
        owner: usize,
    ) -> io::Result<Upstream> {
        let token = app_token(&stream);
        registry.register(
            stream.source(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.owners.insert(token, Some(owner));
        Ok(Upstream { stream, token })
    }

    /// A parked application connection, to serve `owner`: kept as it is when this worker
    /// parked it, else moved over from the worker that did. `None` when it cannot be
    /// registered (it is closed).
    pub(crate) fn claim_app(
        &mut self,
        registry: &Registry,
        parked: Parked,
        owner: usize,
    ) -> Option<Upstream> {
        let Parked { mut stream, home } = parked;
        let token = app_token(&stream);
        if !Arc::ptr_eq(&home, &self.home) {
            // Its events must stop going to the other worker before they come here.
            let _ = home.registry.deregister(stream.source());
            // Parked connections are watched for readability alone (see `Link`).
            registry
                .register(stream.source(), token, Interest::READABLE)
                .ok()?;
        }
        self.owners.insert(token, Some(owner));
        Some(Upstream { stream, token })
    }

    /// Parks an application connection after its exchange: it stays registered here
    /// and serves nobody (its events are ignored) until it is claimed again.
    pub(crate) fn park_app(&mut self, upstream: Upstream) -> Parked {
        self.owners.remove(&upstream.token);
        Parked {
            stream: upstream.stream,
            home: Arc::clone(&self.home),
        }
    }

    /// Closes a connection that will not be reused.
    pub(crate) fn close(&mut self, registry: &Registry, mut upstream: Upstream) {
        self.owners.remove(&upstream.token);
        let _ = registry.deregister(upstream.stream.source());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use mio::Interest;

    use super::*;

    fn connected_upstream(listener: &TcpListener, registry: &Registry, token: Token) -> Upstream {
        let address = listener.local_addr().expect("address");
        let mut stream = Stream::connect_tcp(address).expect("connect");
        registry
            .register(stream.source(), token, Interest::READABLE)
            .expect("register");
        Upstream { stream, token }
    }

    #[test]
    fn pooled_connections_keep_their_tokens_and_owners() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = ProxyTarget::Inet(listener.local_addr().expect("address"));
        let home = WorkerHome::of(registry, 0).expect("home");
        let mut pool = UpstreamPool::new(1000, 1010, home);

        let first = pool.new_token(7);
        let second = pool.new_token(8);
        assert_eq!((first, second), (Token(1001), Token(1003)), "odd tokens");
        assert_eq!(pool.owner(first), Some(7));

        let upstream = connected_upstream(&listener, registry, first);
        pool.put(registry, target.clone(), upstream);
        assert_eq!(pool.owner(first), None, "an idle connection serves nobody");
        assert_eq!(pool.idle_count(), 1);

        let reused = pool.take(&target, 9).expect("the idle connection");
        assert_eq!(reused.token, first, "reuse keeps the token");
        assert_eq!(pool.owner(first), Some(9));
        pool.close(registry, reused);
        assert_eq!(pool.owner(first), None);
        assert_eq!(pool.idle_count(), 0);

        // Tokens wrap around, skipping the ones still in use.
        let tokens: Vec<Token> = (0..4).map(|owner| pool.new_token(owner)).collect();
        assert_eq!(tokens, [Token(1005), Token(1007), Token(1009), Token(1001)]);
        pool.owners.remove(&Token(1007));
        assert_eq!(pool.new_token(5), Token(1007), "1003 and 1005 are in use");

        // A connection idle in the pool keeps its token as well.
        pool.owners.remove(&Token(1005));
        pool.owners.remove(&Token(1009));
        let idle = connected_upstream(&listener, registry, Token(1009));
        pool.put(registry, target.clone(), idle);
        assert_eq!(pool.owner(Token(1009)), None);
        assert_eq!(
            pool.new_token(6),
            Token(1005),
            "1009 is idle, 1001 and 1003 in use"
        );
    }

    #[test]
    fn an_idle_connection_that_speaks_is_dropped() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = ProxyTarget::Inet(listener.local_addr().expect("address"));
        let home = WorkerHome::of(registry, 0).expect("home");
        let mut pool = UpstreamPool::new(1000, 1 << 20, home);
        let token = pool.new_token(1);
        let upstream = connected_upstream(&listener, registry, token);
        let (mut server_side, _) = listener.accept().expect("accept");
        pool.put(registry, target.clone(), upstream);

        pool.check_idle(registry, token);
        assert_eq!(
            pool.idle_count(),
            1,
            "a stale event keeps a quiet connection"
        );

        server_side.write_all(b"unasked").expect("write");
        let speaks = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            pool.check_idle(registry, token);
            pool.idle_count() == 0
        });
        assert!(speaks, "a connection with unread bytes is dropped");
        assert!(pool.take(&target, 2).is_none());
    }
}
