//! How the process's allocator is set up: few malloc arenas, so memory one thread freed is
//! reused by the next instead of staying resident in an arena of its own.
//!
//! glibc gives each thread that meets contention an arena of its own (up to eight per
//! core). tug's threads (compressors, transport, layer decoders) each allocate and free
//! buffers of a few hundred KiB to a few MiB; spread over a dozen arenas, what one freed stays
//! resident while another allocates afresh. Two arenas keep a `--compress zstd` push of four
//! layers about 4 MiB smaller at its peak; tug allocates rarely (buffers are reused), so the
//! lock the threads then share costs nothing measurable. A `MALLOC_ARENA_MAX` in the
//! environment still wins.

/// The most arenas tug's threads share.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Sets the allocator up; call first thing in `main`, before any thread starts. (The one
/// `unsafe` of the runner: a C call with plain integer arguments.)
#[allow(unsafe_code)]
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes a malloc tunable; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}
