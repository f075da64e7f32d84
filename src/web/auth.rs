//! Who may use the dashboard: a token in the address iteratr printed, exchanged once for an
//! HttpOnly, SameSite=Strict cookie; or `Authorization: Bearer TOKEN` from scripts. The control
//! token may send ops; a view-only token sees and is refused every op. A POST that carries the
//! cookie must come from the dashboard's own origin; requests to a loopback server must name it
//! in `Host` (no DNS rebinding).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::secret::same;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Everything: see, and send ops.
    Control,
    /// See only.
    View,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Control => "control",
            Role::View => "view",
        }
    }
}

/// The tokens of one server and what its requests must name.
pub(crate) struct Access {
    pub(crate) token: String,
    pub(crate) view_token: Option<String>,
    /// The cookie's name: one per port, since browsers share cookies across a host's ports.
    pub(crate) cookie: String,
    /// The `Host` values a request may carry (none: any, for `--listen`).
    pub(crate) hosts: Option<Vec<String>>,
}

impl Access {
    pub(crate) fn role_of(&self, presented: &str) -> Option<Role> {
        if same(presented.as_bytes(), self.token.as_bytes()) {
            return Some(Role::Control);
        }
        match &self.view_token {
            Some(view) if same(presented.as_bytes(), view.as_bytes()) => Some(Role::View),
            _ => None,
        }
    }

    fn cookie_token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }

    /// The role of the request's cookie, or its bearer token (and whether it was the cookie).
    pub(crate) fn identify(&self, headers: &HeaderMap) -> Option<(Role, bool)> {
        if let Some(role) = self.cookie_token(headers).and_then(|t| self.role_of(t)) {
            return Some((role, true));
        }
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.role_of(t.trim()))
            .map(|role| (role, false))
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    pub(crate) fn set_cookie(&self, token: &str) -> String {
        format!(
            "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000",
            self.cookie
        )
    }

    pub(crate) fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(hosts) = &self.hosts else {
            return true;
        };
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(h)))
    }
}

/// The origin the browser must send with a POST: the server's own, as the `Host` names it.
fn same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// A refusal in the API's shape: `{"error": "..."}`.
pub(crate) fn refuse(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// In front of `/api/`: a known token (401 otherwise, with `WWW-Authenticate`), the right `Host`,
/// and for a POST the control token and, with the cookie, the dashboard's own `Origin`.
pub(crate) async fn guard(
    State(access): State<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !access.host_allowed(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this server answers only to the address it printed",
        );
    }
    let Some((role, by_cookie)) = access.identify(headers) else {
        let mut refused = refuse(
            StatusCode::UNAUTHORIZED,
            "no valid token: open the address `iteratr web` printed, or send `Authorization: Bearer TOKEN`",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"iteratr\""),
        );
        return refused;
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if role != Role::Control {
            return refuse(
                StatusCode::FORBIDDEN,
                "this is a view-only token: it can see the sessions but not steer them",
            );
        }
        if (by_cookie || headers.contains_key(header::ORIGIN)) && !same_origin(headers) {
            tracing::warn!(origin = ?headers.get(header::ORIGIN), "refused a dashboard POST from another origin");
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: the request comes from another origin than the dashboard",
            );
        }
    }
    request.extensions_mut().insert(role);
    next.run(request).await
}

/// Headers on every answer: what the page may load and run (its own scripts and styles only,
/// nothing inline), no sniffing, no framing, no referrer.
pub(crate) async fn harden(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access {
            token: "c".repeat(32),
            view_token: Some("v".repeat(32)),
            cookie: "iteratr_7177".into(),
            hosts: Some(vec!["127.0.0.1:7177".into()]),
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn cookies_and_bearer_tokens_name_a_role() {
        let a = access();
        let cookie = format!("other=1; iteratr_7177={}", "c".repeat(32));
        assert_eq!(
            a.identify(&headers(&[(header::COOKIE, &cookie)])),
            Some((Role::Control, true))
        );
        let bearer = format!("Bearer {}", "v".repeat(32));
        assert_eq!(
            a.identify(&headers(&[(header::AUTHORIZATION, &bearer)])),
            Some((Role::View, false))
        );
        // Another port's cookie, a wrong token, a prefix of the right one: nobody.
        let other_port = format!("iteratr_7178={}", "c".repeat(32));
        assert_eq!(a.identify(&headers(&[(header::COOKIE, &other_port)])), None);
        assert_eq!(
            a.identify(&headers(&[(header::AUTHORIZATION, "Bearer cccc")])),
            None
        );
        assert_eq!(a.identify(&HeaderMap::new()), None);
    }

    #[test]
    fn a_post_must_come_from_the_dashboards_origin() {
        let own = headers(&[
            (header::HOST, "127.0.0.1:7177"),
            (header::ORIGIN, "http://127.0.0.1:7177"),
        ]);
        assert!(same_origin(&own));
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:7177"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(!same_origin(&foreign));
        let other_port = headers(&[
            (header::HOST, "127.0.0.1:7177"),
            (header::ORIGIN, "http://127.0.0.1:8000"),
        ]);
        assert!(!same_origin(&other_port));
        assert!(!same_origin(&headers(&[(header::HOST, "127.0.0.1:7177")])));
        let a = access();
        assert!(a.host_allowed(&own));
        assert!(!a.host_allowed(&headers(&[(header::HOST, "rebound.example:7177")])));
    }
}
