//! Just enough PEM for key import and export: one labelled base64 block.

use super::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The label and DER bytes of the first PEM block in `text`.
pub fn decode(text: &[u8]) -> Result<(String, Vec<u8>)> {
    let bad = || Error::syntax("malformed PEM");
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let start = text.find("-----BEGIN ").ok_or_else(bad)?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----").ok_or_else(bad)?;
    let label = rest[..label_end].to_string();
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end.find(&end_marker).ok_or_else(bad)?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body.as_bytes()).map_err(|_| bad())?;
    if der.is_empty() {
        return Err(bad());
    }
    Ok((label, der))
}

pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let der: Vec<u8> = (0..200u8).collect();
        let pem = encode("PRIVATE KEY", &der);
        assert_eq!(
            decode(pem.as_bytes()).unwrap(),
            ("PRIVATE KEY".to_string(), der)
        );
        assert!(decode(b"no pem here").is_err());
        assert!(decode(b"-----BEGIN X-----\n!!!\n-----END X-----").is_err());
        assert!(decode(b"-----BEGIN X-----\nAAAA\n-----END Y-----").is_err());
    }
}
