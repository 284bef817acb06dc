//! The algorithms a key can have, and what each needs from ring.

use ring::hmac;
use ring::signature;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

pub const ALL_ALGS: [Alg; 12] = [
    Alg::HS256,
    Alg::HS384,
    Alg::HS512,
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
    Alg::ES256,
    Alg::ES384,
    Alg::EdDSA,
];

/// The algorithms `Key::generate` makes keys of (the module generates no RSA keys).
#[cfg(test)]
pub(crate) const GENERATED_ALGS: [Alg; 6] = [
    Alg::HS256,
    Alg::HS384,
    Alg::HS512,
    Alg::ES256,
    Alg::ES384,
    Alg::EdDSA,
];

impl Alg {
    /// The algorithm of a key generated to follow one of this algorithm (ROTATE without
    /// an algorithm, automatic rotation, REVOKE of the signing key): the same where the
    /// module can generate it, ES256 for RSA (the module generates no RSA keys; ES256
    /// keeps tokens verifiable through JWKS, as RSA was).
    pub fn successor(self) -> Alg {
        match self {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Alg::ES256
            }
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive match, as the `alg` header requires. `none` never matches.
    pub fn from_header(s: &str) -> Option<Alg> {
        ALL_ALGS.into_iter().find(|a| a.name() == s)
    }

    /// Case-insensitive, for command arguments.
    pub fn from_arg(s: &str) -> Option<Alg> {
        ALL_ALGS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    /// Public-key algorithms cost tens of microseconds to milliseconds per operation
    /// (HMAC about one): worth moving off the server's main thread.
    pub fn is_expensive(self) -> bool {
        !self.is_hmac()
    }

    pub(crate) fn hmac(self) -> hmac::Algorithm {
        match self {
            Alg::HS384 => hmac::HMAC_SHA384,
            Alg::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        }
    }

    /// The RSA signing padding and verification algorithm of an RS*/PS* key (RS256's
    /// for the others, which never reach RSA code).
    pub(crate) fn rsa(
        self,
    ) -> (
        &'static dyn signature::RsaEncoding,
        &'static dyn signature::VerificationAlgorithm,
    ) {
        match self {
            Alg::RS384 => (
                &signature::RSA_PKCS1_SHA384,
                &signature::RSA_PKCS1_2048_8192_SHA384,
            ),
            Alg::RS512 => (
                &signature::RSA_PKCS1_SHA512,
                &signature::RSA_PKCS1_2048_8192_SHA512,
            ),
            Alg::PS256 => (
                &signature::RSA_PSS_SHA256,
                &signature::RSA_PSS_2048_8192_SHA256,
            ),
            Alg::PS384 => (
                &signature::RSA_PSS_SHA384,
                &signature::RSA_PSS_2048_8192_SHA384,
            ),
            Alg::PS512 => (
                &signature::RSA_PSS_SHA512,
                &signature::RSA_PSS_2048_8192_SHA512,
            ),
            _ => (
                &signature::RSA_PKCS1_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            ),
        }
    }

    /// HMAC secrets must be at least as long as the hash output (RFC 7518 3.2).
    pub(crate) fn min_secret_len(self) -> usize {
        self.hmac().digest_algorithm().output_len()
    }
}
