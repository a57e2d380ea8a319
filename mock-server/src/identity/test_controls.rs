//! Test controls (`--test-controls`, loopback peers only): `POST /_mock/clock/advance`
//! moves the server's clock so tests can expire codes and tokens without waiting.

use super::reply::{json_response, plain, read_form, Body};
use super::IdentityState;
use http::{Request, Response, StatusCode};

/// Test-only: move the server's clock (`--test-controls`, loopback peers only).
pub(super) async fn advance_clock(req: Request<hyper::body::Incoming>, shared: &IdentityState) -> Response<Body> {
    let (_, form) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(seconds) = form.get("seconds").and_then(|s| s.parse::<i64>().ok()) else {
        return plain(StatusCode::BAD_REQUEST, "form field seconds=<integer> required");
    };
    // Ten years either way is plenty for any test and keeps the arithmetic in range.
    if seconds.abs() > 10 * 366 * 86_400 {
        return plain(StatusCode::BAD_REQUEST, "seconds out of range");
    }
    shared.core.clock.advance(time::Duration::seconds(seconds));
    let now = shared
        .core
        .clock
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    tracing::info!(seconds, %now, "clock advanced through the test controls");
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "now": now }),
        &uuid::Uuid::new_v4().to_string(),
    )
}
