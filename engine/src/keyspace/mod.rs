//! The keyspace: 16 databases of typed values with expiry.

pub struct Keyspace {}
