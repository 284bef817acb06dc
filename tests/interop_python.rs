//! Interop with Python's PyJWT, a library this project has nothing to do with: tokens we
//! sign verify there from the JWKS (or the shared secret), and tokens it signs with our
//! exported keys verify here. PyJWT and cryptography go into a virtual environment of
//! the test's own, target/interop-venv (made with `python3 -m venv`, reused when present,
//! never the user's Python). The test fails when the venv or the install cannot be made
//! (on Debian: `apt-get install python3-venv`; pip needs PyPI).
mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"
import base64, json, sys, time, jwt
job = json.load(sys.stdin)
raw = lambda s: base64.b64decode(s)
out = {"verified": [], "signed": []}
jwks = jwt.PyJWKSet.from_json(job["jwks"])
for t in job["ours"]:
    header = jwt.get_unverified_header(t["token"])
    key = raw(t["secret"]) if t["alg"].startswith("HS") else jwks[header["kid"]].key
    claims = jwt.decode(t["token"], key, algorithms=[t["alg"]], options={"verify_aud": False})
    out["verified"].append(claims["sub"])
for k in job["keys"]:
    token = jwt.encode({"sub": "py-" + k["alg"], "exp": int(time.time()) + 60}, raw(k["material"]), algorithm=k["alg"], headers={"kid": k["kid"]})
    out["signed"].append(token)
print(json.dumps(out))
"#;

fn b64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn run(what: &str, command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{what} failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{what} could not run: {e}")),
    }
}

/// The venv's python with PyJWT and cryptography importable; panics (the test fails)
/// when that cannot be made.
fn venv_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv");
    let python = venv.join("bin/python");
    let works = |args: &[&str]| {
        Command::new(&python)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works(&["-c", "import pip"]) {
        // Absent, or left broken (an interrupted creation, a Python since removed).
        let _ = std::fs::remove_dir_all(&venv);
        if let Err(e) = run(
            "python3 -m venv",
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
        ) {
            panic!(
                "cannot create the virtual environment {} for PyJWT ({e}); on Debian install python3-venv",
                venv.display()
            );
        }
    }
    if !works(&["-c", "import jwt, cryptography"]) {
        if let Err(e) = run(
            "pip install pyjwt cryptography",
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "pyjwt",
                "cryptography",
            ]),
        ) {
            panic!(
                "cannot install PyJWT and cryptography into {}: {e}",
                venv.display()
            );
        }
        assert!(
            works(&["-c", "import jwt, cryptography"]),
            "PyJWT and cryptography were installed into {} but do not import",
            venv.display()
        );
    }
    python
}

#[test]
fn tokens_cross_verify_with_pyjwt() {
    let python = venv_python();
    let s = Server::start();
    let mut c = s.client();
    let rsa = include_str!("fixtures/rsa2048.pem");
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("rsa")
        .arg("RS256")
        .arg(rsa)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("pss")
        .arg("PS256")
        .arg(rsa)
        .query(&mut c)
        .unwrap();
    let mut kids = vec![("rsa".to_string(), "RS256"), ("pss".to_string(), "PS256")];
    for alg in ["HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA"] {
        kids.push((
            cmd("JWT.KEY")
                .arg("GENERATE")
                .arg(alg)
                .query(&mut c)
                .unwrap(),
            alg,
        ));
    }
    let jwks: String = cmd("JWT.JWKS").query(&mut c).unwrap();
    let mut ours = vec![];
    let mut keys = vec![];
    for (kid, alg) in &kids {
        let token = sign(&mut c, &[&format!("us-{alg}"), "KEY", kid, "EXPIRES", "5m"]);
        let (_, _, material): (String, String, Vec<u8>) =
            cmd("JWT.KEY").arg("EXPORT").arg(kid).query(&mut c).unwrap();
        let material = if alg.starts_with("HS") {
            b64_std(&exported_secret(&material))
        } else {
            b64_std(&material)
        };
        let secret = if alg.starts_with("HS") {
            material.clone()
        } else {
            String::new()
        };
        ours.push(serde_json::json!({"token": token, "alg": alg, "secret": secret}));
        keys.push(serde_json::json!({"kid": kid, "alg": alg, "material": material}));
    }
    let text = "a-shared-secret-of-at-least-32-bytes!!";
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("txt")
        .arg("HS256")
        .arg(text)
        .query(&mut c)
        .unwrap();
    ours.push(serde_json::json!({"token": sign(&mut c, &["us-text", "KEY", "txt", "EXPIRES", "5m"]), "alg": "HS256", "secret": b64_std(text.as_bytes())}));
    keys.push(
        serde_json::json!({"kid": "txt", "alg": "HS256", "material": b64_std(text.as_bytes())}),
    );

    let job = serde_json::json!({"jwks": jwks, "ours": ours, "keys": keys});
    let mut py = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        result["verified"].as_array().unwrap().len(),
        ours.len(),
        "{result}"
    );
    for t in result["signed"].as_array().unwrap() {
        let p = json(&verify(&mut c, t.as_str().unwrap()).unwrap_or_else(|e| panic!("{t}: {e}")));
        assert!(p["sub"].as_str().unwrap().starts_with("py-"));
    }
    assert_eq!(result["signed"].as_array().unwrap().len(), keys.len());
}
