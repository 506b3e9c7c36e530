#!/bin/sh
# Regenerates corpus/logs/generated/: real daemons (Debian OpenSSH 9.2 sshd,
# vsftpd and proftpd through PAM, su, sudo) attacked by hydra or driven
# through a pseudo-terminal, logged by a real rsyslogd in four framings:
#   *.3164.log   RFC 3164 as Debian writes /var/log/auth.log (year-less)
#   *.3339.log   rsyslog's RSYSLOG_FileFormat (RFC 3339 stamps)
#   *.5424.log   RFC 5424 (RSYSLOG_SyslogProtocol23Format)
#   *.journal.jsonl  the fields `journalctl -o json` prints (written by an
#                rsyslog template: this host has no journald)
# plus *.E.log for `sshd -E FILE` (bare messages).
#
# Run as root on Debian 12 with openssh-server, vsftpd, proftpd-core, sudo,
# rsyslog and hydra installed:   sh corpus/make-logs.sh
# Traffic stays inside two network namespaces this script creates
# (10.77.0.0/30 and fd77::/64); every hydra run is bounded by `timeout`.
# Users swalice and swbob are created for the run and removed after it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/logs/generated"
A=swlogA
V=swlogV
AIP=10.77.0.1
VIP=10.77.0.2
GOOD='Corr3ct-h0rse'

if [ "$(id -u)" != 0 ]; then echo "run as root" >&2; exit 1; fi
# proftpd-core conflicts with vsftpd in Debian: give an unpacked copy
# (`apt-get download proftpd-core; dpkg -x proftpd-core_*.deb DIR`) as
# PROFTPD=DIR/usr/sbin/proftpd, or the proftpd scenario is skipped.
PROFTPD=${PROFTPD:-$(command -v proftpd || true)}
for t in sshd hydra vsftpd sudo rsyslogd python3; do
  command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done

cleanup() {
  set +e
  [ -f "$work/rsyslog.pid" ] && kill "$(cat "$work/rsyslog.pid")" 2>/dev/null
  for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  ip netns del $A 2>/dev/null
  ip netns del $V 2>/dev/null
  rm -rf /etc/netns/$V
  userdel swalice 2>/dev/null
  userdel swbob 2>/dev/null
  umount /dev/log 2>/dev/null
  rm -rf "$work"
}

if [ "${SWLOG_INNER:-}" != 1 ]; then
  # Everything below runs in a private mount namespace, where /dev/log is
  # our rsyslogd's socket and nobody else's syslog() reaches it.
  [ -e /dev/log ] || { : > /dev/log; created_devlog=1; }
  SWLOG_INNER=1 unshare -m --propagation private sh "$0" "$@"
  rc=$?
  [ "${created_devlog:-}" = 1 ] && [ -f /dev/log ] && [ ! -s /dev/log ] && rm -f /dev/log
  exit $rc
fi
work=$(mktemp -d /tmp/shouwang-make-logs.XXXXXX)
trap cleanup EXIT INT TERM
mkdir -p "$out"

# --- lab -----------------------------------------------------------------
ip netns add $A
ip netns add $V
ip link add swlA type veth peer name swlV
ip link set swlA netns $A
ip link set swlV netns $V
ip -n $A addr add $AIP/30 dev swlA
ip -n $V addr add $VIP/30 dev swlV
ip -n $A addr add fd77::1/64 dev swlA nodad
ip -n $V addr add fd77::2/64 dev swlV nodad
for ns in $A $V; do
  ip -n $ns link set lo up
  ip -n $ns link set "$( [ $ns = $A ] && echo swlA || echo swlV )" up
done
# `ip netns exec` bind-mounts these over /etc/hosts inside the victim, so
# sshd with UseDNS finds a name for the attacker.
mkdir -p /etc/netns/$V
printf '127.0.0.1 localhost\n%s attacker.lab.example\n%s victim.lab.example\n' $AIP $VIP > /etc/netns/$V/hosts

useradd -m -s /bin/bash swalice
useradd -m -s /bin/bash swbob
echo "swalice:$GOOD" | chpasswd
echo "swbob:$GOOD" | chpasswd
printf 'root\nswalice\nadmin\noracle\n' > "$work/users"
printf '123456\npassword\nadmin\n%s\n' "$GOOD" > "$work/pass"
mkdir -p /run/sshd

# --- rsyslog -------------------------------------------------------------
cat > "$work/rsyslog.conf" <<EOF
global(workDirectory="$work")
module(load="imuxsock" SysSock.Name="$work/log.sock")
template(name="journal" type="string" string="{\"__REALTIME_TIMESTAMP\":\"%timereported:::date-unixtimestamp%%timereported:::date-subseconds%\",\"_HOSTNAME\":\"%hostname:::json%\",\"SYSLOG_IDENTIFIER\":\"%programname:::json%\",\"_PID\":\"%procid:::json%\",\"SYSLOG_FACILITY\":\"%syslogfacility%\",\"PRIORITY\":\"%syslogseverity%\",\"MESSAGE\":\"%msg:2:\$:json%\"}\n")
auth,authpriv.* action(type="omfile" file="$work/cur.3164.log" template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.* action(type="omfile" file="$work/cur.3339.log" template="RSYSLOG_FileFormat")
auth,authpriv.* action(type="omfile" file="$work/cur.5424.log" template="RSYSLOG_SyslogProtocol23Format")
auth,authpriv.* action(type="omfile" file="$work/cur.journal.jsonl" template="journal")
EOF
touch /dev/log
rsyslogd -f "$work/rsyslog.conf" -i "$work/rsyslog.pid"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$work/log.sock" ] && break; sleep 0.2; done
mount --bind "$work/log.sock" /dev/log

# Moves what rsyslog wrote since the last scenario to $out/NAME.*
take() {
  name=$1
  logger -p authpriv.notice -t shouwang-make-logs "end of $name"
  sleep 1.5
  for f in 3164.log 3339.log 5424.log journal.jsonl; do
    grep -v shouwang-make-logs "$work/cur.$f" > "$out/$name.$f" || true
    : > "$work/cur.$f"
  done
}

ssh_keys() {
  [ -f "$work/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
  [ -f "$work/userkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$work/userkey"
}

# sshd in the victim; $1 = extra config lines, $2 = optional -E file
start_sshd() {
  ssh_keys
  cat > "$work/sshd_config" <<EOF
ListenAddress $VIP
ListenAddress fd77::2
HostKey $work/hostkey
UsePAM yes
PidFile $work/sshd.pid
MaxStartups 100
$1
EOF
  if [ -n "${2:-}" ]; then
    ip netns exec $V /usr/sbin/sshd -f "$work/sshd_config" -E "$2"
  else
    ip netns exec $V /usr/sbin/sshd -f "$work/sshd_config"
  fi
  sleep 0.5
}
stop_sshd() {
  kill "$(cat "$work/sshd.pid")"; rm -f "$work/sshd.pid"; sleep 0.5
}
hydra_run() { # hydra arguments (logins, passwords, target)
  (cd "$work" && ip netns exec $A timeout 90 hydra -I -t 2 "$@") >> "$work/hydra.out" 2>&1 || true
}
hydra_ssh() { hydra_run -L "$work/users" -P "$work/pass" "$@"; }
ssh_as() { # user, password list, extra ssh args
  u=$1; p=$2; shift 2
  ip netns exec $A timeout 60 python3 "$here/pty-say.py" "$p" -- ssh -F /dev/null \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "$@" "$u@$VIP" true >/dev/null 2>&1 || true
}

# --- sshd scenarios ------------------------------------------------------
for level in INFO VERBOSE DEBUG; do
  lc=$(echo $level | tr A-Z a-z)
  start_sshd "LogLevel $level
PasswordAuthentication yes
KbdInteractiveAuthentication no"
  if [ $level = DEBUG ]; then
    # DEBUG writes ~60 lines per connection: a short run.
    printf 'swalice\nadmin\n' > "$work/users.small"
    printf '123456\n%s\n' "$GOOD" > "$work/pass.small"
    hydra_run -t 1 -L "$work/users.small" -P "$work/pass.small" ssh://$VIP
  else
    hydra_ssh ssh://$VIP
    hydra_run -6 -l swbob -p wrong-one "ssh://[fd77::2]"
  fi
  take sshd-password-$lc
  stop_sshd
done

# Pubkey-only servers: no password is ever asked for.
for level in INFO VERBOSE; do
  lc=$(echo $level | tr A-Z a-z)
  start_sshd "LogLevel $level
PasswordAuthentication no
KbdInteractiveAuthentication no"
  hydra_ssh ssh://$VIP
  ssh_as swalice x -i "$work/userkey" -o BatchMode=yes -o IdentitiesOnly=yes
  ssh_as nosuchuser x -i "$work/userkey" -o BatchMode=yes -o IdentitiesOnly=yes
  ssh_as root x -i "$work/userkey" -o BatchMode=yes -o IdentitiesOnly=yes
  take sshd-nopassword-$lc
  stop_sshd
done

# MaxAuthTries hit by one client typing wrong passwords; root refused.
start_sshd "LogLevel INFO
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
MaxAuthTries 3"
ssh_as swalice w1,w2,w3,w4,w5 -o NumberOfPasswordPrompts=5 -o PreferredAuthentications=password
ssh_as root w1,w2,w3,w4 -o NumberOfPasswordPrompts=4 -o PreferredAuthentications=password
ssh_as ghost w1,w2,w3,w4 -o NumberOfPasswordPrompts=4 -o PreferredAuthentications=password
ssh_as swalice "$GOOD" -o PreferredAuthentications=password
take sshd-maxauth-info
stop_sshd

# keyboard-interactive through PAM, hostnames as sources (UseDNS).
start_sshd "LogLevel INFO
UseDNS yes
PasswordAuthentication no
KbdInteractiveAuthentication yes"
ssh_as swalice w1,w2,w3 -o NumberOfPasswordPrompts=3 -o PreferredAuthentications=keyboard-interactive
ssh_as ghost w1,w2 -o NumberOfPasswordPrompts=2 -o PreferredAuthentications=keyboard-interactive
hydra_run -l swbob -P "$work/pass" ssh://$VIP
take sshd-kbdint-usedns
stop_sshd

# sshd -E FILE: bare messages, no syslog framing.
start_sshd "LogLevel INFO
PasswordAuthentication yes" "$work/sshd-E.log"
hydra_ssh ssh://$VIP
stop_sshd
grep -v '^Server listening\|^Received signal' "$work/sshd-E.log" > "$out/sshd-password-info.E.log" || true
take discard-sshd-E

# --- vsftpd (PAM) --------------------------------------------------------
mkdir -p /var/run/vsftpd/empty
cat > "$work/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=$VIP
background=NO
anonymous_enable=NO
local_enable=YES
pam_service_name=vsftpd
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
max_login_fails=3
xferlog_enable=NO
EOF
ip netns exec $V vsftpd "$work/vsftpd.conf" &
echo $! > "$work/vsftpd.pid"
sleep 0.5
hydra_run -L "$work/users" -P "$work/pass" ftp://$VIP
kill "$(cat "$work/vsftpd.pid")"; rm -f "$work/vsftpd.pid"
take vsftpd-pam

# --- proftpd (PAM) -------------------------------------------------------
cat > "$work/proftpd.conf" <<EOF
ServerName "shouwang corpus"
ServerType standalone
DefaultAddress $VIP
Port 21
User nobody
Group nogroup
PidFile $work/proftpd.pid
ScoreboardFile $work/proftpd.scoreboard
DelayTable none
UseIPv6 off
WtmpLog off
AuthOrder mod_auth_pam.c* mod_auth_unix.c
UseFtpUsers off
RequireValidShell off
<IfModule mod_auth_pam.c>
  AuthPAM on
  AuthPAMConfig proftpd
</IfModule>
EOF
if [ -n "$PROFTPD" ]; then
made_pam=
[ -f /etc/pam.d/proftpd ] || { cp /etc/pam.d/vsftpd /etc/pam.d/proftpd; made_pam=1; }
ip netns exec $V "$PROFTPD" -c "$work/proftpd.conf" || echo "proftpd did not start" >&2
sleep 0.5
hydra_run -L "$work/users" -P "$work/pass" ftp://$VIP
[ -f "$work/proftpd.pid" ] && kill "$(cat "$work/proftpd.pid")" && rm -f "$work/proftpd.pid" || true
[ "$made_pam" = 1 ] && rm -f /etc/pam.d/proftpd
take proftpd-pam
else
  echo "no proftpd: proftpd scenario skipped" >&2
fi

# --- su and sudo, typed at a terminal -------------------------------------
runuser -u swalice -- python3 "$here/pty-say.py" wrong1 -- su -c true root || true
runuser -u swalice -- python3 "$here/pty-say.py" wrong2 -- su -c true root || true
runuser -u swalice -- python3 "$here/pty-say.py" wrong3 -- su -c true swbob || true
runuser -u swalice -- python3 "$here/pty-say.py" "$GOOD" -- su -c true swbob || true
take su
runuser -u swalice -- python3 "$here/pty-say.py" w1,w2,w3 -- sudo -k true || true
runuser -u swalice -- python3 "$here/pty-say.py" w1 -- sudo -k true || true
runuser -u swalice -- python3 "$here/pty-say.py" "$GOOD" -- sudo -k true || true
take sudo

rm -f "$out"/discard-*
cp "$work/hydra.out" "$out/hydra.txt"
wc -l "$out"/*
