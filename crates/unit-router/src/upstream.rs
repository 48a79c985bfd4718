//! The upstream side of the router: the per-worker pool of upstream connections and
//! the proxied exchanges that use them.

mod exchange;
mod pool;

pub(crate) use exchange::{
    Exchange, ExchangeStep, HIGH_WATER, HeadFormat, Peer, RequestBody, forward_body,
    write_request_head,
};
pub(crate) use pool::{APP_TOKENS_START, Parked, Upstream, UpstreamPool, WorkerHome};
