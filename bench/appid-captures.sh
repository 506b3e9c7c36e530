#!/usr/bin/env bash
# Captures of real servers and clients on loopback, one protocol each, on
# standard AND non-standard ports, for the app-id comparison with ndpiReader
# (bench/appid-vs-ndpi.py) and for first-byte unit tests.
#
#   sudo bench/appid-captures.sh [OUTDIR]      (default /tmp/appid-captures)
#
# Needs root (servers bind privileged ports, dumpcap on lo) and the Debian
# packages listed in .ci/run (openssh-server, vsftpd, opensmtpd,
# dovecot-imapd, dovecot-pop3d, mariadb-server, redis-server, snmpd, snmp,
# chrony, sntp, inetutils-telnetd, telnet, smbclient, dnsutils, socat, nmap,
# curl, openssl, tshark) plus PostgreSQL's initdb/postgres on PATH.
# Every client runs under `timeout`; every server is stopped at the end.
# Traffic stays on 127.0.0.1.
set -u
OUT=${1:-/tmp/appid-captures}
# Debian keeps initdb and postgres out of PATH.
for d in /usr/lib/postgresql/*/bin; do PATH="$PATH:$d"; done
W=$(mktemp -d /tmp/appid-work.XXXXXX)
chmod 755 "$W"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
T="timeout 20"

start() { # name, command...
  local name=$1
  shift
  "$@" >"$W/$name.log" 2>&1 &
  PIDS+=($!)
}

capture() { # name, then a function that makes the traffic
  local name=$1 fn=$2
  dumpcap -q -i lo -w "$OUT/$name.pcapng" >/dev/null 2>&1 &
  local cap=$!
  sleep 1.5
  $fn
  sleep 1
  kill -INT "$cap"; wait "$cap" 2>/dev/null
  echo "$name: $(capinfos -c -M "$OUT/$name.pcapng" 2>/dev/null | awk -F: '/Number of packets/ {print $2}') packets"
}

# ---- servers
ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey"
cat >"$W/sshd_config" <<EOF
HostKey $W/hostkey
ListenAddress 127.0.0.1
Port 22
Port 2200
PidFile $W/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
EOF
mkdir -p /run/sshd
start sshd /usr/sbin/sshd -D -f "$W/sshd_config"

mkdir -p "$W/www"; echo hello >"$W/www/index.html"
start http80 python3 -m http.server 80 --bind 127.0.0.1 --directory "$W/www"
start http8081 python3 -m http.server 8081 --bind 127.0.0.1 --directory "$W/www"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
start tls443 openssl s_server -quiet -accept 443 -cert "$W/cert.pem" -key "$W/key.pem" -www
start tls8444 openssl s_server -quiet -accept 8444 -cert "$W/cert.pem" -key "$W/key.pem" -www

mkdir -p "$W/ftproot" /var/run/vsftpd/empty
for port in 21 2121; do
  cat >"$W/vsftpd-$port.conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=$port
anonymous_enable=YES
anon_root=$W/ftproot
local_enable=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
EOF
  start "vsftpd$port" vsftpd "$W/vsftpd-$port.conf"
done

cat >"$W/smtpd.conf" <<EOF
listen on lo port 25
listen on lo port 2525
action "local" mbox
match from local for local action "local"
EOF
start smtpd smtpd -d -f "$W/smtpd.conf"

cat >"$W/dovecot.conf" <<EOF
protocols = imap pop3
listen = 127.0.0.1
base_dir = $W/dovecot-run
state_dir = $W/dovecot-state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = static
  args = password=right
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/mail/%u
}
mail_location = maildir:$W/mail/%u
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imap2 {
    port = 1143
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3b {
    port = 1110
  }
}
log_path = $W/dovecot.log
EOF
mkdir -p "$W/mail"; chown nobody:nogroup "$W/mail"
start dovecot dovecot -F -c "$W/dovecot.conf"

mariadb-install-db --no-defaults --datadir="$W/mysql" --user=root --auth-root-authentication-method=normal >/dev/null 2>&1
start mariadb mariadbd --no-defaults --datadir="$W/mysql" --user=root --bind-address=127.0.0.1 --port=3307 --socket="$W/mysql.sock" --skip-grant-tables=0

mkdir -p "$W/pg"; chown nobody:nogroup "$W/pg"; chown nobody "$W"
su nobody -s /bin/sh -c "initdb -D $W/pg/data -A md5 --pwfile=<(echo secret) -U postgres" >/dev/null 2>&1 ||
  su nobody -s /bin/bash -c "echo secret >$W/pg/pw; initdb -D $W/pg/data -A md5 --pwfile=$W/pg/pw -U postgres" >/dev/null 2>&1
start postgres su nobody -s /bin/sh -c "postgres -D $W/pg/data -h 127.0.0.1 -p 5433 -k $W/pg"

start redis redis-server --port 6380 --bind 127.0.0.1 --save '' --appendonly no

start telnetd socat TCP-LISTEN:2323,bind=127.0.0.1,reuseaddr,fork EXEC:"/usr/sbin/telnetd -h",nofork

for port in 53 5300; do
  start "dnsmasq$port" dnsmasq -d -C /dev/null -k --no-resolv --no-hosts -i lo -p $port --bind-interfaces \
    --address=/example.com/192.0.2.80 --address=/example.org/192.0.2.25 --mx-host=example.org,mail.example.org,10
done

cat >"$W/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:161,udp:127.0.0.1:1161
rocommunity public 127.0.0.1
createUser bob
rouser bob noauth
EOF
start snmpd snmpd -f -Lo -C -c "$W/snmpd.conf" -p "$W/snmpd.pid"

cat >"$W/chrony.conf" <<EOF
port 123
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
pidfile $W/chronyd.pid
driftfile $W/chrony.drift
EOF
start chronyd chronyd -d -x -f "$W/chrony.conf"

# Servers that swallow input, for clients whose server is not installed (SMB,
# RDP): the client's first bytes are real; nDPI and we classify on those.
start sink445 socat TCP-LISTEN:445,bind=127.0.0.1,reuseaddr,fork SYSTEM:'cat >/dev/null'
start sink4455 socat TCP-LISTEN:4455,bind=127.0.0.1,reuseaddr,fork SYSTEM:'cat >/dev/null'
start sink3389 socat TCP-LISTEN:3389,bind=127.0.0.1,reuseaddr,fork SYSTEM:'cat >/dev/null'
start sink3390 socat TCP-LISTEN:3390,bind=127.0.0.1,reuseaddr,fork SYSTEM:'cat >/dev/null'
sleep 4

# ---- traffic
ssh_traffic() {
  for port in 22 2200; do
    $T sshpass -p wrong ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p $port nobody@127.0.0.1 true 2>/dev/null ||
      $T ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p $port nobody@127.0.0.1 true 2>/dev/null
  done
}
http_traffic() {
  for port in 80 8081; do
    $T curl -s -o /dev/null http://127.0.0.1:$port/
    $T curl -s -o /dev/null -X POST -d a=b http://127.0.0.1:$port/login
  done
}
tls_traffic() {
  for port in 443 8444; do
    $T curl -sk -o /dev/null https://127.0.0.1:$port/
    $T curl -sk --tlsv1.2 --tls-max 1.2 -o /dev/null https://127.0.0.1:$port/
    echo | $T openssl s_client -connect 127.0.0.1:$port -servername portal.example >/dev/null 2>&1
  done
}
dns_traffic() {
  for port in 53 5300; do
    $T dig +tries=1 +time=1 @127.0.0.1 -p $port www.example.com A >/dev/null
    $T dig +tries=1 +time=1 @127.0.0.1 -p $port example.org MX >/dev/null
    $T dig +tcp +tries=1 +time=1 @127.0.0.1 -p $port example.net AAAA >/dev/null
  done
}
ftp_traffic() {
  for port in 21 2121; do
    $T curl -s -o /dev/null ftp://127.0.0.1:$port/
    $T curl -s -o /dev/null -u anna:wrong ftp://127.0.0.1:$port/
  done
}
smtp_traffic() {
  printf 'Subject: t\r\n\r\nhi\r\n' >"$W/mail.txt"
  for port in 25 2525; do
    $T curl -s smtp://127.0.0.1:$port --mail-from root@localhost --mail-rcpt root@localhost -T "$W/mail.txt"
    $T curl -s -u anna:wrong smtp://127.0.0.1:$port --mail-from a@localhost --mail-rcpt root@localhost -T "$W/mail.txt"
  done
}
mail_traffic() {
  for port in 110 1110; do
    $T curl -s -o /dev/null pop3://anna:wrong@127.0.0.1:$port/
    $T curl -s -o /dev/null pop3://anna:right@127.0.0.1:$port/
  done
  for port in 143 1143; do
    $T curl -s -o /dev/null "imap://anna:wrong@127.0.0.1:$port/INBOX"
    $T curl -s -o /dev/null "imap://anna:right@127.0.0.1:$port/"
  done
}
mysql_traffic() {
  $T mariadb --no-defaults -h 127.0.0.1 -P 3307 -u root -pwrong -e 'select 1' 2>/dev/null
  $T mariadb --no-defaults -h 127.0.0.1 -P 3307 -u root --skip-ssl -e 'select 1' 2>/dev/null
}
pg_traffic() {
  PGPASSWORD=wrong $T psql "host=127.0.0.1 port=5433 user=postgres sslmode=disable" -c 'select 1' 2>/dev/null
  PGPASSWORD=secret $T psql "host=127.0.0.1 port=5433 user=postgres sslmode=prefer" -c 'select 1' 2>/dev/null
  PGPASSWORD=secret $T psql "host=127.0.0.1 port=5433 user=postgres sslmode=disable" -c 'select 1' 2>/dev/null
}
redis_traffic() {
  $T redis-cli -p 6380 ping >/dev/null
  $T redis-cli -p 6380 set k v >/dev/null
  $T redis-cli -p 6380 get k >/dev/null
  printf 'PING\r\n' | $T socat -t1 - TCP:127.0.0.1:6380 >/dev/null
}
telnet_traffic() {
  { sleep 2; printf 'root\r\n'; sleep 1; } | $T telnet 127.0.0.1 2323 >/dev/null 2>&1
}
snmp_traffic() {
  for port in 161 1161; do
    $T snmpget -v1 -c public -r0 -t1 127.0.0.1:$port 1.3.6.1.2.1.1.1.0 >/dev/null 2>&1
    $T snmpget -v2c -c public -r0 -t1 127.0.0.1:$port 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1
    $T snmpget -v3 -u bob -l noAuthNoPriv -r0 -t1 127.0.0.1:$port 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1
  done
}
ntp_traffic() {
  $T sntp -t 2 127.0.0.1 >/dev/null 2>&1
  $T chronyd -Q -f /dev/null "server 127.0.0.1 iburst maxsamples 2" >/dev/null 2>&1
}
smb_rdp_traffic() {
  for port in 445 4455; do
    $T smbclient -N -L //127.0.0.1 -p $port -t 2 >/dev/null 2>&1
  done
  # nmap's RDP probe (TerminalServerCookie) and SMB probe, from nmap itself.
  $T nmap -Pn -n -sV --version-all -p 3389,3390 127.0.0.1 >/dev/null 2>&1
}

capture ssh ssh_traffic
capture http http_traffic
capture tls tls_traffic
capture dns dns_traffic
capture ftp ftp_traffic
capture smtp smtp_traffic
capture pop3-imap mail_traffic
capture mysql mysql_traffic
capture postgresql pg_traffic
capture redis redis_traffic
capture telnet telnet_traffic
capture snmp snmp_traffic
capture ntp ntp_traffic
capture smb-rdp smb_rdp_traffic
mergecap -w "$OUT/all.pcapng" "$OUT"/{ssh,http,tls,dns,ftp,smtp,pop3-imap,mysql,postgresql,redis,telnet,snmp,ntp,smb-rdp}.pcapng
echo "merged: $OUT/all.pcapng"
