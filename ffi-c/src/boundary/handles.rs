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
//! Objects are held in `Arc`s: a call clones the `Arc` and releases the table lock
//! before working, so a slow call does not block other handles, and freeing a
//! handle while another thread is inside a call on it does not free memory under
//! that call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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
pub(crate) fn database(token: usize) -> Outcome<Arc<OpenDatabase>> {
    DATABASES.get(token, "db")
}

/// Tokens are multiples of 16 so that they look like aligned pointers to any
/// foreign-function layer that checks alignment; the counter starts at 1 so that
/// no token is 0 (NULL).
static NEXT: AtomicUsize = AtomicUsize::new(1);

pub(crate) struct Registry<T> {
    /// The C type name, for messages.
    kind: &'static str,
    live: RwLock<BTreeMap<usize, Arc<T>>>,
}

impl<T> Registry<T> {
    pub const fn new(kind: &'static str) -> Registry<T> {
        Registry {
            kind,
            live: RwLock::new(BTreeMap::new()),
        }
    }

    /// Registers `value` and returns its new token.
    pub fn insert(&self, value: T) -> usize {
        // Poisoning can only come from a panic inside these short critical sections
        // (an allocation failure aborts instead); the map is still consistent.
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        let token = loop {
            let token = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(16);
            // Only reachable after the counter wraps on a 32-bit platform.
            if token != 0 && !live.contains_key(&token) {
                break token;
            }
        };
        live.insert(token, Arc::new(value));
        token
    }

    /// The live object behind `token`.
    pub fn get(&self, token: usize, what: &str) -> Outcome<Arc<T>> {
        if token == 0 {
            return Err(Failure::null(what));
        }
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.get(&token)
            .cloned()
            .ok_or_else(|| self.unknown(token, what))
    }

    /// Unregisters `token`; later lookups of it fail.
    pub fn remove(&self, token: usize, what: &str) -> Outcome<Arc<T>> {
        if token == 0 {
            return Err(Failure::null(what));
        }
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        live.remove(&token).ok_or_else(|| self.unknown(token, what))
    }

    /// Live objects of this kind.
    pub fn len(&self) -> usize {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
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
    fn a_token_of_one_registry_is_unknown_to_another() {
        let things: Registry<u32> = Registry::new("Thing*");
        let others: Registry<u32> = Registry::new("Other*");
        let t = things.insert(1);
        others.insert(2);
        assert!(others.get(t, "other").is_err());
    }
}
