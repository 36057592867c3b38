//! OTLP ingest tokens: what a job's Claude sends back with its telemetry when it exports
//! straight to agenticore's own receiver and API keys are on.
//!
//! A token is `{job uuid}.{hex HMAC-SHA256}`: the MAC of the job id under a key derived from
//! an API key (its SHA-256 digest, which is all the server keeps). It lets that one child post
//! to `/v1/*` without ever seeing an API key, and ties what it posts to its own job: rows get
//! the token's job id whatever the payload claims. It opens no other route. Any node with the
//! same API keys verifies it; rotating the keys revokes every token.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The request header that carries it (sent by Claude through `OTEL_EXPORTER_OTLP_HEADERS`).
pub const HEADER: &str = "x-agenticore-job-token";

/// What an API key is reduced to before it is kept or used.
pub type KeyDigest = [u8; 32];

const CONTEXT: &[u8] = b"agenticore otlp ingest token v1:";

type HmacSha256 = Hmac<Sha256>;

pub fn key_digest(api_key: &[u8]) -> KeyDigest {
    Sha256::digest(api_key).into()
}

fn mac(key: &KeyDigest, job: Uuid) -> HmacSha256 {
    // A 32-byte key is always accepted by HMAC.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(CONTEXT);
    m.update(job.as_hyphenated().to_string().as_bytes());
    m
}

/// The token of `job` under `key`.
pub fn sign(key: &KeyDigest, job: Uuid) -> String {
    let tag = mac(key, job).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{job}.{hex}")
}

/// The token of `job` that a server with `api_keys` accepts: signed with the first key (the
/// one every node of a cluster shares while keys rotate). `None` when keys are off.
pub fn for_first_key(api_keys: &[String], job: Uuid) -> Option<String> {
    api_keys
        .iter()
        .map(|k| k.trim())
        .find(|k| !k.is_empty())
        .map(|k| sign(&key_digest(k.as_bytes()), job))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The job of `token` if one of `keys` signed it (compared in constant time).
pub fn verify(keys: &[KeyDigest], token: &str) -> Option<Uuid> {
    let (job, tag) = token.trim().split_once('.')?;
    let job = Uuid::parse_str(job).ok()?;
    let tag = unhex(tag)?;
    let mut ok = false;
    for k in keys {
        // `verify_slice` compares in constant time; every key is tried.
        ok |= mac(k, job).verify_slice(&tag).is_ok();
    }
    ok.then_some(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_under_its_key_only_and_names_its_job() {
        let k = key_digest(b"secret-1");
        let other = key_digest(b"secret-2");
        let job = Uuid::new_v4();
        let t = sign(&k, job);
        assert!(!t.contains("secret"));
        assert_eq!(verify(&[other, k], &t), Some(job), "any configured key");
        assert_eq!(verify(&[other], &t), None);
        let forged = format!(
            "{}.{}",
            Uuid::new_v4(),
            t.split_once('.').map_or("", |p| p.1)
        );
        assert_eq!(verify(&[k], &forged), None, "a tag is bound to its job");
        for junk in ["", ".", "x.y", &format!("{job}.zz"), &format!("{job}.abc")] {
            assert_eq!(verify(&[k], junk), None, "{junk:?}");
        }
    }
}
