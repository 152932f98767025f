//! The UniFFI object interface of idl/lightning_db.udl. (Being written.)
