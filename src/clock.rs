//! The wall clock, read once per command and passed down (the core takes time as an
//! argument).

use jwt_core::error::{Error, Result};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> Result<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| Error::syntax("the system clock is before 1970"))
}
