//! OpenAPI from the code: every route is registered through [`ApiRouter::route`] together with
//! the documentation of each method it serves, so the router and `/api/schema/` are built from
//! the same table and cannot drift apart. Component schemas come from `utoipa::ToSchema`
//! derives on the domain and request/response types.

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, RefOr, ResponseBuilder, Schema, Type,
};

use crate::state::AppState;

/// Documentation of one method of one route.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    pub summary: String,
    /// Component schema name of the JSON body, if any.
    pub body: Option<&'static str>,
    /// Success status and the component schema of its body (None: no body / free-form).
    pub status: u16,
    pub response: Option<&'static str>,
    /// Whether a bearer token is required.
    pub auth: bool,
}

/// Starts the documentation of a method: authenticated, `200`, no body.
pub fn op(method: Method, summary: impl Into<String>) -> Op {
    Op {
        method,
        summary: summary.into(),
        body: None,
        status: 200,
        response: None,
        auth: true,
    }
}

impl Op {
    /// The JSON body's schema.
    pub fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }

    /// The success status and its body's schema.
    pub fn returns(mut self, status: u16, schema: &'static str) -> Self {
        self.status = status;
        self.response = Some(schema);
        self
    }

    /// The success status without a schema.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// No authentication needed.
    pub fn public(mut self) -> Self {
        self.auth = false;
        self
    }
}

/// A documented route: path template and its methods.
#[derive(Debug, Clone)]
pub struct Documented {
    pub path: String,
    pub ops: Vec<Op>,
}

/// A router that records the documentation of every route it serves.
#[derive(Default)]
pub struct ApiRouter {
    router: Router<AppState>,
    docs: Vec<Documented>,
}

impl ApiRouter {
    /// An empty router.
    pub fn new() -> Self {
        ApiRouter {
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    /// Serves `handlers` at `path`, documented by `ops` (one per method served).
    pub fn route(mut self, path: &str, handlers: MethodRouter<AppState>, ops: Vec<Op>) -> Self {
        self.router = self.router.route(path, handlers);
        self.docs.push(Documented {
            path: path.to_owned(),
            ops,
        });
        self
    }

    /// Adds another router's routes.
    pub fn merge(mut self, other: ApiRouter) -> Self {
        self.router = self.router.merge(other.router);
        self.docs.extend(other.docs);
        self
    }

    /// The axum router and the documentation table.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Documented>) {
        (self.router, self.docs)
    }
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn json_ref(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name(name))))
        .build()
}

fn tag_of(path: &str) -> String {
    let rest = path
        .trim_start_matches("/api/v1/")
        .trim_start_matches("tenants/{tenant_slug}/");
    let first = rest.split('/').next().unwrap_or("api");
    if path.starts_with("/api/v1/auth/") {
        "auth".into()
    } else if first.is_empty() {
        "api".into()
    } else {
        first.into()
    }
}

/// The OpenAPI 3 document of `docs` with the component schemas registered by `components`.
pub fn openapi(docs: &[Documented], components: ComponentsBuilder) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for d in docs {
        let params: Vec<_> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "tenant_slug" {
                    ObjectBuilder::new().schema_type(Type::String).build()
                } else {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Uuid,
                        )))
                        .build()
                };
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .schema(Some(RefOr::T(Schema::Object(schema))))
                    .build()
            })
            .collect();
        for o in &d.ops {
            let mut ok = ResponseBuilder::new().description(o.summary.clone());
            if let Some(r) = o.response {
                ok = ok.content("application/json", json_ref(r));
            }
            let err = ResponseBuilder::new()
                .description("Error: `{code, detail}` with a 4xx status")
                .content("application/json", json_ref("ErrorBody"));
            let mut b = OperationBuilder::new()
                .summary(Some(o.summary.clone()))
                .tag(tag_of(&d.path))
                .operation_id(Some(format!(
                    "{}_{}",
                    o.method.as_str().to_lowercase(),
                    d.path.replace(['/', '{', '}', '-'], "_").trim_matches('_')
                )))
                .parameters(Some(params.clone()))
                .response(o.status.to_string(), ok.build())
                .response("default", err.build());
            if let Some(body) = o.body {
                b = b.request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", json_ref(body))
                        .required(Some(utoipa::openapi::Required::True))
                        .build(),
                ));
            }
            if o.auth {
                b = b.security(SecurityRequirement::new("bearerAuth", Vec::<String>::new()));
            }
            paths = paths.path(
                d.path.clone(),
                PathItem::new(http_method(&o.method), b.build()),
            );
        }
    }
    let components = components
        .security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("SmartQueue API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Multi-tenant queue management. Errors are `{code, detail}`; ids are UUIDs; times RFC 3339 UTC."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The interactive documentation page: lists every operation of `/api/schema/`, and sends
/// requests with your token from the browser. Self-contained (no CDN), so it works offline.
pub const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SmartQueue API</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1b2733}
header{background:#0b3d5c;color:#fff;padding:1rem 2rem}header input{width:28rem;padding:.3rem}
main{padding:1rem 2rem}details{background:#fff;margin:.4rem 0;border-radius:6px;padding:.5rem 1rem}
summary{cursor:pointer;font-family:monospace}.m{display:inline-block;width:4.5rem;font-weight:bold}
.GET{color:#1565c0}.POST{color:#2e7d32}.PATCH,.PUT{color:#ef6c00}.DELETE{color:#c62828}
textarea{width:100%;height:6rem;font-family:monospace}pre{background:#eef2f5;padding:.5rem;overflow:auto;max-height:20rem}
</style></head><body>
<header><h1>SmartQueue API</h1>Bearer token: <input id="token" placeholder="paste an access token from POST /api/v1/auth/jwt/token/"></header>
<main id="ops">Loading /api/schema/ …</main>
<script>
const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
fetch('/api/schema/').then(r => r.json()).then(spec => {
  const main = document.getElementById('ops'); main.innerHTML = '';
  for (const [path, item] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(item)) {
    const M = method.toUpperCase(), d = document.createElement('details');
    const params = (op.parameters || []).map(p => `<label>${esc(p.name)} <input data-p="${esc(p.name)}"></label> `).join('');
    const body = op.requestBody ? `<textarea placeholder="JSON body (${esc(op.requestBody.content['application/json'].schema.$ref.split('/').pop())})"></textarea>` : '';
    d.innerHTML = `<summary><span class="m ${M}">${M}</span>${esc(path)} — ${esc(op.summary || '')}</summary>${params}${body}<button>Send</button><pre></pre>`;
    d.querySelector('button').onclick = async () => {
      let url = path; d.querySelectorAll('[data-p]').forEach(i => url = url.replace('{' + i.dataset.p + '}', encodeURIComponent(i.value)));
      const headers = {'Content-Type': 'application/json'}, t = document.getElementById('token').value.trim();
      if (t) headers.Authorization = 'Bearer ' + t;
      const ta = d.querySelector('textarea'), r = await fetch(url, {method: M, headers, body: ta && ta.value ? ta.value : undefined});
      d.querySelector('pre').textContent = r.status + ' ' + r.statusText + '\n' + await r.text();
    };
    main.appendChild(d);
  }
});
</script></body></html>"#;

/// A documented JSON object whose shape is given in prose (answers assembled from several
/// entities, such as a display's board).
pub fn free(desc: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Object)
        .description(Some(desc))
        .build()
}
