//! The signals that ask an interactive agenticore process to stop: Ctrl-C (SIGINT), a closed
//! terminal (SIGHUP), SIGTERM and SIGQUIT. `submit --wait` cancels its job on them; the
//! dashboard restores the terminal and exits.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which stop signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Hangup,
    Terminate,
    Quit,
}

impl StopSignal {
    /// How a person would name it.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "Ctrl-C",
            StopSignal::Hangup => "terminal closed (SIGHUP)",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Quit => "SIGQUIT",
        }
    }
}

/// Listens for every stop signal from creation on (their default actions are replaced).
pub struct StopSignals {
    interrupt: Signal,
    hangup: Signal,
    terminate: Signal,
    quit: Signal,
}

impl StopSignals {
    pub fn new() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// The next stop signal.
    pub async fn next(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.hangup.recv() => StopSignal::Hangup,
            _ = self.terminate.recv() => StopSignal::Terminate,
            _ = self.quit.recv() => StopSignal::Quit,
        }
    }
}
