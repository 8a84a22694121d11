//! HTTP client of the SmartQueue REST API (feature `client`).
//!
//! Apps never build requests themselves: they call this client, which maps the API's
//! `{code, detail}` errors to [`ApiError`] so UIs can decide by code and show the detail.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::domain::User;

/// An error from the API or from the network.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error body.
    #[error("{detail}")]
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    /// The server could not be reached or the answer could not be read.
    #[error("server unreachable: {0}")]
    Network(#[from] reqwest::Error),
}

impl ApiError {
    /// The machine-readable code (`network` when the server was not reached).
    pub fn code(&self) -> &str {
        match self {
            ApiError::Api { code, .. } => code,
            ApiError::Network(_) => "network",
        }
    }
}

/// `POST /api/v1/auth/jwt/token/` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    pub user: User,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    detail: String,
}

/// A client bound to one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: String,
    http: reqwest::Client,
    access_token: Option<String>,
}

impl ApiClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8000`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        ApiClient {
            base_url,
            http,
            access_token: None,
        }
    }

    /// Uses `token` as the bearer token of later requests.
    pub fn set_access_token(&mut self, token: Option<String>) {
        self.access_token = token;
    }

    /// Signs in and keeps the access token.
    pub async fn login(&mut self, email: &str, password: &str) -> Result<TokenPair, ApiError> {
        let body = serde_json::json!({ "email": email, "password": password });
        let pair: TokenPair = self.post("/api/v1/auth/jwt/token/", &body).await?;
        self.access_token = Some(pair.access.clone());
        Ok(pair)
    }

    /// `GET path` decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let req = self.http.get(format!("{}{path}", self.base_url));
        self.send(req).await
    }

    /// `POST path` with a JSON body, decoded as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        let req = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body);
        self.send(req).await
    }

    /// `method path` with an optional JSON body and `Idempotency-Key` (for outbox replays).
    pub async fn send_with_key<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        if let Some(token) = &self.access_token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if status.is_success() {
            // 204 No Content (a deletion) reads as JSON null.
            let bytes = resp.bytes().await?;
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|e| ApiError::Api {
                status: status.as_u16(),
                code: "bad_response".into(),
                detail: format!("the server's answer could not be read: {e}"),
            });
        }
        let code = status.as_u16();
        let text = resp.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => ApiError::Api {
                status: code,
                code: b.code,
                detail: b.detail,
            },
            Err(_) => ApiError::Api {
                status: code,
                code: "http_error".into(),
                detail: format!("the server answered {status}"),
            },
        })
    }
}
