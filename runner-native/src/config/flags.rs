//! The flags that set settings, as clap argument groups: [`TransferArgs`] (push, pull and
//! copy), [`UploadArgs`] (push), [`ChunkArgs`] (copy and sync: the chunk size alone), [`RetryArgs`] (the registry verbs: retries alone) and
//! [`ConnectArgs`] inside [`RegistryArgs`] (every command that reaches a registry). Each group's flags are the table's settings of that group,
//! made from their declarations.

use std::path::PathBuf;

use clap::{ArgMatches, Command};

use super::spec::Group;
use super::table::Flags;
use crate::credentials::CredentialArgs;

/// A group of the table's flags, read into [`Flags`] (boxed: one field per setting).
macro_rules! flag_group {
    ($(#[doc = $doc:literal])* $name:ident = [$($group:expr),+]) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, Default)]
        pub struct $name(pub Box<Flags>);

        impl clap::FromArgMatches for $name {
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(Box::new(Flags::given(m, &[$($group),+]))))
            }

            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(m)?;
                Ok(())
            }
        }

        impl std::ops::Deref for $name {
            type Target = Flags;

            fn deref(&self) -> &Flags {
                &self.0
            }
        }

        impl clap::Args for $name {
            fn augment_args(cmd: Command) -> Command {
                cmd.args(Flags::args(&[$($group),+]))
            }

            fn augment_args_for_update(cmd: Command) -> Command {
                Self::augment_args(cmd)
            }
        }
    };
}

flag_group! {
    /// How blobs move and failed requests are retried: the flags of push, pull and copy.
    TransferArgs = [Group::Transfer, Group::Retry]
}

flag_group! {
    /// How a push uploads: chunks, compression.
    UploadArgs = [Group::Upload, Group::Chunks]
}

flag_group! {
    /// How a copy uploads what it reads: the chunk size (a copy sends blobs as they are).
    ChunkArgs = [Group::Chunks]
}

impl From<ChunkArgs> for UploadArgs {
    /// A copy's chunk size, for the push a copy from a file becomes.
    fn from(chunks: ChunkArgs) -> UploadArgs {
        UploadArgs(chunks.0)
    }
}

flag_group! {
    /// How failed requests are retried: the flags of the registry verbs (`tug ls`, `tug
    /// blob`…), which move no blobs in bulk.
    RetryArgs = [Group::Retry]
}

flag_group! {
    /// How long to wait on a registry.
    ConnectArgs = [Group::Connect]
}

/// How to reach and authenticate to a registry: the flags every registry command has.
#[derive(clap::Args, Debug, Default)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Trust the CA certificates in this PEM file too (beside the system's; see
    /// --only-ca-file).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Trust only the CAs of --ca-file and the certificate directories, not the system's.
    #[arg(long)]
    pub only_ca_file: bool,
    /// Present this client certificate (PEM) to the registry (mutual TLS); with --key-file.
    #[arg(long, value_name = "PEM", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM) of --cert-file.
    #[arg(long, value_name = "PEM", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// A directory of certificates for the registry, as Docker's and the containers tools'
    /// `certs.d/HOST/` hold them: `*.crt` CAs to trust, `NAME.cert` + `NAME.key` a client
    /// certificate. (`certs.d` directories of the user and the machine are read too.)
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Do not verify the registry's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Use plain HTTP. Without it, HTTPS is used, and for localhost / 127.0.0.0/8 plain HTTP
    /// is tried when the registry turns out not to speak TLS.
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}
