//! Credentials given on the command line: `-u` with `--password-stdin`, or
//! `TUG_USERNAME` / `TUG_PASSWORD`.

use std::io::Read;

use clap::Args;
use tug_core::Credentials;

use crate::exit_code::CliError;

/// The credential flags of every command that talks to a registry.
#[derive(Args, Debug, Default)]
pub struct CredentialArgs {
    /// User name (the password comes from --password-stdin or TUG_PASSWORD).
    #[arg(short = 'u', long, env = "TUG_USERNAME")]
    pub username: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The credentials the user gave, if any.
pub fn from_args(args: &CredentialArgs) -> Result<Option<Credentials>, CliError> {
    let Some(username) = args.username.clone() else {
        if args.password_stdin {
            return Err(CliError::Usage(
                "--password-stdin needs a user name (-u/--username or TUG_USERNAME)".into(),
            ));
        }
        return Ok(None);
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Input(format!("cannot read the password from stdin: {e}")))?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    } else if let Ok(p) = std::env::var("TUG_PASSWORD") {
        p
    } else {
        return Err(CliError::Usage(format!(
            "no password for user {username:?}: use --password-stdin or set TUG_PASSWORD"
        )));
    };
    Ok(Some(Credentials { username, password }))
}
