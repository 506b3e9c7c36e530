//! One test per line type, each with lines as the daemon writes them (the
//! generated ones copied from corpus/logs/generated, made by
//! corpus/make-logs.sh; the others from the upstream format strings, see
//! corpus/logs/handwritten/README.md).

use chrono::{DateTime, FixedOffset};
use shouwang_proto::{AuthEvent, AuthOutcome, AuthService};

use crate::{Format, LogParser};

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-12-03T18:00:00+00:00").unwrap()
}

/// Events of `lines` read as one log, end of input included.
fn run(lines: &[&str]) -> Vec<AuthEvent> {
    let mut p = LogParser::new(Format::Auth);
    let mut out = Vec::new();
    for l in lines {
        p.push_line(l, now(), &mut out);
    }
    p.finish(&mut out);
    out.into_iter().map(|(_, e)| e).collect()
}

fn failures(lines: &[&str]) -> Vec<AuthEvent> {
    run(lines)
        .into_iter()
        .filter(|e| e.outcome == AuthOutcome::Failure)
        .collect()
}

fn addr(e: &AuthEvent) -> String {
    e.source_addr
        .map(|a| a.to_string())
        .or_else(|| e.source_host.clone())
        .unwrap_or_default()
}

#[test]
fn pam_then_failed_password_is_one_attempt() {
    let f = failures(&[
        "Dec  3 17:16:28 vm sshd[22094]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1  user=root",
        "Dec  3 17:16:30 vm sshd[22094]: Failed password for root from 10.77.0.1 port 60732 ssh2",
        "Dec  3 17:16:33 vm sshd[22094]: Failed password for root from 10.77.0.1 port 60732 ssh2",
        "Dec  3 17:16:34 vm sshd[22094]: Received disconnect from 10.77.0.1 port 60732:11: Bye Bye [preauth]",
        "Dec  3 17:16:34 vm sshd[22094]: Disconnected from authenticating user root 10.77.0.1 port 60732 [preauth]",
        "Dec  3 17:16:34 vm sshd[22094]: PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1  user=root",
    ]);
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|e| e.user == "root" && addr(e) == "10.77.0.1"));
    assert_eq!(f[0].method.as_deref(), Some("password"));
    assert_eq!(f[0].source_port, Some(60732));
    assert_eq!(f[0].service, AuthService::Sshd);
}

#[test]
fn invalid_user_then_failed_for_invalid_user_is_one_attempt() {
    let f = failures(&[
        "Dec  3 17:17:35 vm sshd[29355]: Invalid user ghost from 10.77.0.1 port 45798",
        "Dec  3 17:17:35 vm sshd[29355]: pam_unix(sshd:auth): check pass; user unknown",
        "Dec  3 17:17:35 vm sshd[29355]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1 ",
        "Dec  3 17:17:38 vm sshd[29355]: Failed password for invalid user ghost from 10.77.0.1 port 45798 ssh2",
        "Dec  3 17:18:02 vm sshd[29355]: Connection closed by invalid user ghost 10.77.0.1 port 45798 [preauth]",
    ]);
    assert_eq!(f.len(), 1);
    assert!(f[0].invalid_user);
    assert_eq!(f[0].user, "ghost");
}

#[test]
fn invalid_user_refused_before_a_password_counts_once_at_close() {
    let f = failures(&[
        "Dec  3 17:17:09 vm sshd[27997]: Invalid user nosuchuser from 10.77.0.1 port 60602",
        "Dec  3 17:17:09 vm sshd[27997]: Connection closed by invalid user nosuchuser 10.77.0.1 port 60602 [preauth]",
    ]);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].user.as_str(), f[0].invalid_user),
        ("nosuchuser", true)
    );
}

#[test]
fn pubkey_only_server_connections_closed_before_auth() {
    // PasswordAuthentication no, LogLevel INFO: no `Failed` line at all.
    let f = failures(&[
        "Dec  3 17:17:08 vm sshd[27944]: Connection closed by authenticating user swalice 10.77.0.1 port 60600 [preauth]",
        "Dec  3 17:17:08 vm sshd[27882]: Received disconnect from 10.77.0.1 port 60586:11: Bye Bye [preauth]",
        "Dec  3 17:17:08 vm sshd[27882]: Disconnected from authenticating user root 10.77.0.1 port 60586 [preauth]",
    ]);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].user, "swalice");
    // A connection that never named a user is not an attempt.
    assert!(
        failures(&[
            "Dec  3 17:17:08 vm sshd[1]: Connection closed by 10.77.0.1 port 60600 [preauth]",
            "Dec  3 17:17:08 vm sshd[2]: Timeout before authentication for 10.77.0.1 port 60601",
        ])
        .is_empty()
    );
}

#[test]
fn failed_publickey_verbose_counts_once_with_its_close() {
    let f = failures(&[
        "Dec  3 17:17:12 vm sshd[28231]: Connection from 10.77.0.1 port 60620 on 10.77.0.2 port 22 rdomain \"\"",
        "Dec  3 17:17:13 vm sshd[28231]: Failed publickey for swalice from 10.77.0.1 port 60620 ssh2: ED25519 SHA256:q0VjhU/cYcmGkDTDaIu5iEYtJ/kIIvvszL7kzr7luWQ",
        "Dec  3 17:17:13 vm sshd[28231]: Connection closed by authenticating user swalice 10.77.0.1 port 60620 [preauth]",
    ]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].method.as_deref(), Some("publickey"));
}

#[test]
fn max_auth_tries_with_and_without_failed_lines() {
    let f = failures(&[
        "Dec  3 17:17:19 vm sshd[28516]: Failed password for swalice from 10.77.0.1 port 36048 ssh2",
        "Dec  3 17:17:22 vm sshd[28516]: Failed password for swalice from 10.77.0.1 port 36048 ssh2",
        "Dec  3 17:17:24 vm sshd[28516]: Failed password for swalice from 10.77.0.1 port 36048 ssh2",
        "Dec  3 17:17:25 vm sshd[28516]: error: maximum authentication attempts exceeded for swalice from 10.77.0.1 port 36048 ssh2 [preauth]",
        "Dec  3 17:17:25 vm sshd[28516]: Disconnecting authenticating user swalice 10.77.0.1 port 36048: Too many authentication failures [preauth]",
        "Dec  3 17:17:25 vm sshd[28516]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1  user=swalice",
    ]);
    assert_eq!(f.len(), 3);
    // Pubkey failures at INFO are silent: the limit line is the evidence.
    let f = failures(&[
        "2026-12-03T10:00:07.002310+08:00 web-03 sshd-session[4102]: error: maximum authentication attempts exceeded for root from 198.51.100.23 port 51250 ssh2 [preauth]",
        "2026-12-03T10:00:07.002411+08:00 web-03 sshd-session[4102]: Disconnecting authenticating user root 198.51.100.23 port 51250: Too many authentication failures [preauth]",
    ]);
    assert_eq!(f.len(), 1);
    assert_eq!(addr(&f[0]), "198.51.100.23");
}

#[test]
fn keyboard_interactive_pam_errors_and_hostnames() {
    // UseDNS yes: PAM and sshd's PAM glue name the host; pam_unix lines
    // come from a helper process with a pid of its own.
    let f = failures(&[
        "Dec  3 17:17:51 vm sshd[30146]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=attacker.lab.example  user=swalice",
        "Dec  3 17:17:53 vm sshd[30028]: error: PAM: Authentication failure for swalice from attacker.lab.example",
        "Dec  3 17:17:53 vm sshd[30177]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=attacker.lab.example  user=swalice",
        "Dec  3 17:17:56 vm sshd[30028]: error: PAM: Authentication failure for swalice from attacker.lab.example",
        "Dec  3 17:17:58 vm sshd[30028]: Connection closed by authenticating user swalice 10.77.0.1 port 53442 [preauth]",
        "Dec  3 17:18:00 vm sshd[30398]: error: PAM: Authentication failure for illegal user ghost from attacker.lab.example",
        "Dec  3 17:18:00 vm sshd[30398]: Failed keyboard-interactive/pam for invalid user ghost from 10.77.0.1 port 40010 ssh2",
    ]);
    assert_eq!(f.len(), 3, "{f:#?}");
    assert_eq!(f[0].source_host.as_deref(), Some("attacker.lab.example"));
    assert_eq!(f[0].source_addr, None);
    assert!(f[2].invalid_user);
}

#[test]
fn legacy_rhel_pam_unix_tag_alone_and_with_sshd() {
    let f = failures(&[
        "Jan  9 04:00:01 old-rhel sshd(pam_unix)[3301]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=bad.example.net  user=root",
        "Jan  9 04:00:09 old-rhel sshd(pam_unix)[3301]: 2 more authentication failures; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=bad.example.net  user=root",
    ]);
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].source_host.as_deref(), Some("bad.example.net"));
    let f = failures(&[
        "Jan  9 03:12:41 old-rhel sshd(pam_unix)[2210]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=203.0.113.9 ",
        "Jan  9 03:12:43 old-rhel sshd[2210]: Failed password for invalid user test from 203.0.113.9 port 40123 ssh2",
    ]);
    assert_eq!(f.len(), 1);
}

#[test]
fn root_login_refused_and_not_allowed_users() {
    let f = failures(&[
        "Mar  2 08:00:01 gw-01 sshd[700]: ROOT LOGIN REFUSED FROM 192.0.2.77 port 4000",
        "Mar  2 08:00:03 gw-01 sshd[700]: Failed password for root from 192.0.2.77 port 4000 ssh2",
        "Mar  2 08:00:04 gw-01 sshd[701]: ROOT LOGIN REFUSED FROM 192.0.2.78 port 4001",
        "Mar  2 08:00:04 gw-01 sshd[701]: Connection closed by authenticating user root 192.0.2.78 port 4001 [preauth]",
        "Mar  2 08:00:05 gw-01 sshd[702]: User bob from 192.0.2.8 not allowed because not listed in AllowUsers",
        "Mar  2 08:00:07 gw-01 sshd[702]: Failed password for invalid user bob from 192.0.2.8 port 5022 ssh2",
    ]);
    assert_eq!(
        f.iter().map(addr).collect::<Vec<_>>(),
        ["192.0.2.77", "192.0.2.78", "192.0.2.8"]
    );
}

#[test]
fn sshd_session_and_ipv6_and_penalty_lines() {
    let f = failures(&[
        "2026-12-03T10:00:05.310006+08:00 web-03 sshd[900]: drop connection #0 from [198.51.100.23]:51240 on [10.0.0.3]:22 penalty: failed authentication",
        "2026-12-03T10:00:06.711523+08:00 web-03 sshd-session[4101]: Connection closed by authenticating user root 2001:db8::23 port 40000 [preauth]",
        "Dec  3 17:16:40 vm sshd[23000]: Failed password for swbob from fd77::1 port 40000 ssh2",
        "Dec  3 17:16:41 vm sshd[23001]: Failed password for swbob from ::ffff:10.77.0.9 port 40000 ssh2",
    ]);
    assert_eq!(
        f.iter().map(addr).collect::<Vec<_>>(),
        ["2001:db8::23", "fd77::1", "10.77.0.9"]
    );
}

#[test]
fn bare_sshd_e_lines_are_keyed_by_peer() {
    let f = failures(&[
        "Received disconnect from 10.77.0.1 port 51458:11: Bye Bye [preauth]",
        "Disconnected from authenticating user root 10.77.0.1 port 51458 [preauth]",
        "Failed password for root from 10.77.0.1 port 51466 ssh2",
        "Failed password for root from 10.77.0.1 port 51466 ssh2",
        "Disconnected from authenticating user root 10.77.0.1 port 51466 [preauth]",
    ]);
    assert_eq!(f.len(), 3);
}

#[test]
fn su_and_sudo_with_their_pam_lines() {
    let f = failures(&[
        "Dec  3 17:19:19 vm su: pam_unix(su:auth): authentication failure; logname= uid=1001 euid=0 tty=/dev/pts/0 ruser=swalice rhost=  user=root",
        "Dec  3 17:19:21 vm su[32361]: FAILED SU (to root) swalice on pts/0",
        "Dec  3 17:19:22 vm su: pam_unix(su:auth): authentication failure; logname= uid=1001 euid=0 tty=/dev/pts/0 ruser=swalice rhost=  user=root",
        "Dec  3 17:19:24 vm su[32438]: FAILED SU (to root) swalice on pts/0",
        "Dec  3 17:19:30 vm sudo: pam_unix(sudo:auth): authentication failure; logname= uid=1001 euid=0 tty=/dev/pts/0 ruser=swalice rhost=  user=swalice",
        "Dec  3 17:19:37 vm sudo:  swalice : user NOT in sudoers ; TTY=pts/0 ; PWD=/work/wt/authlog ; USER=root ; COMMAND=/usr/bin/true",
        "Dec  3 17:19:40 vm sudo:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
    ]);
    let got: Vec<_> = f.iter().map(|e| (e.service, e.user.as_str())).collect();
    assert_eq!(
        got,
        [
            (AuthService::Su, "swalice"),
            (AuthService::Su, "swalice"),
            (AuthService::Sudo, "swalice"),
            (AuthService::Sudo, "bob"),
            (AuthService::Sudo, "bob"),
            (AuthService::Sudo, "bob"),
        ]
    );
    assert_eq!(f[0].target_user.as_deref(), Some("root"));
    let ok = run(&["Dec  3 17:19:28 vm su[32725]: (to swbob) swalice on pts/0"]);
    assert_eq!(ok[0].outcome, AuthOutcome::Success);
}

#[test]
fn vsftpd_pam_only_and_its_own_lines() {
    let f = failures(&[
        "Dec  3 17:18:41 vm vsftpd: pam_listfile(vsftpd:auth): Refused user root for service vsftpd",
        "Dec  3 17:18:41 vm vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=root rhost=10.77.0.1  user=root",
        "Dec  3 17:18:44 vm vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=root rhost=10.77.0.1  user=root",
        // syslog_enable=YES: vsftpd's own line for the same attempt.
        "Dec  3 17:18:44 vm vsftpd[31300]: [root] FAIL LOGIN: Client \"::ffff:10.77.0.1\"",
    ]);
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].service, addr(&f[0])),
        (AuthService::Vsftpd, "10.77.0.1".into())
    );
}

#[test]
fn proftpd_own_lines_and_pam_lines_keyed_by_tty_pid() {
    let f = failures(&[
        "Dec  3 17:19:11 vm proftpd[32092]: victim.lab.example (attacker.lab.example[10.77.0.1]) - SECURITY VIOLATION: Root login attempted",
        "Dec  3 17:19:11 vm proftpd: pam_unix(proftpd:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/ftpd32092 ruser=swalice rhost=attacker.lab.example  user=swalice",
        "Dec  3 17:19:14 vm proftpd[32092]: victim.lab.example (attacker.lab.example[10.77.0.1]) - USER swalice (Login failed): Incorrect password",
        "Dec  3 17:19:14 vm proftpd[32092]: victim.lab.example (attacker.lab.example[10.77.0.1]) - Maximum login attempts (3) exceeded, connection refused",
        "Dec  3 17:19:15 vm proftpd[32191]: victim.lab.example (attacker.lab.example[10.77.0.1]) - USER admin: no such user found from attacker.lab.example [10.77.0.1] to 10.77.0.2:21",
    ]);
    let got: Vec<_> = f.iter().map(|e| (e.user.as_str(), addr(e))).collect();
    assert_eq!(
        got,
        [
            ("root", "10.77.0.1".to_owned()),
            ("swalice", "10.77.0.1".to_owned()),
            ("admin", "10.77.0.1".to_owned()),
        ]
    );
    assert!(f[2].invalid_user);
}

#[test]
fn login_and_repeated_messages() {
    let f = failures(&[
        "Mar  2 08:00:20 gw-01 login[705]: FAILED LOGIN (1) on '/dev/pts/3' FROM '192.0.2.50' FOR 'root', Authentication failure",
        "Mar  2 08:00:09 gw-01 sshd[703]: Failed password for root from scanner.example.org port 6000 ssh2",
        "Mar  2 08:00:11 gw-01 sshd[703]: message repeated 2 times: [ Failed password for root from scanner.example.org port 6000 ssh2]",
    ]);
    assert_eq!(f.len(), 4);
    assert_eq!(
        (f[0].service, f[0].user.as_str()),
        (AuthService::Login, "root")
    );
    assert_eq!(f[3].source_host.as_deref(), Some("scanner.example.org"));
}

#[test]
fn successes_and_noise() {
    let all = run(&[
        "Dec  3 17:16:37 vm sshd[22906]: Accepted password for swalice from 10.77.0.1 port 47826 ssh2",
        "Dec  3 17:16:37 vm sshd[22906]: pam_unix(sshd:session): session opened for user swalice(uid=1001) by (uid=0)",
        "Dec  3 17:17:48 vm sshd[29744]: Disconnected from user swalice 10.77.0.1 port 53440",
        "Dec  3 17:16:27 vm sshd[21993]: Server listening on 10.77.0.2 port 22.",
        "Dec  3 17:19:39 vm sudo: pam_unix(sudo:auth): conversation failed",
        "Dec  3 17:19:18 vm runuser: pam_unix(runuser:session): session opened for user swalice(uid=1001) by (uid=0)",
        "garbage",
        "",
    ]);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].outcome, AuthOutcome::Success);
}

#[test]
fn sessions_are_bounded_and_expire() {
    let mut p = LogParser::new(Format::Auth);
    let mut out = Vec::new();
    for pid in 0..(super::MAX_SESSIONS as u32 + 100) {
        p.push_line(
            &format!("Dec  3 17:17:09 vm sshd[{pid}]: Invalid user u{pid} from 10.0.0.1 port 1"),
            now(),
            &mut out,
        );
    }
    assert!(p.counter.sessions() <= super::MAX_SESSIONS);
    // Evicted sessions yielded their failure; none is lost or doubled.
    p.finish(&mut out);
    assert_eq!(out.len(), super::MAX_SESSIONS + 100);
    assert_eq!(p.counter.sessions(), 0);
    // An idle session ends after SESSION_IDLE of log time.
    let mut p = LogParser::new(Format::Auth);
    let mut out = Vec::new();
    p.push_line(
        "Dec  3 17:00:00 vm sshd[7]: Invalid user a from 10.0.0.1 port 1",
        now(),
        &mut out,
    );
    p.tick(
        shouwang_proto::Timestamp::from_nanos(i64::MAX / 2),
        &mut out,
    );
    assert_eq!(out.len(), 1);
}

proptest::proptest! {
    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec("\\PC{0,160}", 0..20)) {
        let mut p = LogParser::new(Format::Auth);
        let mut j = LogParser::new(Format::JournalJson);
        let mut out = Vec::new();
        for l in &lines {
            p.push_line(l, now(), &mut out);
            j.push_line(l, now(), &mut out);
        }
        p.finish(&mut out);
    }

    #[test]
    fn mutated_real_lines_never_panic(cut in 0usize..160, junk in "\\PC{0,20}") {
        for base in [
            "Dec  3 17:16:28 vm sshd[22094]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1  user=root",
            "Dec  3 17:17:25 vm sshd[28516]: Disconnecting authenticating user swalice 10.77.0.1 port 36048: Too many authentication failures [preauth]",
            "Dec  3 17:19:11 vm proftpd[32092]: victim.lab.example (attacker.lab.example[10.77.0.1]) - USER swalice (Login failed): Incorrect password",
            "Mar  2 08:00:11 gw-01 sshd[703]: message repeated 2 times: [ Failed password for root from scanner.example.org port 6000 ssh2]",
        ] {
            let cut = cut.min(base.len());
            let mut p = LogParser::new(Format::Auth);
            let mut out = Vec::new();
            p.push_line(&format!("{}{junk}", &base[..cut]), now(), &mut out);
            p.finish(&mut out);
        }
    }
}
