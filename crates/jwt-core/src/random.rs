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
    Ok(uuid_from(bytes))
}

/// Two UUID v4 from one read of the CSPRNG (SIGN needs a sid and a jti).
pub fn uuid_v4_pair(rng: &dyn Random) -> Result<(String, String)> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)?;
    let (a, b) = bytes.split_at(16);
    let arr = |s: &[u8]| -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(s);
        out
    };
    Ok((uuid_from(arr(a)), uuid_from(arr(b))))
}

fn uuid_from(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
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
        let (a, b) = uuid_v4_pair(&os).unwrap();
        assert_ne!(a, b);
        assert_eq!(&b[14..15], "4");
    }
}
