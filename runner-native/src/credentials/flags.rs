//! Credentials given on the command line: `-u` with `--password-stdin`, or
//! `TUG_USERNAME` / `TUG_PASSWORD`; and a copy's per-side `--src-creds` / `--dest-creds`
//! (skopeo's spelling), whose passwords may come from `TUG_SRC_PASSWORD` /
//! `TUG_DEST_PASSWORD` or standard input instead of the process arguments.

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
    /// Credentials another command hands over (a copy's `--src-creds` for its pull): used
    /// as if given with `-u`.
    #[arg(skip)]
    pub given: Option<Credentials>,
}

/// A copy's credentials for each side: each goes only to the registry it is for.
#[derive(Args, Debug, Default)]
pub struct SideCredentialArgs {
    /// The source registry's credentials (the password, if not here: TUG_SRC_PASSWORD or
    /// --src-password-stdin). Never sent to the destination or a mirror.
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub src_creds: Option<String>,
    /// Read the source's password from standard input.
    #[arg(long, conflicts_with_all = ["password_stdin", "dest_password_stdin"])]
    pub src_password_stdin: bool,
    /// The destination registry's credentials, in place of -u (the password, if not here:
    /// TUG_DEST_PASSWORD or --dest-password-stdin).
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub dest_creds: Option<String>,
    /// Read the destination's password from standard input.
    #[arg(long, conflicts_with = "password_stdin")]
    pub dest_password_stdin: bool,
}

/// The variable holding the password of `-u`/`TUG_USERNAME`.
const PASSWORD_VAR: &str = "TUG_PASSWORD";

/// Every variable that may hold a password: kept from programs tug starts (a credential
/// helper is another party's program).
pub const PASSWORD_VARS: [&str; 3] = [PASSWORD_VAR, SOURCE.env, DESTINATION.env];

/// One side of a copy, for the names of its flags and variables.
struct Side {
    flag: &'static str,
    env: &'static str,
}

const SOURCE: Side = Side {
    flag: "src",
    env: "TUG_SRC_PASSWORD",
};
const DESTINATION: Side = Side {
    flag: "dest",
    env: "TUG_DEST_PASSWORD",
};

/// The credentials of each side of a copy, `(source, destination)`: `--src-creds` for the
/// source; `--dest-creds`, else `-u`/`TUG_USERNAME`, for the destination.
pub fn sides_from_args(
    sides: &SideCredentialArgs,
    args: &CredentialArgs,
) -> Result<(Option<Credentials>, Option<Credentials>), CliError> {
    let src = side(&sides.src_creds, sides.src_password_stdin, &SOURCE)?;
    let dst = match &sides.dest_creds {
        Some(_) => side(&sides.dest_creds, sides.dest_password_stdin, &DESTINATION)?,
        None if sides.dest_password_stdin => side(&None, true, &DESTINATION)?,
        None => from_args(args)?,
    };
    Ok((src, dst))
}

/// `USER[:PASSWORD]` of one side, the password from the text, standard input or the side's
/// variable.
fn side(creds: &Option<String>, stdin: bool, side: &Side) -> Result<Option<Credentials>, CliError> {
    let Some(text) = creds else {
        if stdin {
            return Err(CliError::Usage(format!(
                "--{}-password-stdin needs --{}-creds USER",
                side.flag, side.flag
            )));
        }
        return Ok(None);
    };
    let (username, password) = match text.split_once(':') {
        Some((user, password)) => (user, Some(password.to_owned())),
        None => (text.as_str(), None),
    };
    if username.is_empty() {
        return Err(CliError::Usage(format!(
            "--{}-creds: no user name before the colon",
            side.flag
        )));
    }
    let password = match password {
        Some(_) if stdin => {
            return Err(CliError::Usage(format!(
                "--{}-creds carries a password and --{}-password-stdin reads one: give one",
                side.flag, side.flag
            )))
        }
        Some(p) => p,
        None if stdin => read_stdin()?,
        None => std::env::var(side.env).map_err(|_| {
            CliError::Usage(format!(
                "no password for --{}-creds user {username:?}: use USER:PASSWORD, --{}-password-stdin or set {}",
                side.flag, side.flag, side.env
            ))
        })?,
    };
    Ok(Some(Credentials {
        username: username.to_owned(),
        password,
    }))
}

/// The password on standard input, without its line end.
fn read_stdin() -> Result<String, CliError> {
    crate::stdin::take_for("the password (--password-stdin)").map_err(CliError::Usage)?;
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::Input(format!("cannot read the password from stdin: {e}")))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_owned())
}

/// The credentials the user gave, if any.
pub fn from_args(args: &CredentialArgs) -> Result<Option<Credentials>, CliError> {
    if let Some(given) = &args.given {
        return Ok(Some(given.clone()));
    }
    let Some(username) = args.username.clone() else {
        if args.password_stdin {
            return Err(CliError::Usage(
                "--password-stdin needs a user name (-u/--username or TUG_USERNAME)".into(),
            ));
        }
        // Not used, and the registry's refusal would not say why: said.
        if std::env::var_os(PASSWORD_VAR).is_some_and(|p| !p.is_empty()) {
            crate::output::errln!(
                "tug: warning: TUG_PASSWORD is set but no user name (-u/--username or \
                 TUG_USERNAME): it is not used"
            );
        }
        return Ok(None);
    };
    let password = if args.password_stdin {
        read_stdin()?
    } else if let Ok(p) = std::env::var(PASSWORD_VAR) {
        p
    } else {
        return Err(CliError::Usage(format!(
            "no password for user {username:?}: use --password-stdin or set TUG_PASSWORD"
        )));
    };
    Ok(Some(Credentials { username, password }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(text: &str) -> Result<Option<Credentials>, CliError> {
        side(&Some(text.to_owned()), false, &SOURCE)
    }

    #[test]
    fn user_and_password_split_at_the_first_colon() {
        let c = given("alice:pa:ss").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "pa:ss")
        );
        assert!(matches!(given(":secret"), Err(CliError::Usage(_))));
        assert!(matches!(
            side(&None, true, &DESTINATION),
            Err(CliError::Usage(m)) if m.contains("--dest-password-stdin needs --dest-creds")
        ));
        assert!(matches!(
            side(&Some("a:b".into()), true, &SOURCE),
            Err(CliError::Usage(_))
        ));
        assert_eq!(side(&None, false, &SOURCE).unwrap(), None);
    }
}
