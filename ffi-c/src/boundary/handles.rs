//! Handles given to C are tokens, not addresses.
//!
//! A `LightningDB*` (and every other opaque pointer of the API) is a number used as
//! a key into a table of live objects; the library never dereferences it. So a
//! freed handle, a handle freed twice, a handle of another type or an invented
//! value is looked up, not found, and reported as InvalidArgument, where a
//! pointer-based design would read freed memory. Tokens come from one process-wide
//! counter and are never reused (on 64-bit platforms the counter cannot wrap), so
//! a stale handle can never alias a newer object, and a handle of one type is never
//! a live handle of another type.
//!
//! Objects are held in `Arc`s, in maps that are replaced whole whenever a handle
//! is made or freed (read-copy-update). A lookup reads the current map without a
//! lock and borrows the object for the call ([`Held`]): it writes nothing that
//! another thread reads, so threads calling on one database at once do not pass
//! a lock's or a reference count's cache line between them. A call keeps the map
//! it looked in, and so the object, alive until it returns: freeing a handle
//! while another thread is inside a call on it does not free memory under that
//! call, and a slow call blocks nothing.
//!
//! Making and freeing a handle copies a map, so a registry is split into
//! [`SHARDS`] maps by token: consecutive tokens go to different shards, and a
//! program holding n live handles of a kind copies about n / SHARDS entries per
//! iterator made or freed, not n.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};

use super::transactions::Transactions;
use super::{Failure, Outcome};

/// What a `LightningDB*` handle refers to: an open database, shared with its
/// other owners, and the transactions begun through this handle.
pub(crate) struct OpenDatabase {
    pub db: Arc<lightning_db::Database>,
    pub transactions: Transactions,
}

impl OpenDatabase {
    pub fn new(db: Arc<lightning_db::Database>) -> OpenDatabase {
        OpenDatabase {
            db,
            transactions: Transactions::default(),
        }
    }
}

impl std::ops::Deref for OpenDatabase {
    type Target = lightning_db::Database;
    fn deref(&self) -> &lightning_db::Database {
        &self.db
    }
}

/// The open databases behind `LightningDB*` handles: those the C API opened, and
/// those the UniFFI objects lend to a language's fast path
/// (`Database.native_handle()`), which share the object's database.
pub(crate) static DATABASES: Registry<OpenDatabase> = Registry::new("LightningDB*");

/// The open database behind a `LightningDB*` handle.
pub(crate) fn database(token: usize) -> Outcome<Held<OpenDatabase>> {
    DATABASES.get(token, "db")
}

/// Tokens are multiples of 16 so that they look like aligned pointers to any
/// foreign-function layer that checks alignment; the counter starts at 1 so that
/// no token is 0 (NULL).
static NEXT: AtomicUsize = AtomicUsize::new(1);

type Live<T> = BTreeMap<usize, Arc<T>>;

/// A shard's first map, made at its first use. Not inlined: see `Shard::update`.
#[inline(never)]
fn empty_map<T>() -> ArcSwap<Live<T>> {
    ArcSwap::from_pointee(BTreeMap::new())
}

/// Maps per registry. Tokens are handed out in sequence, so the live handles of
/// a kind spread evenly over them.
pub(crate) const SHARDS: usize = 64;

pub(crate) struct Registry<T> {
    /// The C type name, for messages.
    kind: &'static str,
    shards: [Shard<T>; SHARDS],
}

/// The handles of a registry whose token / 16 is the same modulo [`SHARDS`].
struct Shard<T> {
    live: LazyLock<ArcSwap<Live<T>>>,
    /// Held while a new map is made from the current one.
    writer: Mutex<()>,
}

impl<T> Shard<T> {
    const fn new() -> Shard<T> {
        Shard {
            live: LazyLock::new(empty_map),
            writer: Mutex::new(()),
        }
    }

    /// Replaces the map with `change` applied to a copy of it.
    // Not inlined, nor is `empty_map`: tests/c/valgrind.supp recognises the maps
    // (alive at exit through ArcSwap's interior pointers) by the functions of this
    // module on their allocation stacks.
    #[inline(never)]
    fn update<R>(&self, change: impl FnOnce(&mut Live<T>) -> R) -> R {
        // Poisoning can only come from a panic inside these short critical sections
        // (an allocation failure aborts instead); the map is still consistent.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut map = Live::clone(&self.live.load());
        let result = change(&mut map);
        self.live.store(Arc::new(map));
        result
    }
}

/// An object of a registry, borrowed for a call: the map it was found in stays
/// alive (and unchanged) while this does.
pub(crate) struct Held<T> {
    /// Keeps the map, and so `entry`, alive; never read.
    _map: Guard<Arc<Live<T>>>,
    /// The object's entry in that map.
    entry: NonNull<Arc<T>>,
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `entry` points into the map `_map` holds; a published map is
        // never changed (updates build a new one), so the entry stays where it
        // was and valid for as long as `self`.
        unsafe { self.entry.as_ref() }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Held").field(&**self).finish()
    }
}

impl<T> Held<T> {
    /// A reference of its own to the object, for what outlives the call.
    pub fn arc(&self) -> Arc<T> {
        // SAFETY: as in `deref`.
        Arc::clone(unsafe { self.entry.as_ref() })
    }
}

impl<T> Registry<T> {
    pub const fn new(kind: &'static str) -> Registry<T> {
        Registry {
            kind,
            shards: [const { Shard::new() }; SHARDS],
        }
    }

    fn shard(&self, token: usize) -> &Shard<T> {
        &self.shards[(token / 16) % SHARDS]
    }

    /// Registers `value` and returns its new token.
    pub fn insert(&self, value: T) -> usize {
        let value = Arc::new(value);
        loop {
            let token = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(16);
            if token == 0 {
                continue;
            }
            let inserted = self.shard(token).update(|live| {
                // Only taken after the counter wraps on a 32-bit platform.
                if live.contains_key(&token) {
                    return false;
                }
                live.insert(token, Arc::clone(&value));
                true
            });
            if inserted {
                return token;
            }
        }
    }

    /// The live object behind `token`, borrowed for the call.
    pub fn get(&self, token: usize, what: &str) -> Outcome<Held<T>> {
        if token == 0 {
            return Err(Failure::null(what));
        }
        let map = self.shard(token).live.load();
        let Some(entry) = map.get(&token).map(NonNull::from) else {
            return Err(self.unknown(token, what));
        };
        Ok(Held { _map: map, entry })
    }

    /// Unregisters `token`; later lookups of it fail.
    pub fn remove(&self, token: usize, what: &str) -> Outcome<Arc<T>> {
        if token == 0 {
            return Err(Failure::null(what));
        }
        self.shard(token)
            .update(|live| live.remove(&token))
            .ok_or_else(|| self.unknown(token, what))
    }

    /// Live objects of this kind.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.live.load().len())
            .sum()
    }

    fn unknown(&self, token: usize, what: &str) -> Failure {
        Failure::invalid(format!(
            "{what} ({token:#x}) is not a live {}: it was already freed, or never returned by this library",
            self.kind
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::LightningDBError;

    #[test]
    fn tokens_are_distinct_aligned_and_never_reused() {
        let r: Registry<u32> = Registry::new("Thing*");
        let a = r.insert(1);
        let b = r.insert(2);
        assert_ne!(a, b);
        assert_eq!(a % 16, 0);
        assert_ne!(a, 0);
        assert_eq!(*r.remove(a, "thing").unwrap(), 1);
        let c = r.insert(3);
        assert!(c != a && c != b);
        let err = r.get(a, "thing").unwrap_err();
        assert_eq!(err.code, LightningDBError::InvalidArgument);
        assert!(err.message.contains("already freed"), "{}", err.message);
        assert_eq!(
            r.remove(a, "thing").unwrap_err().code,
            LightningDBError::InvalidArgument
        );
        assert_eq!(
            r.get(0, "thing").unwrap_err().code,
            LightningDBError::NullPointer
        );
    }

    #[test]
    fn an_object_held_by_a_call_outlives_its_removal() {
        let r: Registry<String> = Registry::new("Thing*");
        let a = r.insert("alive".to_string());
        let held = r.get(a, "thing").unwrap();
        let removed = r.remove(a, "thing").unwrap();
        drop(removed);
        // The call that looked it up still reads it; new lookups fail.
        assert_eq!(&*held, "alive");
        assert!(r.get(a, "thing").is_err());
        assert_eq!(r.len(), 0);
        let b = r.insert("next".to_string());
        assert_eq!(*r.get(b, "thing").unwrap().arc(), "next");
    }

    #[test]
    fn handles_spread_over_every_shard_are_found_counted_and_removed() {
        let r: Registry<usize> = Registry::new("Thing*");
        let tokens: Vec<usize> = (0..10 * SHARDS).map(|i| r.insert(i)).collect();
        assert!(r.shards.iter().all(|shard| !shard.live.load().is_empty()));
        assert_eq!(r.len(), 10 * SHARDS);
        for (i, &token) in tokens.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert_eq!(*r.remove(token, "thing").unwrap(), i);
        }
        for (i, &token) in tokens.iter().enumerate() {
            match r.get(token, "thing") {
                Ok(held) => assert!(i % 3 != 0 && *held == i),
                Err(_) => assert_eq!(i % 3, 0),
            }
        }
        assert_eq!(r.len(), tokens.len() - tokens.len().div_ceil(3));
    }

    #[test]
    fn a_token_of_one_registry_is_unknown_to_another() {
        let things: Registry<u32> = Registry::new("Thing*");
        let others: Registry<u32> = Registry::new("Other*");
        let t = things.insert(1);
        others.insert(2);
        assert!(others.get(t, "other").is_err());
    }
}
