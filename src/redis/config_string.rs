//! A string config's value as the server reads it.

use redis_module::{raw, RedisString};

/// The text CONFIG GET shows, kept as a server string that the module owns. Redis
/// borrows the string a getter returns and never frees it (its own test module keeps
/// one static string the same way): handing out a fresh string per call leaked it on
/// every CONFIG GET, and on every CONFIG SET, which reads the old value first.
pub struct Shown {
    text: String,
    /// The server string for `text`, made on the first GET after a change.
    made: *mut raw::RedisModuleString,
}

// SAFETY: configs are read and written only by Redis's main thread; the pointer is
// never dereferenced by Rust, only handed back to the server.
unsafe impl Send for Shown {}

impl Shown {
    pub const fn new() -> Self {
        Shown {
            text: String::new(),
            made: std::ptr::null_mut(),
        }
    }

    pub fn set(&mut self, text: &str) {
        if self.text != text {
            self.forget();
            self.text = text.to_string();
        }
    }

    fn forget(&mut self) {
        if self.made.is_null() {
            return;
        }
        if let Some(free) = api_fn!(RedisModule_FreeString) {
            // SAFETY: `made` came from CreateString with no context and is owned by us
            // alone; Redis copied it when it showed it.
            unsafe { free(std::ptr::null_mut(), self.made) };
        }
        self.made = std::ptr::null_mut();
    }

    /// A string Redis may borrow until the next change.
    pub fn get(&mut self) -> RedisString {
        if self.made.is_null() {
            if let Some(create) = api_fn!(RedisModule_CreateString) {
                // SAFETY: a byte buffer with its length; no context (the string
                // outlives any command).
                self.made = unsafe {
                    create(
                        std::ptr::null_mut(),
                        self.text.as_ptr().cast(),
                        self.text.len(),
                    )
                };
            }
        }
        // Not retained: the getter's caller takes the pointer without freeing it.
        RedisString::from_redis_module_string(std::ptr::null_mut(), self.made)
    }
}

impl Default for Shown {
    fn default() -> Self {
        Shown::new()
    }
}
