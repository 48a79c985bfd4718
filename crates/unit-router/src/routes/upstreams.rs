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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use unit_engine::HashMap;

use super::ProxyTarget;

/// Units per unit of configured weight, so fractional weights keep three decimals.
const WEIGHT_SCALE: f64 = 1000.0;
/// The largest weight the configuration allows.
const MAX_WEIGHT: f64 = 1_000_000.0;

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
    /// Compiles the root `upstreams` value; `None` means no upstreams.
    pub(crate) fn compile(upstreams: Option<&Value>) -> Result<Upstreams, String> {
        let Some(upstreams) = upstreams else {
            return Ok(Upstreams::default());
        };
        let upstreams = upstreams
            .as_object()
            .ok_or_else(|| format!("\"upstreams\" must be an object, not {upstreams}"))?;
        let upstreams = upstreams
            .iter()
            .map(|(name, upstream)| Ok((name.clone(), compile_upstream(name, upstream)?)))
            .collect::<Result<HashMap<String, Upstream>, String>>()?;
        Ok(Upstreams { upstreams })
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

/// Compiles one upstream: `{"servers": {"<ip>:<port>": {"weight": <number>}}}`.
fn compile_upstream(name: &str, upstream: &Value) -> Result<Upstream, String> {
    let servers = upstream
        .get("servers")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("the \"{name}\" upstream must contain a \"servers\" object"))?;
    let servers = servers
        .iter()
        .map(|(address, server)| compile_server(address, server))
        .collect::<Result<Vec<Server>, String>>()?;
    let scores = Mutex::new(vec![0; servers.len()]);
    Ok(Upstream { servers, scores })
}

/// Compiles one server entry.
fn compile_server(address: &str, server: &Value) -> Result<Server, String> {
    let target = match address.strip_prefix("unix:") {
        Some(path) if !path.is_empty() => ProxyTarget::Unix(PathBuf::from(path)),
        _ => ProxyTarget::Inet(
            address
                .parse::<SocketAddr>()
                .map_err(|_| format!("\"{address}\" is not a valid server address"))?,
        ),
    };
    let weight = match server.get("weight") {
        None => 1.0,
        Some(weight) => weight
            .as_f64()
            .ok_or_else(|| format!("the weight of \"{address}\" must be a number"))?,
    };
    if !(0.0..=MAX_WEIGHT).contains(&weight) {
        return Err(format!(
            "the weight of \"{address}\" must be from 0 to 1,000,000"
        ));
    }
    Ok(Server {
        address: target,
        weight: scale_weight(weight),
    })
}

/// Turns a weight from 0 to 1,000,000 into whole units; any positive weight gets at least
/// one unit, so it is still picked now and then.
fn scale_weight(weight: f64) -> i64 {
    // The range check bounds the product by 1e9, which an i64 holds exactly.
    let units = (weight * WEIGHT_SCALE).round() as i64;
    if weight > 0.0 { units.max(1) } else { 0 }
}

#[cfg(test)]
mod tests;
