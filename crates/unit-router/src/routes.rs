//! Routes (UNIT-COMPAT 3.3): steps of match conditions and actions, compiled once per
//! configuration from unit-conf's typed model and run per request.
//!
//! The root `routes` value is an array of steps (reached as `routes`) or an object of
//! named step arrays (reached as `routes/<name>`). [`Routes::select`] runs the steps of
//! one route in order and returns the action of the first step whose conditions all
//! hold. Actions and upstreams live in the submodules and are re-exported here.
//!
//! What it deliberately does not do: run actions, follow a `pass` into another route or
//! apply `rewrite` (the caller does those and calls [`Routes::select`] again for
//! `routes/...` targets), or log route decisions (`log_route` is the caller's).

mod action;
mod upstreams;

use std::cell::OnceCell;

use unit_conf::{AddressPattern, FieldPatterns, MatchCondition, Scheme};
use unit_engine::HashMap;
use unit_http::{decode_query_lenient, parse_cookies, parse_query};

pub(crate) use action::{Action, ActionKind, PassTarget, ProxyTarget, parse_pass};
pub(crate) use upstreams::Upstreams;

use crate::error::CompileError;
use crate::http::{ConnAddr, HttpRequest};
use crate::pattern::{Encoding, PatternSet, set_holds};
use crate::template::{ResponseVars, Template};

/// The compiled `routes` section.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// The steps of an array-valued `routes`.
    anonymous: Option<Vec<Step>>,
    /// The routes of an object-valued `routes`, by name.
    named: HashMap<String, Vec<Step>>,
}

/// One step of a route.
#[derive(Debug)]
struct Step {
    /// The conditions, all of which must hold; none means the step always matches.
    conditions: Vec<Condition>,
    /// The action of a matching step.
    action: Action,
}

/// One member of a step's `match` object.
#[derive(Debug)]
enum Condition {
    /// `host` against the normalized Host (case-insensitive).
    Host(PatternSet),
    /// `uri` against the decoded, normalized path.
    Uri(PatternSet),
    /// `method` (case-insensitive).
    Method(PatternSet),
    /// `headers` (case-insensitive names and values).
    Headers(FieldRules),
    /// `arguments` against the decoded query arguments.
    Arguments(FieldRules),
    /// `cookies` against the pairs of the Cookie headers.
    Cookies(FieldRules),
    /// `query` against the whole decoded query string.
    Query(PatternSet),
    /// `scheme`: whether the connection must be TLS.
    Scheme {
        /// True for `https`.
        https: bool,
    },
    /// `source`: the client address.
    Source(AddressSet),
    /// `destination`: the listener's address.
    Destination(AddressSet),
    /// `if`: a template that must expand to a true value (false with `!`).
    If {
        /// Whether the value began with `!`.
        negated: bool,
        /// The template after the `!`.
        template: Template,
    },
}

/// The value of a `headers`, `arguments` or `cookies` condition: alternatives (an array
/// of objects, ORed), each a list of fields that must all match (an object's members).
#[derive(Debug)]
struct FieldRules {
    /// The alternatives; one for an object value.
    alternatives: Vec<Vec<(String, PatternSet)>>,
}

/// The value of a `source` or `destination` condition.
#[derive(Debug)]
struct AddressSet {
    /// The address patterns in configuration order.
    patterns: Vec<AddressPattern>,
}

// === impl Routes ===

impl Routes {
    /// Compiles the root `routes` value of unit-conf's model: an array (anonymous
    /// routes) or named arrays; `None` means no routes.
    pub(crate) fn compile(routes: Option<&unit_conf::Routes>) -> Result<Routes, CompileError> {
        match routes {
            None => Ok(Routes::default()),
            Some(unit_conf::Routes::Steps(steps)) => Ok(Routes {
                anonymous: Some(compile_steps(steps)?),
                named: HashMap::default(),
            }),
            Some(unit_conf::Routes::Named(routes)) => {
                let named = routes
                    .iter()
                    .map(|route| Ok((route.name.clone(), compile_steps(&route.steps)?)))
                    .collect::<Result<HashMap<String, Vec<Step>>, CompileError>>()?;
                Ok(Routes {
                    anonymous: None,
                    named,
                })
            }
        }
    }

    /// Runs the steps of route `name` (`None`: the anonymous array) against `request` and
    /// returns the action of the first step whose conditions all hold. `None` when no
    /// step matches (the caller answers 404) or the route does not exist.
    pub(crate) fn select(&self, name: Option<&str>, request: &HttpRequest) -> Option<&Action> {
        self.select_with(name, request, |_, _| {})
    }

    /// Like [`Routes::select`], logging each step looked at as `log_route` asks: the
    /// selected one as a notice, the discarded ones as info.
    pub(crate) fn select_logged(
        &self,
        name: Option<&str>,
        request: &HttpRequest,
    ) -> Option<&Action> {
        let route = match name {
            Some(name) => format!("routes/{name}"),
            None => "routes".to_owned(),
        };
        self.select_with(name, request, |step_idx, selected| {
            if selected {
                unit_log::notice!("\"{route}/{step_idx}\" selected");
            } else {
                tracing::info!("\"{route}/{step_idx}\" discarded");
            }
        })
    }

    /// Runs the steps in order, telling `observe` about each one looked at.
    fn select_with(
        &self,
        name: Option<&str>,
        request: &HttpRequest,
        mut observe: impl FnMut(usize, bool),
    ) -> Option<&Action> {
        let steps = match name {
            None => self.anonymous.as_ref()?,
            Some(name) => self.named.get(name)?,
        };
        let view = RequestView::new(request);
        for (step_idx, step) in steps.iter().enumerate() {
            let selected = step
                .conditions
                .iter()
                .all(|condition| condition.holds(&view));
            observe(step_idx, selected);
            if selected {
                return Some(&step.action);
            }
        }
        None
    }
}

/// Compiles the steps of one route.
fn compile_steps(steps: &[unit_conf::Step]) -> Result<Vec<Step>, CompileError> {
    steps
        .iter()
        .map(|step| {
            Ok(Step {
                conditions: step
                    .conditions
                    .iter()
                    .map(compile_condition)
                    .collect::<Result<Vec<Condition>, CompileError>>()?,
                action: Action::compile(&step.action)?,
            })
        })
        .collect()
}

/// Compiles one member of a step's `match`.
fn compile_condition(condition: &MatchCondition) -> Result<Condition, CompileError> {
    let condition = match condition {
        MatchCondition::Host(patterns) => Condition::Host(PatternSet::compile(patterns, true)?),
        MatchCondition::Uri(patterns) => Condition::Uri(PatternSet::compile_encoded(
            patterns,
            false,
            Encoding::Percent,
        )?),
        MatchCondition::Method(patterns) => Condition::Method(PatternSet::compile(patterns, true)?),
        MatchCondition::Headers(alternatives) => {
            Condition::Headers(FieldRules::compile(alternatives, true, Encoding::Plain)?)
        }
        MatchCondition::Arguments(alternatives) => Condition::Arguments(FieldRules::compile(
            alternatives,
            false,
            Encoding::PercentPlus,
        )?),
        MatchCondition::Cookies(alternatives) => {
            Condition::Cookies(FieldRules::compile(alternatives, false, Encoding::Plain)?)
        }
        MatchCondition::Query(patterns) => Condition::Query(PatternSet::compile_encoded(
            patterns,
            false,
            Encoding::PercentPlus,
        )?),
        MatchCondition::Scheme(scheme) => Condition::Scheme {
            https: *scheme == Scheme::Https,
        },
        MatchCondition::Source(patterns) => Condition::Source(AddressSet {
            patterns: patterns.clone(),
        }),
        MatchCondition::Destination(patterns) => Condition::Destination(AddressSet {
            patterns: patterns.clone(),
        }),
        MatchCondition::If(condition) => Condition::If {
            negated: condition.negated,
            template: Template::new(&condition.template),
        },
    };
    Ok(condition)
}

// === impl Condition ===

impl Condition {
    /// Whether the condition holds for the request.
    fn holds(&self, view: &RequestView<'_>) -> bool {
        let request = view.request;
        match self {
            Condition::Host(patterns) => patterns.matches(&request.host),
            Condition::Uri(patterns) => patterns.matches(&request.uri),
            Condition::Method(patterns) => patterns.matches(&request.method),
            Condition::Headers(rules) => {
                rules.holds(|name| request.headers_named(name).map(<[u8]>::to_vec).collect())
            }
            Condition::Arguments(rules) => rules.holds(|name| values_named(view.arguments(), name)),
            Condition::Cookies(rules) => rules.holds(|name| values_named(view.cookies(), name)),
            Condition::Query(patterns) => patterns.matches_bytes(view.decoded_query()),
            Condition::Scheme { https } => request.https == *https,
            Condition::Source(addresses) => addresses.matches(&request.remote),
            Condition::Destination(addresses) => addresses.matches(&request.local),
            Condition::If { negated, template } => {
                let value = template.expand(request, &ResponseVars::default());
                is_true(&value) != *negated
            }
        }
    }
}

/// Whether an expanded `if` value counts as true.
fn is_true(value: &str) -> bool {
    !matches!(value, "" | "0" | "false" | "null" | "undefined")
}

/// The values of the pairs named `name` (names compare exactly).
fn values_named(pairs: &[(String, String)], name: &str) -> Vec<Vec<u8>> {
    pairs
        .iter()
        .filter(|(pair_name, _)| pair_name == name)
        .map(|(_, value)| value.clone().into_bytes())
        .collect()
}

// === impl FieldRules ===

impl FieldRules {
    /// Compiles the alternatives of a `headers`, `arguments` or `cookies` condition.
    /// Names are decoded as the patterns are.
    fn compile(
        alternatives: &[Vec<FieldPatterns>],
        case_insensitive: bool,
        encoding: Encoding,
    ) -> Result<FieldRules, CompileError> {
        let alternatives = alternatives
            .iter()
            .map(|fields| {
                fields
                    .iter()
                    .map(|field| {
                        let name = encoding
                            .decode(field.name.as_bytes())
                            .and_then(|bytes| String::from_utf8(bytes).ok())
                            .ok_or_else(|| CompileError::FieldNameEncoding {
                                name: field.name.clone(),
                            })?;
                        let patterns = PatternSet::compile_encoded(
                            &field.patterns,
                            case_insensitive,
                            encoding,
                        )?;
                        Ok((name, patterns))
                    })
                    .collect::<Result<Vec<_>, CompileError>>()
            })
            .collect::<Result<Vec<_>, CompileError>>()?;
        Ok(FieldRules { alternatives })
    }

    /// Whether some alternative holds: each of its fields is present and every value of
    /// that name satisfies the field's patterns. `values` gives the values of a name.
    fn holds(&self, values: impl Fn(&str) -> Vec<Vec<u8>>) -> bool {
        if self.alternatives.is_empty() {
            return true;
        }
        self.alternatives.iter().any(|fields| {
            fields.iter().all(|(name, patterns)| {
                let values = values(name);
                !values.is_empty() && values.iter().all(|value| patterns.matches_bytes(value))
            })
        })
    }
}

// === impl AddressSet ===

impl AddressSet {
    /// Whether the address satisfies the set, by the rule of [`set_holds`]; an empty
    /// set matches no address, as in Unit. A unix socket peer matches only `unix`
    /// patterns.
    fn matches(&self, address: &ConnAddr) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        set_holds(self.patterns.iter().map(|pattern| {
            let matched = match address {
                ConnAddr::Inet(socket_addr) => pattern.matches(socket_addr),
                ConnAddr::Unix => pattern.matches_unix(),
            };
            (pattern.is_negative(), matched)
        }))
    }
}

// === impl RequestView ===

/// A request with the parts conditions derive from it, computed when first needed.
struct RequestView<'a> {
    /// The request.
    request: &'a HttpRequest,
    /// The decoded query arguments.
    arguments: OnceCell<Vec<(String, String)>>,
    /// The cookies of every Cookie header.
    cookies: OnceCell<Vec<(String, String)>>,
    /// The decoded query string.
    decoded_query: OnceCell<Vec<u8>>,
}

impl<'a> RequestView<'a> {
    /// Wraps a request.
    fn new(request: &'a HttpRequest) -> RequestView<'a> {
        RequestView {
            request,
            arguments: OnceCell::new(),
            cookies: OnceCell::new(),
            decoded_query: OnceCell::new(),
        }
    }

    /// The decoded query arguments (`+` is a space).
    fn arguments(&self) -> &[(String, String)] {
        self.arguments
            .get_or_init(|| parse_query(&self.request.query))
    }

    /// The cookies of every Cookie header, in order.
    fn cookies(&self) -> &[(String, String)] {
        self.cookies.get_or_init(|| {
            self.request
                .headers_named("Cookie")
                .flat_map(parse_cookies)
                .collect()
        })
    }

    /// The query string decoded (`+` is a space, an invalid escape stays as sent).
    fn decoded_query(&self) -> &[u8] {
        self.decoded_query
            .get_or_init(|| decode_query_lenient(self.request.query.as_bytes()))
    }
}

#[cfg(test)]
mod tests;
