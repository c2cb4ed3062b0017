//! The hash map of the hot paths (stream indexes, the aggregate cache): stream ids are
//! hashed several times per append, read and command, and SipHash showed high in `perf`
//! profiles of `benches/suites` (command_bus).
//! foldhash is seeded per map, which keeps the usual defence against crafted keys.

/// A `HashMap` with foldhash's quality hasher.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
