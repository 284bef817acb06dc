//! The pure core: no Redis in here. Time and randomness come in as arguments.

pub mod alg;
pub mod claims;
pub mod duration;
pub mod error;
pub mod jws;
pub mod key;
pub mod keyring;
pub mod lifecycle;
pub mod pem;
pub mod random;
pub mod refresh;
mod robustness;
pub mod session;
pub mod store;
pub mod token;
pub mod verify_cache;
