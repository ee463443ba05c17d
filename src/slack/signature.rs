//! Slack request signing (v0): `HMAC-SHA256(signing_secret, "v0:{timestamp}:{raw body}")`.
//!
//! slack-morphism ships a verifier too, but it reads the wall clock inside and
//! offers no way to check Slack's published vectors at their fixed time; this one
//! takes the clock as an argument and compares in constant time with `hmac`.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far a request's timestamp may be from our clock, as Slack's SDKs allow.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Why a request was refused. Logged, never sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Signature header is missing")]
    MissingSignature,
    #[error("the X-Slack-Request-Timestamp header is missing")]
    MissingTimestamp,
    #[error("the X-Slack-Request-Timestamp header is not a Unix time")]
    MalformedTimestamp,
    #[error("the request timestamp is more than five minutes from our clock")]
    StaleTimestamp,
    #[error("the signature is not a v0 hex signature")]
    MalformedSignature,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `X-Slack-Signature` against the raw body and the signing secret.
#[derive(Clone)]
pub struct SignatureVerifier {
    secret: SecretString,
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureVerifier { secret: [redacted] }")
    }
}

impl SignatureVerifier {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    /// Verifies a request as received now.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        self.verify_at(timestamp, signature, body, unix_now())
    }

    /// Verifies a request as if received at `now` (Unix seconds).
    pub fn verify_at(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let expected = Self::check_headers_at(timestamp, signature, now)?;
        let timestamp = timestamp.unwrap_or_default();
        self.mac(timestamp, body)
            .verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// What can be refused from the headers alone, before the body is read: both
    /// present, the timestamp within five minutes of now, the signature v0 hex.
    pub fn check_headers(
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        Self::check_headers_at(timestamp, signature, unix_now()).map(drop)
    }

    /// The header checks as of `now`; the signature's bytes when they pass.
    fn check_headers_at(
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<Vec<u8>, SignatureError> {
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
        let signature = signature.ok_or(SignatureError::MissingSignature)?;
        let sent_at: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::MalformedTimestamp)?;
        if now.abs_diff(sent_at) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(SignatureError::StaleTimestamp);
        }
        signature
            .strip_prefix("v0=")
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .ok_or(SignatureError::MalformedSignature)
    }

    /// The `X-Slack-Signature` value Slack would send for this body and timestamp.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        format!(
            "v0={}",
            hex::encode(self.mac(timestamp, body).finalize().into_bytes())
        )
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.secret.expose_secret().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOCS_TIMESTAMP: &str = "1531420618";
    const DOCS_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOCS_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn docs_verifier() -> SignatureVerifier {
        SignatureVerifier::new(DOCS_SECRET.into())
    }

    #[test]
    fn slacks_published_example_is_accepted() {
        let verifier = docs_verifier();
        assert_eq!(
            verifier.sign(DOCS_TIMESTAMP, DOCS_BODY.as_bytes()),
            DOCS_SIGNATURE
        );
        assert_eq!(
            verifier.verify_at(
                Some(DOCS_TIMESTAMP),
                Some(DOCS_SIGNATURE),
                DOCS_BODY.as_bytes(),
                1_531_420_618
            ),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let body = format!("{DOCS_BODY}------");
        assert_eq!(
            docs_verifier().verify_at(
                Some(DOCS_TIMESTAMP),
                Some(DOCS_SIGNATURE),
                body.as_bytes(),
                1_531_420_618
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_just_outside_five_minutes_is_refused_either_way() {
        let verifier = docs_verifier();
        let check = |now| {
            verifier.verify_at(
                Some(DOCS_TIMESTAMP),
                Some(DOCS_SIGNATURE),
                DOCS_BODY.as_bytes(),
                now,
            )
        };
        assert_eq!(check(1_531_420_618 + 300), Ok(()));
        assert_eq!(
            check(1_531_420_618 + 301),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            check(1_531_420_618 - 301),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let verifier = docs_verifier();
        let body = DOCS_BODY.as_bytes();
        let now = 1_531_420_618;
        assert_eq!(
            verifier.verify_at(None, Some(DOCS_SIGNATURE), body, now),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verifier.verify_at(Some(DOCS_TIMESTAMP), None, body, now),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            verifier.verify_at(Some("yesterday"), Some(DOCS_SIGNATURE), body, now),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verifier.verify_at(Some(DOCS_TIMESTAMP), Some("v1=abcd"), body, now),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verifier.verify_at(Some(DOCS_TIMESTAMP), Some("v0=zz"), body, now),
            Err(SignatureError::MalformedSignature)
        );
    }

    #[test]
    fn every_vector_in_the_shared_contracts_is_judged_as_published() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/slack/signature_vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("signature vectors are in tests/data");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
        let vectors = doc["vectors"].as_array().expect("a vectors array");
        assert_eq!(vectors.len(), 5);
        for vector in vectors {
            let field = |name: &str| vector[name].as_str().expect(name).to_owned();
            let verifier = SignatureVerifier::new(field("signing_secret").into());
            let result = verifier.verify_at(
                Some(&field("timestamp")),
                Some(&field("expected_signature")),
                field("body").as_bytes(),
                vector["verify_at_unix_time"].as_i64().expect("a clock"),
            );
            assert_eq!(
                result.is_ok(),
                vector["valid"].as_bool().expect("valid"),
                "vector {}",
                field("id")
            );
        }
    }
}
