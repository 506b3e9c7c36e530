//! Agent tokens: `sw1:NAME:SECRET`, 256 random bits of secret, stored only
//! as a SHA-256 digest and compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "sw1:";

/// A freshly made token (shown once) and the digest to store.
#[derive(Debug)]
pub struct NewToken {
    pub token: String,
    pub digest: [u8; 32],
}

/// Makes a token for `agent` from the OS random source.
pub fn generate(agent: &str) -> anyhow::Result<NewToken> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let token = format!("{PREFIX}{agent}:{}", hex::encode(secret));
    let digest = digest(&token);
    Ok(NewToken { token, digest })
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The agent name a presented token claims, if it is shaped like a token.
pub fn claimed_agent(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (name, secret) = rest.rsplit_once(':')?;
    (shouwang_proto::valid_agent_name(name) && secret.len() == 64).then_some(name)
}

/// Whether `token` matches `stored` (constant time in the token's content).
pub fn verify(token: &str, stored: &[u8]) -> bool {
    let d = digest(token);
    stored.len() == d.len() && bool::from(d.ct_eq(stored))
}

/// Prefix of API (operator) tokens: `swa1:NAME:SECRET`.
pub const API_PREFIX: &str = "swa1:";

/// Makes an API token for `name`.
pub fn generate_api(name: &str) -> anyhow::Result<NewToken> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let token = format!("{API_PREFIX}{name}:{}", hex::encode(secret));
    let digest = digest(&token);
    Ok(NewToken { token, digest })
}

/// The name an API token claims.
pub fn claimed_api_name(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(API_PREFIX)?;
    let (name, secret) = rest.rsplit_once(':')?;
    (shouwang_proto::valid_agent_name(name) && secret.len() == 64).then_some(name)
}

/// Extracts the bearer token from an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = generate("gw-01.site").unwrap();
        assert_eq!(claimed_agent(&t.token), Some("gw-01.site"));
        assert!(verify(&t.token, &t.digest));
        let mut wrong = t.token.clone();
        wrong.pop();
        wrong.push('x');
        assert!(!verify(&wrong, &t.digest));
        assert!(!verify(&t.token, &t.digest[..31]));
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(generate("a").unwrap().token, generate("a").unwrap().token);
    }

    #[test]
    fn malformed_tokens_claim_nothing() {
        for t in [
            "",
            "sw1:",
            "sw1:a:short",
            "Bearer x",
            "sw2:a:0000",
            "sw1:bad name:x",
        ] {
            assert_eq!(claimed_agent(t), None, "{t}");
        }
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
