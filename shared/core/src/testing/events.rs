//! The log events a flow emits, captured on the current thread, so a test can see that a refusal
//! was logged as the security event operators alert on (`event = "security_violation"`, say).
//!
//! One recorder is the test binary's global subscriber and keeps the events of threads that are
//! capturing. A per-thread default subscriber would race: a test thread without one that hits a
//! callsite first can cache "never interested" for it while another thread is installing its own,
//! and that thread then misses the event.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::ports::lock;

/// One logged event: its fields by name (`message` holds the text), values as printed.
pub type Fields = BTreeMap<String, String>;

/// The events logged on this thread while the guard [`Events::capture`] returned lives.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Fields>>>);

impl Events {
    /// Captures every event logged on this thread (a `#[tokio::test]` runs its flows on it) until
    /// the guard is dropped.
    pub fn capture() -> (Self, CaptureGuard) {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            // Another global subscriber would already have been set by this binary's own code;
            // none is, so this cannot fail in practice, and capturing would only see nothing.
            let _ = tracing::subscriber::set_global_default(Recorder { spans: AtomicU64::new(0) });
        });
        let events = Self::default();
        CURRENT.with(|c| *c.borrow_mut() = Some(events.clone()));
        (events, CaptureGuard(()))
    }

    /// The events whose `event` field is `name`, in the order they were logged.
    pub fn named(&self, name: &str) -> Vec<Fields> {
        lock(&self.0).iter().filter(|f| f.get("event").is_some_and(|e| e == name)).cloned().collect()
    }

    /// The `event` names logged, in order (events without one are left out).
    pub fn names(&self) -> Vec<String> {
        lock(&self.0).iter().filter_map(|f| f.get("event").cloned()).collect()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Events>> = const { RefCell::new(None) };
}

/// Capturing on this thread ends when it is dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

struct Recorder {
    spans: AtomicU64,
}

struct FieldVisitor<'a>(&'a mut Fields);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.spans.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(events) = CURRENT.with(|c| c.borrow().clone()) else { return };
        let mut fields = Fields::new();
        event.record(&mut FieldVisitor(&mut fields));
        lock(&events.0).push(fields);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
