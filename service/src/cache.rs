//! A bounded first-in-first-out map, shared by every cache in the engine (question
//! embeddings, composed answers).
//!
//! First-in-first-out rather than LRU: a hit needs only a shared lookup, and for
//! repeated questions the difference in hit rate is small.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map that holds at most `capacity` entries and drops the oldest insert first.
pub struct Fifo<K, V> {
    capacity: usize,
    values: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Clone + Eq + Hash, V: Clone> Fifo<K, V> {
    /// An empty cache for at most `capacity` entries; 0 caches nothing.
    pub fn new(capacity: usize) -> Fifo<K, V> {
        Fifo {
            capacity,
            values: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A copy of the value stored under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.values.get(key).cloned()
    }

    /// Stores `value` under `key` unless the key is already present.
    pub fn put(&mut self, key: K, value: V) {
        if self.capacity == 0 || self.values.contains_key(&key) {
            return;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.values.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.values.insert(key, value);
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.values.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;

    #[test]
    fn drops_the_oldest_insert_when_full_and_keeps_first_value() {
        let mut c = Fifo::new(2);
        c.put("a".to_owned(), 1);
        c.put("b".to_owned(), 2);
        c.put("a".to_owned(), 9);
        assert_eq!(c.get("a"), Some(1), "a present key keeps its value");
        c.put("c".to_owned(), 3);
        assert_eq!(c.get("a"), None, "the oldest entry went first");
        assert_eq!((c.get("b"), c.get("c")), (Some(2), Some(3)));
        c.clear();
        assert_eq!((c.get("b"), c.get("c")), (None, None));
        c.put("d".to_owned(), 4);
        c.put("e".to_owned(), 5);
        c.put("f".to_owned(), 6);
        assert_eq!(
            (c.get("d"), c.get("f")),
            (None, Some(6)),
            "cleared order too"
        );
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut c = Fifo::new(0);
        c.put(1, 1);
        assert_eq!(c.get(&1), None);
    }
}
