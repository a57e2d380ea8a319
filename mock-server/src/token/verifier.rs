//! Checking an access token the way Exchange Online does before it looks at mailboxes:
//! signature by one of our published keys (RS256 only), `exp`/`nbf` against our clock,
//! issuer of a known tenant, audience one of Exchange Online's.
//!
//! Returns a [`Principal`] or a [`Rejection`] that says precisely why, for the journal.

use super::jws::{self, malformed_time_claim, numeric_date};
use super::Authority;
use crate::directory::resources::{self, EXCHANGE_ONLINE, MICROSOFT_GRAPH};
use crate::directory::Directory;
use time::OffsetDateTime;

/// Tokens longer than this are refused (Exchange limits the SASL line to 4096 bytes,
/// so a longer token could never arrive over IMAP; this bounds work on hostile input).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    /// The client application (`appid`).
    pub app_id: String,
    /// App tokens: the enterprise application object id; delegated: the user's object id.
    pub oid: String,
    pub audience: String,
    pub expires: OffsetDateTime,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// Client credentials: application permissions in `roles`.
    App { roles: Vec<String> },
    /// A signed-in user: delegated permissions in `scp`.
    Delegated { scopes: Vec<String>, upn: String },
}

/// Why a token was refused, and how to fix it (journal only; the wire says less).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub fix: Option<String>,
}

impl Rejection {
    fn new(reason: impl Into<String>, fix: Option<&str>) -> Self {
        Self {
            reason: reason.into(),
            fix: fix.map(str::to_string),
        }
    }
}

/// Check a bearer token. `now` comes from the server's clock.
pub fn verify(
    token: &str,
    authority: &Authority,
    directory: &Directory,
    now: OffsetDateTime,
) -> Result<Principal, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::new(format!("the token is {} bytes long", token.len()), None));
    }
    let jwt = jws::split(token).map_err(|e| {
        Rejection::new(
            format!("the bearer value is not a JWT ({e})"),
            Some("send the access_token from the token endpoint, exactly once base64-encoded inside XOAUTH2"),
        )
    })?;
    let alg = jwt.header.get("alg").and_then(|v| v.as_str()).unwrap_or("");
    if alg != "RS256" {
        return Err(Rejection::new(
            format!("the token's alg is {alg:?}; Exchange accepts RS256 only"),
            None,
        ));
    }
    if jwt.header.contains_key("crit") {
        return Err(Rejection::new(
            "the token header has a crit parameter, which Exchange does not understand",
            None,
        ));
    }
    let kid = jwt
        .header
        .get("kid")
        .or_else(|| jwt.header.get("x5t"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let key = authority.key(kid).ok_or_else(|| {
        Rejection::new(
            format!("the token's kid {kid:?} is not one of the identity platform's published keys"),
            Some("use a token issued by this tenant's token endpoint"),
        )
    })?;
    if !jws::verify_rsa(
        "RS256",
        &key.modulus,
        &key.exponent,
        jwt.signing_input.as_bytes(),
        &jwt.signature,
    ) {
        return Err(Rejection::new(
            "the token's signature does not verify (tampered or truncated)",
            None,
        ));
    }

    let claims = &jwt.payload;
    let s = |name: &str| claims.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if let Some(why) = malformed_time_claim(claims) {
        return Err(Rejection::new(
            format!("{why}; Exchange refuses such a token"),
            Some("use the access_token exactly as the token endpoint issued it"),
        ));
    }
    let exp = numeric_date(claims.get("exp")).ok_or_else(|| Rejection::new("the token has no exp claim", None))?;
    let expires = OffsetDateTime::from_unix_timestamp(exp as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    if now >= expires {
        return Err(Rejection::new(
            format!("the token expired at {expires} (server time {now})"),
            Some("get a new token before the old one expires (refresh about 5 minutes early)"),
        ));
    }
    if let Some(nbf) = numeric_date(claims.get("nbf")) {
        if (now.unix_timestamp() as f64) < nbf {
            return Err(Rejection::new(
                format!("the token is not valid before {nbf} (nbf)"),
                None,
            ));
        }
    }

    let iss = s("iss");
    let tid = s("tid");
    let tenant = iss
        .strip_prefix("https://sts.windows.net/")
        .and_then(|t| t.strip_suffix('/'))
        .and_then(|t| directory.tenant_by_id(t))
        .ok_or_else(|| Rejection::new(format!("the issuer {iss:?} is not a tenant Exchange serves"), None))?;
    if !tid.eq_ignore_ascii_case(&tenant.id) {
        return Err(Rejection::new(
            format!("tid {tid:?} does not match the issuer's tenant {}", tenant.id),
            None,
        ));
    }

    let aud = s("aud");
    match resources::find(aud) {
        Some(r) if r == &EXCHANGE_ONLINE => {}
        Some(r) if r == &MICROSOFT_GRAPH => {
            return Err(Rejection::new(
                format!("the token's audience is Microsoft Graph ({aud}), not Exchange Online"),
                Some("request scope https://outlook.office365.com/.default (app) or https://outlook.office.com/IMAP.AccessAsUser.All (delegated), not a graph.microsoft.com scope"),
            ))
        }
        _ => {
            return Err(Rejection::new(
                format!("the token's audience {aud:?} is not Exchange Online"),
                Some("request a token for https://outlook.office365.com"),
            ))
        }
    }

    let strings = |name: &str| -> Vec<String> {
        match claims.get(name) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        }
    };
    let kind = if claims.contains_key("scp") {
        let upn = [s("upn"), s("unique_name"), s("preferred_username")]
            .into_iter()
            .find(|v| !v.is_empty())
            .unwrap_or_default()
            .to_string();
        PrincipalKind::Delegated {
            scopes: strings("scp"),
            upn,
        }
    } else {
        PrincipalKind::App {
            roles: strings("roles"),
        }
    };
    Ok(Principal {
        tenant_id: tenant.id.clone(),
        app_id: s("appid").to_string(),
        oid: s("oid").to_ascii_lowercase(),
        audience: aud.to_string(),
        expires,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;
    use crate::identity::issue::issue;
    use crate::identity::{EndpointVersion, IdentityConfig, TokenRequest};
    use crate::token::jws::b64url;
    use time::Duration;

    fn token_for(d: &Directory, a: &Authority, nn: u32, secret: &str, scope: &str, now: OffsetDateTime) -> String {
        let client_id = format!("00000000-0000-4000-8000-00000000a{nn:03}");
        let req = TokenRequest::from_pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", secret),
            ("scope", scope),
        ]);
        issue(
            d,
            a,
            EndpointVersion::V2,
            "contoso.com",
            &req,
            now,
            &IdentityConfig::default(),
        )
        .expect("issued")
        .access_token
    }

    fn with_header(token: &str, header: &str) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[0] = b64url(header.as_bytes());
        parts.join(".")
    }

    #[test]
    fn accepts_our_tokens_and_refuses_each_attack() {
        let d = demo_tenant().expect("demo");
        let a = Authority::new(&d.signing_keys).expect("authority");
        let now = OffsetDateTime::now_utc();
        let good = token_for(
            &d,
            &a,
            1,
            "poller-secret-value",
            "https://outlook.office365.com/.default",
            now,
        );
        let p = verify(&good, &a, &d, now).expect("valid");
        assert_eq!(p.oid, "00000000-0000-4000-8000-00000000c001");
        assert!(matches!(&p.kind, PrincipalKind::App { roles } if roles.len() == 3));

        let reason = |t: &str, at: OffsetDateTime| verify(t, &a, &d, at).expect_err("refused").reason;
        let kid = a.active().kid.clone();
        assert!(reason("not-a-jwt", now).contains("not a JWT"));
        assert!(reason(&with_header(&good, r#"{"alg":"none"}"#), now).contains("RS256 only"));
        assert!(
            reason(&with_header(&good, &format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#)), now).contains("RS256 only")
        );
        assert!(reason(&with_header(&good, r#"{"alg":"RS256","kid":"injected"}"#), now).contains("not one of"));
        assert!(reason(
            &with_header(&good, &format!(r#"{{"alg":"RS256","kid":"{kid}","crit":["x"]}}"#)),
            now
        )
        .contains("crit"));
        // Same header, re-encoded: the signed bytes change, so the signature fails.
        assert!(reason(
            &with_header(&good, &format!(r#"{{"typ":"JWT","alg":"RS256","kid":"{kid}"}}"#)),
            now
        )
        .contains("signature"));
        // Tampered claims and a stripped signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64url(br#"{"aud":"https://outlook.office365.com","roles":["IMAP.AccessAsApp"]}"#);
        parts[1] = &forged;
        assert!(reason(&parts.join("."), now).contains("signature"));
        let stripped = format!(
            "{}.{}.",
            good.split('.').next().unwrap_or(""),
            good.split('.').nth(1).unwrap_or("")
        );
        assert!(reason(&stripped, now).contains("signature"));
        // Time.
        assert!(reason(&good, now + Duration::hours(2)).contains("expired"));
        assert!(reason(&good, now - Duration::hours(1)).contains("not valid before"));
        // Audience.
        let graph = token_for(
            &d,
            &a,
            1,
            "poller-secret-value",
            "https://graph.microsoft.com/.default",
            now,
        );
        let r = verify(&graph, &a, &d, now).expect_err("graph");
        assert!(r.reason.contains("Microsoft Graph"), "{}", r.reason);
        assert!(r.fix.expect("fix").contains("outlook.office365.com/.default"));
        // Oversized.
        assert!(reason(&"a".repeat(MAX_TOKEN_BYTES + 1), now).contains("bytes long"));
        // A directory that does not know the issuing tenant.
        let mut other = d.clone();
        other.tenants.retain(|t| t.display_name != "Contoso");
        assert!(verify(&good, &a, &other, now)
            .expect_err("unknown iss")
            .reason
            .contains("issuer"));
    }

    #[test]
    fn time_claims_that_are_not_numbers_are_refused_by_name() {
        let d = demo_tenant().expect("demo");
        let a = Authority::new(&d.signing_keys).expect("authority");
        let now = OffsetDateTime::now_utc();
        let good = token_for(
            &d,
            &a,
            1,
            "poller-secret-value",
            "https://outlook.office365.com/.default",
            now,
        );
        let claims = jws::split(&good).expect("jwt").payload;
        for (name, value) in [
            ("nbf", serde_json::json!("0")),
            ("nbf", serde_json::json!([0])),
            ("iat", serde_json::json!("0")),
            ("exp", serde_json::json!(["9999999999"])),
        ] {
            let mut c = claims.clone();
            c.insert(name.into(), value.clone());
            let t = a.sign(&c, None).expect("signed");
            let r = verify(&t, &a, &d, now).expect_err("refused");
            assert!(
                r.reason.starts_with(&format!("the {name} claim is")),
                "{name}={value}: {}",
                r.reason
            );
        }
    }
}
