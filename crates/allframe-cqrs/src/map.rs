//! The hash map of the hot paths (stream indexes, the aggregate cache): stream ids are
//! hashed on every append, read and command, and SipHash was a sixth of a command's time.
//! foldhash is seeded per map, which keeps the usual defence against crafted keys.

/// A `HashMap` with foldhash's quality hasher.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
