//! Captures what the app logs during a test.
//!
//! One global subscriber for the whole test binary, writing into the buffer of
//! the thread that logs: thread-local default subscribers race with callsite
//! registration when other tests log at the same time, and lose lines.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::filter::{dynamic_filter_fn, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

thread_local! {
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

fn capturing() -> bool {
    CAPTURE.with(|capture| capture.borrow().is_some())
}

struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = capture.borrow().as_ref() {
                if let Ok(mut bytes) = buffer.lock() {
                    bytes.extend_from_slice(buf);
                }
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct ThreadMakeWriter;

impl<'a> MakeWriter<'a> for ThreadMakeWriter {
    type Writer = ThreadWriter;

    fn make_writer(&'a self) -> Self::Writer {
        ThreadWriter
    }
}

/// Everything logged (at debug and above) on this thread while the guard lives.
/// `#[tokio::test]` runs on one thread, so the app's spawned tasks log here too.
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Installs the global subscriber. The harness calls this before any test code
/// logs: a subscriber installed while other threads are already logging can miss
/// callsites they registered in the meantime.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(ThreadMakeWriter)
            .with_filter(LevelFilter::DEBUG)
            // Dynamic: decided per event, never cached per callsite.
            .with_filter(dynamic_filter_fn(|_, _| capturing()));
        let subscriber = tracing_subscriber::registry().with(layer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

impl CapturedLogs {
    pub fn start() -> (Self, CaptureGuard) {
        install();
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(Arc::clone(&buffer)));
        (Self(buffer), CaptureGuard)
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
