//! Random and mangled input into every parser of the core: nothing may panic (a panic in
//! a command handler would be caught, but the core should not need the guard).

#[cfg(test)]
mod tests {
    use crate::keyring::{Alg, Key, Keyring};
    use crate::{claims, duration, jws, pem, refresh, session};
    use ring::hmac;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = (self.next() % max as u64) as usize;
            (0..n).map(|_| self.next() as u8).collect()
        }
        fn mangle(&mut self, good: &[u8]) -> Vec<u8> {
            let mut m = good.to_vec();
            match self.next() % 4 {
                0 if !m.is_empty() => {
                    let i = (self.next() % m.len() as u64) as usize;
                    m[i] = self.next() as u8;
                }
                1 => m.truncate((self.next() % (m.len() as u64 + 1)) as usize),
                2 => m.extend(self.bytes(16)),
                _ => {
                    let i = (self.next() % (m.len() as u64 + 1)) as usize;
                    m.insert(i, b".{}\"\\[]"[(self.next() % 7) as usize]);
                }
            }
            m
        }
    }

    fn ring() -> Keyring {
        let mut r = Keyring::default();
        r.insert(Key::new("k1", Alg::HS256, vec![7; 32], 0).unwrap())
            .unwrap();
        r.activate("k1", 0).unwrap();
        r.set_refresh_secret(vec![9; 32]);
        r
    }

    #[test]
    fn parsers_never_panic() {
        let r = ring();
        let mac = hmac::Key::new(hmac::HMAC_SHA256, &[9; 32]);
        let good_token = jws::sign(
            r.active().unwrap(),
            r#"{"sub":"a","sid":"s","iat":1,"exp":2}"#,
            8192,
        )
        .unwrap();
        let good_refresh = refresh::RefreshToken {
            created_ms: 1,
            generation: 1,
            incarnation: Some(3),
            sub: "a".into(),
            sid: "s".into(),
            secret: [1; 32],
        }
        .encode(&mac);
        let good_keyring = r.to_bytes();
        let good_pem = pem::encode("PRIVATE KEY", &[1, 2, 3]);
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let t = if rng.next().is_multiple_of(2) {
                rng.mangle(good_token.as_bytes())
            } else {
                rng.bytes(400)
            };
            if let Ok(parts) = jws::split(&t, 8192) {
                let _ = jws::verify_signature(&parts, &r, 0);
                if let Ok(p) = jws::b64_decode(parts.payload_b64) {
                    if let Ok(c) = claims::parse_claims(&p) {
                        let _ = claims::ClaimChecks::of(&c).check_times(0, 0);
                    }
                }
            }
            let _ = jws::decode_unverified(&t, 8192);
            let _ = claims::parse_public_claims(&rng.bytes(64));
            let rt = rng.mangle(good_refresh.as_bytes());
            let _ = refresh::decode(&rt, &mac, 8192);
            let _ = refresh::peek_session(&rt);
            let _ = Keyring::from_bytes(&rng.mangle(&good_keyring));
            let _ = pem::decode(&rng.mangle(good_pem.as_bytes()));
            let text = String::from_utf8_lossy(&rng.bytes(24)).to_string();
            let _ = duration::parse_ms(&text);
            let _ = session::validate_subject(&rng.bytes(40));
            let _ = session::validate_sid(&rng.bytes(40));
            let _ = session::hash_slot(&rng.bytes(40));
        }
    }
}
