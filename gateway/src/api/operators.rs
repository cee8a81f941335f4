//! `/api/operators`: the operator directory (extension or agent id → name, team). Rows set
//! here are owned by `api`; `POST /api/operators.csv` imports a spreadsheet's CSV.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::contacts::{refused, with_directory};
use super::{error, Api};
use crate::contacts::operators::{parse_csv, OperatorInput};

pub(super) async fn list(State(api): State<Arc<Api>>) -> Response {
    match with_directory(&api, |d| d.operators()).await {
        Ok(rows) => Json(json!({ "operators": rows })).into_response(),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct Fields {
    name: String,
    team: Option<String>,
}

/// `PUT /api/operators/{id}` `{"name","team"?}`: 201 when new.
pub(super) async fn put(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Json(f): Json<Fields>,
) -> Response {
    let input = OperatorInput {
        id,
        name: f.name,
        team: f.team,
    };
    let now = crate::clock::now_ms();
    match with_directory(&api, move |d| d.upsert_operator(&input, "api", now)).await {
        Ok((operator, true)) => {
            (StatusCode::CREATED, Json(json!({ "operator": operator }))).into_response()
        }
        Ok((operator, false)) => Json(json!({ "operator": operator })).into_response(),
        Err(e) => refused(e),
    }
}

pub(super) async fn delete(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    let asked = id.clone();
    match with_directory(&api, move |d| d.delete_operator(&asked)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no operator {id:?}"),
        ),
        Err(e) => refused(e),
    }
}

/// `POST /api/operators.csv` with the file as the body: the import's report (rows added,
/// updated, and each skipped one with its line and why).
pub(super) async fn import(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let entries = match parse_csv(&body) {
        Ok(entries) => entries,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    let now = crate::clock::now_ms();
    let done = with_directory(&api, move |d| d.upsert_operators(entries, "import", now)).await;
    match done {
        Ok(report) => Json(json!({ "import": report })).into_response(),
        Err(e) => refused(e),
    }
}
