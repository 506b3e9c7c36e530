//! Authentication events from the host's auth log (sshd, su, sudo, login,
//! vsftpd, proftpd, other PAM services). One event per attempt.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The program that logged the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthService {
    Sshd,
    Su,
    Sudo,
    /// login(1) on a console or telnet.
    Login,
    Vsftpd,
    Proftpd,
    /// Another program's PAM failure (`pam_unix(SERVICE:auth)`).
    Pam,
}

impl AuthService {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sshd => "sshd",
            Self::Su => "su",
            Self::Sudo => "sudo",
            Self::Login => "login",
            Self::Vsftpd => "vsftpd",
            Self::Proftpd => "proftpd",
            Self::Pam => "pam",
        }
    }
}

/// Whether the attempt succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthOutcome {
    Success,
    Failure,
}

impl AuthOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEvent {
    pub service: AuthService,
    pub outcome: AuthOutcome,
    /// The account that tried to authenticate: the login name for sshd and
    /// FTP, the invoking user for su and sudo (may be empty when the log
    /// does not name it).
    pub user: String,
    /// Remote address (sshd; su/sudo only when PAM reports an `rhost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_addr: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    /// The remote host by name when the log gives a name instead of an
    /// address (sshd `UseDNS yes`, PAM `rhost=`); `source_addr` is then
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_host: Option<String>,
    /// `password`, `publickey`, `keyboard-interactive/pam`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The account switched to (su, sudo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user: Option<String>,
    /// sshd said the login name does not exist on the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invalid_user: bool,
    /// Host name in the log line, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The log message (after the `program[pid]:` prefix), at most 1 KiB.
    pub message: String,
}
