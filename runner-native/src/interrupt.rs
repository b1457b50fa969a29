//! Ctrl-C: the first asks the running operation to stop cleanly (it finishes as cancelled);
//! the second exits at once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use async_channel::{Receiver, Sender};

use crate::output::errln;

static CHANNEL: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();
static COUNT: AtomicU32 = AtomicU32::new(0);

fn channel() -> &'static (Sender<()>, Receiver<()>) {
    CHANNEL.get_or_init(|| async_channel::bounded(1))
}

/// Installs the handler (once, at start).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if COUNT.fetch_add(1, Ordering::SeqCst) >= 1 {
            errln!("\ntug: interrupted again, exiting now");
            std::process::exit(crate::exit_code::CANCELLED);
        }
        errln!("\ntug: interrupted, stopping (Ctrl-C again to exit at once)");
        let _ = channel().0.try_send(());
    });
}

/// Whether the user pressed Ctrl-C (for work done outside the driving loop).
pub fn requested() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// Resolves when the user pressed Ctrl-C.
pub async fn interrupted() {
    let _ = channel().1.recv().await;
}
