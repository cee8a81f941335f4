//! `GET /api/calls.csv` and `GET /api/report.csv`: the journal and the report as a download
//! a spreadsheet opens (see [`crate::store::Csv`]). Each takes the parameters of its JSON
//! route plus `sep` (`comma`, `semicolon`, `tab`), and the report `table` (`totals`,
//! `agents`, `queues`, `hours`). The journal streams a page at a time, so a month of calls
//! never sits in memory at once.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{bad_query, error, internal, name_live_calls, period, Api, PeriodQuery};
use crate::store::{CallQuery, Csv, ReportTable, Separator, EXPORT_PAGE};

/// The CSV-only parameters taken out of a query string; what is left is the JSON route's.
struct CsvParams {
    separator: Separator,
    table: ReportTable,
    rest: Uri,
}

fn bad_request(why: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", why)
}

impl CsvParams {
    /// Splits `sep` and `table` off `uri`'s query, or says which value is none of the
    /// choices.
    fn split(uri: &Uri) -> Result<CsvParams, String> {
        let mut params = CsvParams {
            separator: Separator::default(),
            table: ReportTable::default(),
            rest: Uri::from_static("/"),
        };
        let mut rest = Vec::new();
        for pair in uri.query().unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = value.replace('+', " ");
            let value = percent_encoding::percent_decode_str(&value).decode_utf8_lossy();
            match key {
                "sep" => params.separator = value.parse()?,
                "table" => params.table = value.parse()?,
                "" => {}
                _ => rest.push(pair),
            }
        }
        params.rest = format!("/?{}", rest.join("&"))
            .parse()
            .map_err(|_| "the query string is not a valid URI query".to_owned())?;
        Ok(params)
    }
}

fn attachment(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The journal's calls the filters select, newest first, every page of them.
pub(super) async fn calls(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let params = match CsvParams::split(&uri) {
        Ok(p) => p,
        Err(why) => return bad_request(&why),
    };
    let mut query = match Query::<CallQuery>::try_from_uri(&params.rest) {
        Ok(Query(q)) => q,
        Err(rejection) => return bad_query(rejection),
    };
    if let Some(why) = query.invalid_value() {
        return bad_request(&why);
    }
    query.limit = EXPORT_PAGE;
    let csv = match Csv::journal(params.separator) {
        Ok(csv) => csv,
        Err(e) => return internal(e),
    };
    let pages = futures_util::stream::unfold(Some((api, query, csv)), |state| async move {
        let (api, query, mut csv) = state?;
        match page(&api, &query, &mut csv).await {
            Ok((chunk, rows)) => {
                let next = query.after(&rows).map(|next| (api, next, csv));
                Some((Ok(Bytes::from(chunk)), next))
            }
            Err(e) => {
                tracing::warn!(error = %e, "journal export cut short");
                Some((Err(std::io::Error::other(e)), None))
            }
        }
    });
    attachment("calls.csv", Body::from_stream(pages))
}

/// One page of the journal written into `csv`: the CSV so far and the page's calls.
async fn page(
    api: &Api,
    query: &CallQuery,
    csv: &mut Csv,
) -> Result<(Vec<u8>, Vec<crate::store::CallSummary>), String> {
    let q = query.clone();
    let rows = api
        .ctx
        .reader
        .call(move |r| r.calls(&q))
        .await
        .map_err(|e| e.to_string())?;
    let rows = name_live_calls(api, rows).await;
    for call in &rows {
        csv.call(call).map_err(|e| e.to_string())?;
    }
    Ok((csv.take().map_err(|e| e.to_string())?, rows))
}

/// One table of `GET /api/report`.
pub(super) async fn report(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let params = match CsvParams::split(&uri) {
        Ok(p) => p,
        Err(why) => return bad_request(&why),
    };
    let (from, to, level) = match period(Query::<PeriodQuery>::try_from_uri(&params.rest)) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let plan = api.plan.clone();
    let report = match api
        .ctx
        .reader
        .call(move |r| r.report(from, to, level, &plan))
        .await
    {
        Ok(report) => report,
        Err(e) => return internal(e),
    };
    match Csv::report(&report, params.table, params.separator) {
        Ok(bytes) => {
            let name = format!("report-{}.csv", params.table.as_str());
            attachment(&name, Body::from(bytes))
        }
        Err(e) => internal(e),
    }
}
