//! `/api/contacts`: search and edit the contact directory. Rows set here are owned by `api`
//! (a central sync never overwrites them).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{error, internal, Api};
use crate::contacts::{ContactError, ContactInput, Directory, Upserted};

/// Runs `work` on a directory connection off the async threads.
pub(super) async fn with_directory<T: Send + 'static>(
    api: &Api,
    work: impl FnOnce(&mut Directory) -> Result<T, ContactError> + Send + 'static,
) -> Result<T, ContactError> {
    let (path, plan) = (api.db_path.clone(), api.plan.clone());
    tokio::task::spawn_blocking(move || work(&mut Directory::open(&path, plan)?))
        .await
        .unwrap_or_else(|e| Err(ContactError::Task(e.to_string())))
}

pub(super) fn refused(e: ContactError) -> Response {
    match e {
        ContactError::Sql(_) | ContactError::Task(_) => internal(e),
        ContactError::TooMany(_) => error(StatusCode::CONFLICT, "too_many", &e.to_string()),
        ContactError::Number(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_number",
            &e.to_string(),
        ),
        _ => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            &e.to_string(),
        ),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    search: String,
    limit: Option<u32>,
}

pub(super) async fn search(State(api): State<Arc<Api>>, Query(q): Query<SearchQuery>) -> Response {
    let limit = q.limit.unwrap_or(50);
    match with_directory(&api, move |d| d.search(&q.search, limit)).await {
        Ok(rows) => Json(json!({ "contacts": rows })).into_response(),
        Err(e) => refused(e),
    }
}

pub(super) async fn get_one(State(api): State<Arc<Api>>, Path(number): Path<String>) -> Response {
    let asked = number.clone();
    match with_directory(&api, move |d| d.lookup(&asked)).await {
        Ok(Some(contact)) => Json(json!({ "contact": contact })).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no contact for {number:?}"),
        ),
        Err(e) => refused(e),
    }
}

/// `POST /api/contacts` with the number in the body.
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    Json(input): Json<ContactInput>,
) -> Response {
    upsert(&api, input).await
}

#[derive(serde::Deserialize)]
pub(super) struct Fields {
    name: String,
    company: Option<String>,
    note: Option<String>,
}

/// `PUT /api/contacts/{number}`.
pub(super) async fn put(
    State(api): State<Arc<Api>>,
    Path(number): Path<String>,
    Json(f): Json<Fields>,
) -> Response {
    let input = ContactInput {
        number,
        name: f.name,
        company: f.company,
        note: f.note,
    };
    upsert(&api, input).await
}

async fn upsert(api: &Api, input: ContactInput) -> Response {
    let now = crate::clock::now_ms();
    match with_directory(api, move |d| d.upsert(&input, "api", now)).await {
        Ok((contact, Upserted::Added)) => {
            (StatusCode::CREATED, Json(json!({ "contact": contact }))).into_response()
        }
        Ok((contact, _)) => Json(json!({ "contact": contact })).into_response(),
        Err(e) => refused(e),
    }
}

pub(super) async fn delete(State(api): State<Arc<Api>>, Path(number): Path<String>) -> Response {
    let asked = number.clone();
    match with_directory(&api, move |d| d.delete(&asked)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no contact for {number:?}"),
        ),
        Err(e) => refused(e),
    }
}
