//! The dataset digest computed from a stream of entries, in any order and
//! in parallel, equal to [`memoir_engine::keyspace::Keyspace::digest`] of
//! the same data: per database, entry digests are XORed (order-free); the
//! databases are then folded in index order, as the keyspace does.

use std::collections::BTreeMap;

use memoir_engine::keyspace::digest;
use memoir_engine::keyspace::value::Value;

#[derive(Default, Clone)]
pub struct DigestBuilder {
    per_db: BTreeMap<u16, [u8; 20]>,
}

impl DigestBuilder {
    pub fn add(&mut self, db: u16, key: &[u8], value: &Value, expire_at: Option<i64>) {
        let entry = digest::entry(key, value, expire_at);
        digest::xor_into(self.per_db.entry(db).or_insert([0; 20]), &entry);
    }

    /// Combines a builder that saw other entries (of any databases).
    pub fn merge(&mut self, other: DigestBuilder) {
        for (db, part) in other.per_db {
            digest::xor_into(self.per_db.entry(db).or_insert([0; 20]), &part);
        }
    }

    pub fn finish(&self) -> [u8; 20] {
        let mut total = [0u8; 20];
        for (db, part) in &self.per_db {
            digest::mix(&mut total, &u32::from(*db).to_be_bytes());
            digest::xor_into(&mut total, part);
        }
        total
    }
}
