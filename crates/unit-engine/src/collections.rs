//! The workspace's hash map and hash set: `hashbrown` tables hashed with `ahash`.
//!
//! `clippy.toml` forbids the `std` collections, so every crate names these aliases
//! instead. They only fix the hasher; no behaviour is added on top of `hashbrown`.

/// A `hashbrown` hash map using `ahash`; the only `HashMap` of the workspace.
///
/// Build one with `HashMap::default()` or `HashMap::with_capacity_and_hasher(n, Default::default())`.
pub type HashMap<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// A `hashbrown` hash set using `ahash`; the only `HashSet` of the workspace.
///
/// Build one with `HashSet::default()`.
pub type HashSet<K> = hashbrown::HashSet<K, ahash::RandomState>;
