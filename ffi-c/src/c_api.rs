//! The C ABI of the integration guide. (Being written.)
