//! Headers every answer carries, in one place: every HTML page gets a strict
//! Content-Security-Policy, cannot be framed and sends no referrer; no answer is sniffed as
//! another type; answers that carry tokens are never cached.
//!
//! A page's policy allows exactly the inline `<script>` and `<style>` blocks of its *template* —
//! our own code, hashed (SHA-256) when the server starts, never the page as served — so a block
//! that got into a page any other way does not run. A page states its policy with
//! [`policy_for`]; an HTML answer that states none gets the strictest (no script, no style).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Answers that carry a token (sign-in, refresh, a device's claim of its pairing).
fn carries_tokens(path: &str) -> bool {
    path.starts_with("/api/v1/auth/jwt/")
        || (path.starts_with("/api/v1/public/devices/pairings/") && path.ends_with("/claim/"))
}

/// The `'sha256-…'` sources of every `<tag>…</tag>` block in `html`.
fn inline_hashes(html: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(body_start) = after.find('>').map(|i| i + 1) else {
            break;
        };
        let Some(body_len) = after[body_start..].find(&close) else {
            break;
        };
        let body = &after[body_start..body_start + body_len];
        let digest = Sha256::digest(body.as_bytes());
        out.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &after[body_start + body_len + close.len()..];
    }
    out
}

/// The policy of one page: its own inline blocks, same-origin fetches, nothing else.
pub fn page_policy(html: &str) -> String {
    let sources = |tag: &str| {
        let hashes = inline_hashes(html, tag);
        if hashes.is_empty() {
            "'none'".to_owned()
        } else {
            hashes.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        sources("script"),
        sources("style")
    )
}

/// The policy of a page whose template is `template` (see the module's documentation).
pub fn policy_for(template: &str) -> HeaderValue {
    HeaderValue::from_str(&page_policy(template))
        .unwrap_or_else(|_| HeaderValue::from_static(STRICTEST))
}

/// No script, no style, nothing loaded, not framed.
const STRICTEST: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the headers (see the module's documentation).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let tokens = carries_tokens(req.uri().path());
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if tokens {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(STRICTEST),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_may_run_exactly_its_own_inline_blocks() {
        let page = "<style>b{}</style><script>go()</script><script type=\"module\">x()</script>";
        let p = page_policy(page);
        assert_eq!(inline_hashes(page, "script").len(), 2);
        assert_eq!(inline_hashes(page, "style").len(), 1);
        assert!(!p.contains("unsafe-inline") && p.contains("frame-ancestors 'none'"));
        // A changed script is another hash: an injected block does not match.
        assert_ne!(
            inline_hashes("<script>go()</script>", "script"),
            inline_hashes("<script>evil()</script>", "script")
        );
        assert!(page_policy("<p>no code</p>").contains("script-src 'none'"));
    }
}
