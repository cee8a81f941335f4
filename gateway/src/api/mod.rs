//! The local HTTP API on the box's LAN: JSON for supervisors' tools and the status page,
//! Prometheus metrics, and a health probe.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the status page (one HTML page; it asks for the token and polls the JSON) |
//! | `GET /health` | `{"ok":true,"gw"}` (no token: for load balancers and monitors) |
//! | `GET /api/status` | the status report (links, backlogs, drops) as on MQTT, plus `leds`: what each front-panel LED shows (`on`, `slow-blink`, `fast-blink`, `off`) |
//! | `GET /api/calls?number=&extension=&agent=&queue=&direction=&disposition=&since_ms=&before_ms=&before_id=&state=&limit=` | the call journal, newest first (`next` says where the next page starts; `extension` also finds the calls that only rang there; an unknown parameter or value is a 400 naming it); each row with `rang` |
//! | `GET /api/calls.csv?<the filters of /api/calls>&sep=` | the journal's calls the filters select, all of them, as CSV for a spreadsheet (UTF-8 with BOM, local times; `sep=semicolon` or `tab` instead of commas) |
//! | `GET /api/calls/{id}` | one call: its row, every event of it, the texts it caused, the other party's `contact` (name, company, note) and, while it is live, `control`: the PBX's handle the call commands take (`channel` for Asterisk, `extension` for a Slican) |
//! | `GET /api/events?since=&limit=` | the event log after a seq, as on MQTT |
//! | `GET /api/stream?since_ms=` | server-sent events for the page: a `snapshot` (status, live calls, agents with counts since `since_ms`, new quality samples, the last committed seq) at once and whenever something changed (at most twice a second), a comment every 15 s otherwise; at most 8 streams at once (503 past it) |
//! | `GET /api/quality` | each link's round-trip history of the last 24 h, classified (excellent, good, average, poor, disconnected) |
//! | `GET /api/agents?since_ms=` | each agent's latest state (the live panel), per-agent counts of calls started since then (default: the last 24 h) and the operator directory (`operators`: id, name, team) |
//! | `GET /api/report?from=&to=&service_level_s=` | the figures of the calls that started in `[from, to)` (Unix ms; default the last 24 h): totals and answer rate, per agent, per queue (service level within `service_level_s`, default 20), per hour, missed callers reached or still open |
//! | `GET /api/report.csv?from=&to=&service_level_s=&table=&sep=` | one table of the report as CSV: `totals`, `agents` (default), `queues` or `hours` |
//! | `GET /api/missed?from=&to=` | each outside caller missed in `[from, to)` (default the last 24 h): how often it tried, and the answered call that closed it (called back, or it called again), with the time it waited |
//! | `GET /api/contacts?search=&limit=` | the contact directory: number, name or company containing the text |
//! | `GET`/`PUT`/`DELETE /api/contacts/{number}` | one contact (any number form; stored as E.164); `PUT` `{"name","company"?,"note"?}` |
//! | `POST /api/contacts` `{"number","name","company"?,"note"?}` | adds or replaces a contact (201 when new) |
//! | `GET /api/operators` | the operator directory: each extension or agent id with its name and team |
//! | `PUT`/`DELETE /api/operators/{id}` | one operator; `PUT` `{"name","team"?}` (201 when new; 409 `too_many` past 2,000) |
//! | `POST /api/operators.csv` | imports a CSV (header: extension/agent/id, name, team; `,` or `;`): the report names each skipped line |
//! | `GET /api/sms?limit=` | the SMS queue, newest first |
//! | `POST /api/sms` `{"to","text","request_id"?}` | queues a text (the `sms.send` command: allowed in `[commands]`, deduped by request id) |
//! | `POST /api/commands/{name}` `{...}` | runs a command as MQTT `cmd/{name}` does (`call.originate`, `call.hangup`, `call.transfer`, `sms.send`, …: the `[commands]` allow-list, rate limit and request ids apply); 202 with the typed result, or the typed error (403 not allowed, 501 unsupported, 429 rate limited, 502 PBX not connected or silent, 422 refused or invalid) |
//! | `GET /metrics` | Prometheus text |
//!
//! Everything but `/` and `/health` needs `Authorization: Bearer <[api] token>`. No response carries
//! a secret.

mod contacts;
mod export;
mod live_control;
mod metrics;
mod operators;
pub mod server;
mod stream;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::commands::Origin;
use crate::config::{ApiConfig, Secret};
use crate::store::{CallQuery, CallSummary};
use crate::uplink::json::event_json;
use crate::uplink::SinkContext;

#[derive(Clone)]
struct Api {
    ctx: SinkContext,
    token: Secret,
    db_path: std::path::PathBuf,
    /// How numbers are matched with contacts.
    plan: crate::numbers::NumberPlan,
    /// Event streams open at once ([`stream::MAX_STREAMS`]).
    streams: Arc<tokio::sync::Semaphore>,
}

/// Binds the API's address; the server then runs until shutdown.
pub async fn bind(config: &ApiConfig) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.bind).await
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    ctx: SinkContext,
    db_path: std::path::PathBuf,
    plan: crate::numbers::NumberPlan,
) {
    let shutdown = ctx.shutdown.clone();
    let links = ctx.links.clone();
    let api = Arc::new(Api {
        ctx,
        token: config.token.unwrap_or_else(|| Secret::new("")),
        db_path,
        plan,
        streams: Arc::new(tokio::sync::Semaphore::new(stream::MAX_STREAMS)),
    });
    server::run(listener, router(api), links, shutdown).await;
}

fn router(api: Arc<Api>) -> Router {
    let protected = Router::new()
        .route("/api/status", get(status))
        .route("/api/calls", get(calls))
        .route("/api/calls.csv", get(export::calls))
        .route("/api/calls/{id}", get(call))
        .route("/api/events", get(events))
        .route("/api/agents", get(agents))
        .route("/api/report", get(report))
        .route("/api/report.csv", get(export::report))
        .route("/api/missed", get(missed))
        .route("/api/quality", get(quality))
        .route("/api/stream", get(stream::stream))
        .route("/api/sms", get(sms_list).post(sms_send))
        .route("/api/commands/{name}", axum::routing::post(command))
        .route(
            "/api/contacts",
            get(contacts::search).post(contacts::create),
        )
        .route(
            "/api/contacts/{number}",
            get(contacts::get_one)
                .put(contacts::put)
                .delete(contacts::delete),
        )
        .route("/api/operators", get(operators::list))
        .route("/api/operators.csv", axum::routing::post(operators::import))
        .route(
            "/api/operators/{id}",
            axum::routing::put(operators::put).delete(operators::delete),
        )
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(api.clone(), authorize));
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .merge(protected)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            time_limit,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(server::MAX_BODY))
        .with_state(api)
}

/// Ends a request that takes longer than [`server::REQUEST_TIMEOUT`] with `503 timeout`.
async fn time_limit(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(server::REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            api.ctx.links.count("api:timeouts");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; try again",
            )
        }
    }
}

async fn authorize(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let want = api.token.expose();
    if want.is_empty() || !constant_time_eq(given.as_bytes(), want.as_bytes()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <the [api] token>",
        );
    }
    next.run(request).await
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// A body that is not the JSON object a route takes: 400 (415 without the JSON content type),
/// with what was wrong.
fn bad_json(rejection: JsonRejection) -> Response {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, "bad_request", &rejection.body_text())
}

/// A query string a route does not take (an unknown parameter, a value of the wrong type):
/// 400 naming it.
fn bad_query(rejection: QueryRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        &rejection.body_text(),
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        &e.to_string(),
    )
}

/// The status page: static, no secret in it; the browser supplies the token.
async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("status.html"),
    )
        .into_response()
}

async fn quality(State(api): State<Arc<Api>>) -> Json<Value> {
    let history = api.ctx.links.quality.history();
    let now: serde_json::Map<String, Value> = history
        .iter()
        .filter_map(|(link, samples)| Some((link.clone(), json!(samples.last()?.quality))))
        .collect();
    Json(json!({ "now": now, "history": history }))
}

#[derive(serde::Deserialize)]
struct AgentsQuery {
    /// Counts cover calls started since then (the page sends the viewer's midnight).
    since_ms: Option<i64>,
}

async fn agents(State(api): State<Arc<Api>>, Query(q): Query<AgentsQuery>) -> Response {
    let since = q
        .since_ms
        .unwrap_or_else(|| crate::clock::now_ms() - 86_400_000);
    match agents_json(&api, since).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => internal(e),
    }
}

/// The panel: each agent's latest state, the counts of calls since `since`, the operators.
async fn agents_json(api: &Api, since: i64) -> Result<Value, String> {
    let operators = contacts::with_directory(api, |d| d.operators())
        .await
        .map_err(|e| e.to_string())?;
    let (now, counts) = api
        .ctx
        .reader
        .call(move |r| Ok((r.agents()?, r.agent_counts(since, i64::MAX)?)))
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({ "agents": now, "counts": counts, "since_ms": since, "operators": operators }))
}

/// A period of calls: `[from, to)` in Unix ms (default: the day before `to`, which defaults
/// to now); `service_level_s` for the report's queues.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<i64>,
    to: Option<i64>,
    service_level_s: Option<u32>,
}

/// The service level most call centres are held to: answered within 20 s.
const SERVICE_LEVEL_S: u32 = 20;

/// `(from, to, service level)` of a period query, or the 400 that says what is wrong.
fn period(
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<(i64, i64, u32), Box<Response>> {
    let Query(q) = query.map_err(|rejection| Box::new(bad_query(rejection)))?;
    let to = q.to.unwrap_or_else(crate::clock::now_ms);
    let from = q.from.unwrap_or_else(|| to.saturating_sub(86_400_000));
    if from >= to {
        let why = format!("from ({from}) must be before to ({to})");
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &why,
        )));
    }
    Ok((from, to, q.service_level_s.unwrap_or(SERVICE_LEVEL_S)))
}

async fn report(
    State(api): State<Arc<Api>>,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Response {
    let (from, to, level) = match period(query) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let plan = api.plan.clone();
    match api
        .ctx
        .reader
        .call(move |r| r.report(from, to, level, &plan))
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(e) => internal(e),
    }
}

async fn missed(
    State(api): State<Arc<Api>>,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Response {
    let (from, to, _) = match period(query) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let plan = api.plan.clone();
    match api
        .ctx
        .reader
        .call(move |r| r.missed_callers(from, to, &plan))
        .await
    {
        Ok(callers) => {
            let open = callers.iter().filter(|c| c.callback.is_none()).count();
            Json(json!({ "from": from, "to": to, "open": open, "callers": callers }))
                .into_response()
        }
        Err(e) => internal(e),
    }
}

async fn health(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(json!({ "ok": true, "gw": api.ctx.gateway_id }))
}

async fn status(State(api): State<Arc<Api>>) -> Response {
    match status_json(&api).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => internal(e),
    }
}

/// The status report as on MQTT, plus what the front panel's LEDs show now.
async fn status_json(api: &Api) -> Result<Value, crate::store::StoreError> {
    let report = api.ctx.status().await?;
    let data_dir = api.db_path.parent().unwrap_or(std::path::Path::new("."));
    let fault = crate::health::panel::fault_reasons(report.dropped, report.quarantined, data_dir);
    let leds: serde_json::Map<String, Value> =
        crate::health::panel::patterns(&report.links, !fault.is_empty())
            .into_iter()
            .map(|(role, pattern)| (role.to_owned(), json!(pattern)))
            .collect();
    let mut body = json!(report);
    if let Some(fields) = body.as_object_mut() {
        fields.insert("leds".into(), Value::Object(leds));
        fields.insert("fault".into(), json!(fault));
    }
    Ok(body)
}

/// The calls going on now, their parties named from the directory.
async fn live_json(api: &Api) -> Result<Value, crate::store::StoreError> {
    let q = CallQuery {
        state: Some("live".into()),
        limit: 100,
        ..CallQuery::default()
    };
    let rows = api.ctx.reader.call(move |r| r.calls(&q)).await?;
    Ok(json!({ "calls": name_live_calls(api, rows).await }))
}

/// The journal, a page at a time: a full page says where the next one starts (`next`: the
/// `before_ms` and `before_id` to ask with).
async fn calls(
    State(api): State<Arc<Api>>,
    query: Result<Query<CallQuery>, QueryRejection>,
) -> Response {
    let mut q = match query.map_err(bad_query) {
        Ok(Query(q)) => q,
        Err(refused) => return refused,
    };
    if let Some(why) = q.invalid_value() {
        return error(StatusCode::BAD_REQUEST, "bad_request", &why);
    }
    if q.limit == 0 {
        q.limit = 100;
    }
    let page = q.limit.clamp(1, 500) as usize;
    let rows = match api.ctx.reader.call(move |r| r.calls(&q)).await {
        Ok(rows) => rows,
        Err(e) => return internal(e),
    };
    let next = (rows.len() == page)
        .then(|| rows.last())
        .flatten()
        .map(|last| json!({ "before_ms": last.started_ms, "before_id": last.call_id }));
    Json(json!({ "calls": name_live_calls(&api, rows).await, "next": next })).into_response()
}

/// Live calls have no record yet: their names come from the directory now. A directory
/// that cannot be read leaves them unnamed.
async fn name_live_calls(api: &Api, mut rows: Vec<CallSummary>) -> Vec<CallSummary> {
    let parties: Vec<(usize, String)> = rows
        .iter()
        .enumerate()
        .filter(|(_, c)| c.state == "live")
        .filter_map(|(i, c)| {
            let outbound = c.direction.as_deref() == Some("outbound");
            let party = crate::contacts::other_party(outbound, &c.caller, &c.callee)?;
            Some((i, party.to_owned()))
        })
        .collect();
    if parties.is_empty() {
        return rows;
    }
    let found = contacts::with_directory(api, move |d| {
        let mut found = Vec::new();
        for (i, party) in parties {
            if let Some(contact) = d.lookup(&party)? {
                found.push((i, contact));
            }
        }
        Ok(found)
    })
    .await;
    match found {
        Ok(found) => {
            for (i, contact) in found {
                if let Some(call) = rows.get_mut(i) {
                    call.caller_name = Some(contact.name);
                    call.company = contact.company;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "live calls not named"),
    }
    rows
}

async fn call(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    let query = CallQuery {
        call_id: Some(id.clone()),
        limit: 1,
        ..CallQuery::default()
    };
    let lookup = id.clone();
    let found = api
        .ctx
        .reader
        .call(move |r| Ok((r.calls(&query)?.pop(), r.call_events(&lookup)?)))
        .await;
    let (row, events) = match found {
        Ok((None, events)) if events.is_empty() => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no call {id:?}"),
            )
        }
        Ok(found) => found,
        Err(e) => return internal(e),
    };
    let row = name_live_calls(&api, row.into_iter().collect()).await.pop();
    let (path, call_id) = (api.db_path.clone(), id.clone());
    let sms = tokio::task::spawn_blocking(move || {
        crate::sms::queue::for_call(&crate::store::side_connection(&path)?, &call_id)
    })
    .await;
    let sms = match sms {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let stored = events;
    let events: Vec<Value> = stored
        .iter()
        .map(|e| event_json(&api.ctx.gateway_id, e, false))
        .collect();
    let contact = match party_contact(&api, row.as_ref()).await {
        Ok(contact) => contact,
        Err(e) => return internal(e),
    };
    let control = live_control::live_control(row.as_ref(), &stored);
    Json(json!({
        "call": row, "events": events, "sms": sms, "contact": contact, "control": control,
    }))
    .into_response()
}

/// The directory's entry for the other party of a call (its note is what the desk reads).
async fn party_contact(
    api: &Api,
    row: Option<&CallSummary>,
) -> Result<Option<crate::contacts::Contact>, crate::contacts::ContactError> {
    let outbound = row.is_some_and(|c| c.direction.as_deref() == Some("outbound"));
    let party = row.and_then(|c| crate::contacts::other_party(outbound, &c.caller, &c.callee));
    match party.map(str::to_owned) {
        Some(number) => contacts::with_directory(api, move |d| d.lookup(&number)).await,
        None => Ok(None),
    }
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

async fn events(State(api): State<Arc<Api>>, Query(q): Query<EventsQuery>) -> Response {
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    match api
        .ctx
        .reader
        .call(move |r| r.events_after(q.since, limit))
        .await
    {
        Ok(rows) => {
            let events: Vec<Value> = rows
                .iter()
                .map(|e| event_json(&api.ctx.gateway_id, e, false))
                .collect();
            Json(json!({ "events": events })).into_response()
        }
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
struct SmsQuery {
    limit: Option<u32>,
}

async fn sms_list(State(api): State<Arc<Api>>, Query(q): Query<SmsQuery>) -> Response {
    let path = api.db_path.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let conn = crate::store::side_connection(&path)?;
        crate::sms::queue::list(&conn, q.limit.unwrap_or(100).clamp(1, 1000))
    })
    .await;
    match listed {
        Ok(Ok(rows)) => Json(json!({ "sms": rows })).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn sms_send(
    State(api): State<Arc<Api>>,
    body: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Response {
    run_command(&api, "sms.send", body).await
}

async fn command(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Response {
    run_command(&api, &name, body).await
}

/// Runs a command as MQTT `cmd/{name}` would (the `[commands]` allow-list, rate limit,
/// request ids), a request id made up when the body has none; the typed answer with the
/// status that says what happened.
async fn run_command(
    api: &Api,
    name: &str,
    body: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Response {
    let mut body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return bad_json(rejection),
    };
    let Some(commands) = api.ctx.commands.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unsupported",
            "no command handler",
        );
    };
    if !body.contains_key("request_id") {
        let id = format!("api-{:016x}", fastrand::u64(..));
        body.insert("request_id".into(), Value::String(id));
    }
    let payload = Value::Object(body).to_string();
    let Some(_slot) = commands.try_begin() else {
        api.ctx.links.count("commands:busy");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many commands are running; try again",
        );
    };
    match commands.run(Origin::Api, name, payload.as_bytes()).await {
        Some((_, answer)) if answer["ok"] == true => {
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        Some((_, answer)) => {
            let status = match answer["error"]["code"].as_str() {
                Some("not_allowed") => StatusCode::FORBIDDEN,
                Some("unsupported") => StatusCode::NOT_IMPLEMENTED,
                Some("rate_limited") => StatusCode::TOO_MANY_REQUESTS,
                Some("in_progress") => StatusCode::CONFLICT,
                Some("not_connected" | "timeout") => StatusCode::BAD_GATEWAY,
                Some("internal") => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            (status, Json(answer)).into_response()
        }
        None => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "request_id must be a non-empty string",
        ),
    }
}

async fn metrics(State(api): State<Arc<Api>>, headers: axum::http::HeaderMap) -> Response {
    let sinks = api.ctx.sinks.clone();
    let store = match api.ctx.reader.call(move |r| r.stats(&sinks)).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let path = api.db_path.clone();
    let sms = tokio::task::spawn_blocking(move || {
        let conn = crate::store::side_connection(&path)?;
        crate::sms::queue::count_by_state(&conn)
    })
    .await;
    let sms = match sms {
        Ok(Ok(sms)) => sms,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let snapshot = metrics::Snapshot {
        store,
        now_ms: crate::clock::now_ms(),
        links: api.ctx.links.snapshot(),
        counters: api.ctx.links.counters(),
        commands: api
            .ctx
            .commands
            .as_ref()
            .map(|c| c.outcomes())
            .unwrap_or_default(),
        sms,
    };
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match metrics::render(&snapshot) {
        Ok(text) if openmetrics => {
            ([(header::CONTENT_TYPE, metrics::OPENMETRICS)], text).into_response()
        }
        Ok(text) => (
            [(header::CONTENT_TYPE, metrics::PROMETHEUS_TEXT)],
            metrics::to_prometheus_text(&text),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
