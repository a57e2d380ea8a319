//! The live journal: `GET /_mock/console/events` answers `text/event-stream`, one `entry`
//! event per new journal entry that passes the page's filters, its data the row's HTML.
//!
//! The stream is the response body itself: each time hyper asks for more it waits for
//! the next tick, reads `journal.since(seq)` and sends what is new. No task is spawned,
//! so when the browser goes away (or the server stops and drops the connection) the body
//! is dropped and nothing is left running.

use super::journal::{row, AppNames, Filter};
use super::{respond, Admin, Body, Query};
use crate::state::Core;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How often a stream looks for new entries: quick enough to feel live, rare enough that
/// a few open consoles cost nothing.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Entries read per tick; a burst larger than this arrives over several ticks.
pub const MAX_ENTRIES_PER_TICK: usize = 200;
/// Ticks without news before a comment line keeps proxies and the browser from timing
/// the stream out (15 s at [`POLL_INTERVAL`]).
pub const KEEPALIVE_TICKS: u32 = 60;
/// Streams open at once per server; one per console tab is the normal use.
pub const MAX_STREAMS: usize = 32;
/// How long the browser waits before reconnecting a broken stream (SSE `retry:`).
pub const RETRY_MILLIS: u64 = 1000;

/// The count of open streams (held by [`Admin`]).
#[derive(Debug, Default)]
pub struct Streams(AtomicUsize);

/// A place among the open streams, given back on drop.
struct Slot(Arc<Streams>);

impl Slot {
    fn take(streams: &Arc<Streams>) -> Option<Slot> {
        let taken = streams
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(streams.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct JournalStream {
    core: Arc<Core>,
    after: u64,
    filter: Filter,
    tick: tokio::time::Interval,
    idle: u32,
    /// The `retry:` line goes first.
    greeted: bool,
    _slot: Slot,
}

impl JournalStream {
    /// The events for entries after `self.after`, or `None` when there are none.
    fn news(&mut self) -> Option<String> {
        let entries = self.core.journal.since(self.after);
        if entries.is_empty() {
            return None;
        }
        let names = AppNames::new(&self.core.directory());
        let mut out = String::new();
        for e in entries.iter().take(MAX_ENTRIES_PER_TICK) {
            self.after = e.seq;
            if self.filter.matches(e, &names) {
                out.push_str(&format!("id: {}\nevent: entry\ndata: {}\n\n", e.seq, row(e, &names)));
            }
        }
        // Entries the filter hides still move the position on; say so, or nothing.
        (!out.is_empty()).then_some(out)
    }
}

impl hyper::body::Body for JournalStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if !this.greeted {
            this.greeted = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!(
                "retry: {RETRY_MILLIS}\n: journal after {}\n\n",
                this.after
            ))))));
        }
        loop {
            if this.tick.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(events) = this.news() {
                this.idle = 0;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(events)))));
            }
            this.idle += 1;
            if this.idle >= KEEPALIVE_TICKS {
                this.idle = 0;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n")))));
            }
        }
    }
}

/// Open a stream from `Last-Event-ID` (a reconnecting browser), else `?after=`, else now.
pub fn stream(admin: &Admin, req: &Request<hyper::body::Incoming>, q: &Query) -> Response<Body> {
    let Some(slot) = Slot::take(&admin.streams) else {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            format!("{MAX_STREAMS} journal streams are open already"),
        );
    };
    let core = admin.core.clone();
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("after").map(String::as_str))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| core.journal.last_seq());
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    // A slow reader gets the news at its pace, not a burst of missed ticks.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let body = JournalStream {
        core,
        after,
        filter: Filter::from_query(q),
        tick,
        idle: 0,
        greeted: false,
        _slot: slot,
    };
    let mut r = Response::new(body.boxed_unsync());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}
