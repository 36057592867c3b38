//! A small Server-Sent Events parser (the WHATWG "event stream" grammar): `id:`, `event:`,
//! multi-line `data:`, `retry:`, comments, and LF, CRLF or lone CR line ends, fed in arbitrary
//! chunks (a line or a CRLF may be split between two chunks).

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last event id seen on the stream (it carries over to later events, as the spec says).
    pub id: Option<String>,
    /// `message` unless the server named it.
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
}

/// Incremental parser: `feed` bytes, then `pop` complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one is part of it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The id as parsed so far (the spec's "last event ID buffer").
    id_buffer: Option<String>,
    /// The id as of the last event boundary: what a reconnect resumes after.
    last_id: Option<String>,
    retry_ms: Option<u64>,
    ready: VecDeque<SseEvent>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id to send as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Start from this id (a resumed stream).
    pub fn set_last_event_id(&mut self, id: Option<String>) {
        self.id_buffer = id.clone();
        self.last_id = id;
    }

    /// The server's `retry:` advice, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.end_line(),
                b'\r' => {
                    self.end_line();
                    self.after_cr = true;
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
    }

    /// The connection ended: an unfinished event is dropped (the spec's rule), the line buffer
    /// too, so a reconnect starts clean.
    pub fn reset_connection(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.event = None;
        self.data.clear();
        self.has_data = false;
        self.id_buffer = self.last_id.clone();
    }

    pub fn pop(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&line);
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            return; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id_buffer = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        self.last_id = self.id_buffer.clone();
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        self.ready.push_back(SseEvent {
            id: self.last_id.clone(),
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut SseParser) -> Vec<SseEvent> {
        std::iter::from_fn(|| p.pop()).collect()
    }

    fn ev(id: Option<&str>, event: &str, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_string),
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let mut p = SseParser::new();
        p.feed(b": keep-alive\n\nid: 1\nevent: assistant\ndata: {\"a\":1}\n\n");
        p.feed(b"data: one\ndata:two\ndata\n\n");
        p.feed(b"id: 7\nevent: job\ndata: {}\nretry: 1500\n\n");
        assert_eq!(
            all(&mut p),
            [
                ev(Some("1"), "assistant", "{\"a\":1}"),
                ev(Some("1"), "message", "one\ntwo\n"),
                ev(Some("7"), "job", "{}"),
            ]
        );
        assert_eq!(p.last_event_id(), Some("7"));
        assert_eq!(p.retry_ms(), Some(1500));
    }

    #[test]
    fn crlf_and_cr_even_split_across_chunks() {
        let whole = b"id: 3\r\nevent: x\r\ndata: a\r\n\r\nid: 4\rdata: b\r\r";
        // Every split point gives the same events.
        for cut in 0..whole.len() {
            let mut p = SseParser::new();
            p.feed(&whole[..cut]);
            p.feed(&whole[cut..]);
            assert_eq!(
                all(&mut p),
                [ev(Some("3"), "x", "a"), ev(Some("4"), "message", "b")],
                "cut at {cut}"
            );
        }
        // Byte by byte.
        let mut p = SseParser::new();
        for b in whole {
            p.feed(std::slice::from_ref(b));
        }
        assert_eq!(all(&mut p).len(), 2);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_a_cut_event_is_dropped() {
        let mut p = SseParser::new();
        p.feed(b"event: ping\n\nid: 9\ndata: half");
        assert!(p.pop().is_none());
        // The id of an event that never completed is not where a reconnect resumes.
        assert_eq!(p.last_event_id(), None);
        p.reset_connection();
        p.feed(b"data: whole\n\n");
        assert_eq!(all(&mut p), [ev(None, "message", "whole")]);
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let s = "data: héllo ✓\n\n".as_bytes();
        let mut p = SseParser::new();
        p.feed(&s[..8]);
        p.feed(&s[8..]);
        assert_eq!(all(&mut p), [ev(None, "message", "héllo ✓")]);
    }
}
