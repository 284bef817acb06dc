//! Randomness is passed into the core so tests can pin it; the module uses the OS CSPRNG.

use super::error::{Error, Result};
use ring::rand::SecureRandom;

pub trait Random {
    fn fill(&self, buf: &mut [u8]) -> Result<()>;
}

/// The operating system's CSPRNG (getrandom), through ring.
pub struct OsRandom(ring::rand::SystemRandom);

impl OsRandom {
    pub fn new() -> Self {
        OsRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        self.0
            .fill(buf)
            .map_err(|_| Error::syntax("the OS random number generator failed"))
    }
}

/// A UUID v4 (RFC 9562) built from 16 random bytes.
pub fn uuid_v4(rng: &dyn Random) -> Result<String> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string())
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use std::cell::Cell;

    /// Deterministic bytes for tests: a counter, never a secret.
    pub struct Counter(pub Cell<u8>);

    impl Random for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<()> {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    #[test]
    fn uuid_is_v4() {
        let id = uuid_v4(&Counter(Cell::new(0))).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        let os = OsRandom::new();
        assert_ne!(uuid_v4(&os).unwrap(), uuid_v4(&os).unwrap());
    }
}
