//! Giving memory back (glibc only; elsewhere these do nothing). A long-running `serve` that
//! once built a 10,000-job listing must not keep that memory for good: glibc keeps freed memory
//! in per-thread arenas and, after a large buffer is freed, raises its mmap threshold so later
//! large buffers come from those arenas too.
//!
//! Measured earlier: 176 MiB after 8 concurrent lists of 10k jobs with glibc's default arenas,
//! 59 MiB with two (enough for a 2-worker runtime).
//!
//! [`tune`] (called first thing in `main`, before any thread starts) caps the arenas at 2 and fixes the mmap threshold at 128 KiB (large buffers are
//! mapped and unmapped, never kept); [`trim_periodically`] hands what the heap has freed back to
//! the system (`malloc_trim`) every few seconds.

use std::time::Duration;

/// How often freed heap memory is returned.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Set the allocator's limits; call once, early.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both values are valid for it.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Return freed heap memory to the system now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heap and of the arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`trim`] every [`TRIM_EVERY`], forever (spawn it).
pub async fn trim_periodically() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Off the async threads: trimming a large heap can take a few milliseconds.
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}
