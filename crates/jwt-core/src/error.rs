//! The module's error type: a code the client can switch on plus a sentence.

use std::borrow::Cow;
use std::fmt;

/// Error codes of the spec, in the order a client usually checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Syntax and argument errors.
    Err,
    /// Malformed token, bad signature, unknown kid, disallowed alg, wrong iss/aud or token type.
    Invalid,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotBefore,
    /// The session is gone: destroyed, revoked, evicted or timed out.
    Revoked,
    /// A rotated-away refresh token was presented: the session was revoked.
    Reused,
    /// max-sessions reached with policy `deny`.
    Limit,
    /// ACL: the user may not touch the subject's keys (Redis's own code for this).
    NoPerm,
    /// Cluster: the token's session lives in a slot another node serves.
    Moved,
    /// Cluster: the slot is being migrated or is not served; retry later.
    TryAgain,
    /// A key where the module keeps a session or an index holds another type: it is
    /// left as it is (Redis's own code for this).
    WrongType,
    /// A keyring change on a replica (Redis's own code for writes a replica refuses).
    ReadOnly,
}

impl Code {
    pub const ALL: [Code; 12] = [
        Code::Err,
        Code::Invalid,
        Code::Expired,
        Code::NotBefore,
        Code::Revoked,
        Code::Reused,
        Code::Limit,
        Code::NoPerm,
        Code::Moved,
        Code::TryAgain,
        Code::WrongType,
        Code::ReadOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Err => "ERR",
            Code::Invalid => "INVALID",
            Code::Expired => "EXPIRED",
            Code::NotBefore => "NOTBEFORE",
            Code::Revoked => "REVOKED",
            Code::Reused => "REUSED",
            Code::Limit => "LIMIT",
            Code::NoPerm => "NOPERM",
            Code::Moved => "MOVED",
            Code::TryAgain => "TRYAGAIN",
            Code::WrongType => "WRONGTYPE",
            Code::ReadOnly => "READONLY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub msg: Cow<'static, str>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, msg: impl Into<Cow<'static, str>>) -> Self {
        Error {
            code,
            msg: msg.into(),
        }
    }
    pub fn syntax(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Err, msg)
    }
    pub fn invalid(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Invalid, msg)
    }
    pub fn noperm(key: &str) -> Self {
        Self::new(
            Code::NoPerm,
            format!("this user has no permissions to access the '{key}' key"),
        )
    }
    pub fn wrong_type(key: &str) -> Self {
        Self::new(
            Code::WrongType,
            format!(
                "key {key} holds another type than the module keeps there; it was left as it is"
            ),
        )
    }
    pub fn revoked() -> Self {
        Self::new(Code::Revoked, "the session has ended")
    }
}

impl fmt::Display for Error {
    /// The wire form: `CODE sentence`, which Redis sends as `-CODE sentence`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.as_str(), self.msg)
    }
}
