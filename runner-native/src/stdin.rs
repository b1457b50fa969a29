//! Standard input is read once, for one thing: a password (`--password-stdin`) or an image
//! (`tug push -`). The second reader is refused, naming both, instead of reading what the
//! first left (nothing, or the rest of a tar).

use std::sync::Mutex;

/// What standard input was taken for, once it was.
static TAKEN_FOR: Mutex<Option<&'static str>> = Mutex::new(None);

/// Takes standard input for `purpose` (e.g. "the password (--password-stdin)"); `Err` says
/// what it was already taken for.
pub fn take_for(purpose: &'static str) -> Result<(), String> {
    let mut taken = TAKEN_FOR.lock().unwrap_or_else(|e| e.into_inner());
    match *taken {
        Some(first) if first != purpose => Err(format!(
            "standard input cannot be both {first} and {purpose}; give one of them another way"
        )),
        _ => {
            *taken = Some(purpose);
            Ok(())
        }
    }
}
