//! Upstreams (UNIT-COMPAT 3.5): named groups of proxied servers, chosen by smooth
//! weighted round robin.
//!
//! Each pick adds every server's weight to its running score, takes the server with the
//! highest score (the first one on a tie) and takes the sum of the weights off the
//! winner's score. Over a cycle each server is picked in proportion to its weight, and
//! picks of a heavy server are spread out rather than bunched (weights 5, 1, 1 give
//! `a a b a c a a`). Weights may be fractional; they are scaled to whole units, and a
//! server of weight 0 is never picked.
//!
//! The scores of an upstream sit behind a mutex, so the router's threads share one
//! compiled configuration and still take turns fairly.
//!
//! What it deliberately does not do: connect, track failures or health, or resolve names
//! (server keys are IP addresses or `unix:` socket paths).

use std::sync::{Mutex, PoisonError};

use unit_engine::HashMap;

use super::ProxyTarget;

/// Units per unit of configured weight, so fractional weights keep three decimals.
const WEIGHT_SCALE: f64 = 1000.0;

/// The compiled `upstreams` section.
#[derive(Debug, Default)]
pub(crate) struct Upstreams {
    /// The upstreams by name.
    upstreams: HashMap<String, Upstream>,
}

/// One upstream.
#[derive(Debug)]
struct Upstream {
    /// The servers in configuration order.
    servers: Vec<Server>,
    /// Each server's running score, by index into `servers`.
    scores: Mutex<Vec<i64>>,
}

/// One server of an upstream.
#[derive(Debug)]
struct Server {
    /// Where it listens.
    address: ProxyTarget,
    /// Its weight in units of 1/1000; 0 means never picked.
    weight: i64,
}

impl Upstreams {
    /// Compiles the `upstreams` of unit-conf's model.
    pub(crate) fn compile(upstreams: &[unit_conf::Upstream]) -> Upstreams {
        let upstreams = upstreams
            .iter()
            .map(|upstream| (upstream.name.clone(), compile_upstream(upstream)))
            .collect();
        Upstreams { upstreams }
    }

    /// Picks the next server of upstream `name`; `None` when the upstream does not exist
    /// or every server has weight 0. As in Unit, a server that cannot be reached fails
    /// the request (502) rather than passing it to the next one.
    pub(crate) fn pick(&self, name: &str) -> Option<ProxyTarget> {
        let upstream = self.upstreams.get(name)?;
        upstream
            .pick_index()
            .map(|server_idx| upstream.servers[server_idx].address.clone())
    }
}

impl Upstream {
    /// Runs one round of smooth weighted round robin; the index of the winner.
    fn pick_index(&self) -> Option<usize> {
        // A thread that panicked mid-pick leaves valid (if unfair) scores behind.
        let mut scores = self.scores.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0;
        for (server, score) in self.servers.iter().zip(scores.iter_mut()) {
            *score += server.weight;
            total += server.weight;
        }
        let mut best: Option<usize> = None;
        for (server_idx, server) in self.servers.iter().enumerate() {
            if server.weight > 0
                && best.is_none_or(|best_idx| scores[server_idx] > scores[best_idx])
            {
                best = Some(server_idx);
            }
        }
        let best_idx = best?;
        scores[best_idx] -= total;
        Some(best_idx)
    }
}

/// Compiles one upstream.
fn compile_upstream(upstream: &unit_conf::Upstream) -> Upstream {
    let servers: Vec<Server> = upstream
        .servers
        .iter()
        .map(|server| Server {
            address: ProxyTarget::new(&server.address),
            weight: scale_weight(server.weight),
        })
        .collect();
    let scores = Mutex::new(vec![0; servers.len()]);
    Upstream { servers, scores }
}

/// Turns a weight from 0 to 1,000,000 into whole units; any positive weight gets at least
/// one unit, so it is still picked now and then.
fn scale_weight(weight: f64) -> i64 {
    // The validator's range check bounds the product by 1e9, which an i64 holds exactly.
    let units = (weight * WEIGHT_SCALE).round() as i64;
    if weight > 0.0 { units.max(1) } else { 0 }
}

#[cfg(test)]
mod tests;
