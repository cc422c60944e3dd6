#!/usr/bin/env bash
# Runs the same xmppload scenarios against xmppd, Prosody (default GC and
# generational GC) and ejabberd, one after the other on this machine, and
# writes a comparison table (markdown + JSON) with the machine's description.
#
#   sudo bash bench/compare.sh            # full size (see the defaults below)
#   IDLE=2000 LOGIN=500 CHAT_S=10s sudo bash bench/compare.sh   # smaller
#
# Needs root: it installs prosody and ejabberd from the distribution's
# packages (apt-get) if they are missing, and runs ejabberd as its package
# user. Every server listens on loopback only, on its own ports, with its
# own data directory in a temporary work directory, a self-signed
# certificate made here with openssl, the domain "localhost", accounts
# created the same way (in-band registration, XEP-0077) and the same SASL
# mechanism (SCRAM-SHA-1, 4096 iterations: the one all three store).
# Limits and shapers are lifted in bench/prosody.cfg.lua, bench/ejabberd.yml
# and the xmppd config written below.
#
# The load generator shares the machine with the server, so each result
# carries the harness's own CPU and the load average; compare ratios within
# one run, not absolute rates across runs.
#
# Environment (defaults in brackets):
#   SERVERS       which columns, in order ["xmppd prosody prosody-gen ejabberd"]
#   SCENARIOS     which scenarios ["login chat muc roster idle"]; idle runs on a
#                 freshly restarted server, so earlier scenarios do not move its
#                 baseline
#   IDLE [10000]  IDLE_HOLD [70s]   idle sessions, settle time before measuring
#                 (70 s lets xmppd's once-a-minute return of free memory run)
#   LOGIN [2000]  LOGIN_CONC [100]  login scenario
#   CHAT_PAIRS [500] CHAT_S [20s] CHAT_WINDOW [8]  chat, full speed then fixed rate
#   CHAT_RATE     fixed rate per session (default: half of each server's own
#                 full-speed delivered rate, split over its sessions)
#   ROSTER_USERS [200] ROSTER_K [20]   roster scenario
#   MUC_M [50] MUC_RATE [5] MUC_S [20s]  muc scenario
#   MECH [SCRAM-SHA-1]   OUT [bench/results]   KEEP=1 keeps the work directory
#   XMPPD_ARCHIVE [false]  xmppd's [archive] enabled: the anchors' configs load
#                 no message archive (mod_mam), so by default xmppd does not
#                 archive either; true measures it with XEP-0313 archiving of
#                 every chat message (two SQLite rows per message)
#   PORT_XMPPD [15222] PORT_PROSODY [25222] PORT_EJABBERD [35222]
#                 (direct TLS is PORT+1)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=${SERVERS:-"xmppd prosody prosody-gen ejabberd"}
SCENARIOS=${SCENARIOS:-"login chat muc roster idle"}
IDLE=${IDLE:-10000}
IDLE_HOLD=${IDLE_HOLD:-70s}
LOGIN=${LOGIN:-2000}
LOGIN_CONC=${LOGIN_CONC:-100}
CHAT_PAIRS=${CHAT_PAIRS:-500}
CHAT_S=${CHAT_S:-20s}
CHAT_WINDOW=${CHAT_WINDOW:-8}
ROSTER_USERS=${ROSTER_USERS:-200}
ROSTER_K=${ROSTER_K:-20}
MUC_M=${MUC_M:-50}
MUC_RATE=${MUC_RATE:-5}
MUC_S=${MUC_S:-20s}
MECH=${MECH:-SCRAM-SHA-1}
XMPPD_ARCHIVE=${XMPPD_ARCHIVE:-false}
OUT=${OUT:-$root/bench/results}
PORT_XMPPD=${PORT_XMPPD:-15222}
PORT_PROSODY=${PORT_PROSODY:-25222}
PORT_EJABBERD=${PORT_EJABBERD:-35222}
PASSWORD=load-secret
DOMAIN=localhost

accounts=$IDLE
for n in $LOGIN $((2 * CHAT_PAIRS)) $MUC_M; do
	if [ "$n" -gt "$accounts" ]; then accounts=$n; fi
done

if [ "$(id -u)" != 0 ]; then
	echo "compare.sh needs root (apt-get, running ejabberd as its user)" >&2
	exit 1
fi
if ! command -v prosody >/dev/null || ! command -v ejabberdctl >/dev/null; then
	echo "== installing prosody and ejabberd (apt-get)"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q prosody ejabberd
fi
# The packages start their own services on the standard ports on a normal
# system: they would take CPU and memory during the run.
for svc in prosody ejabberd; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		echo "== stopping the system's $svc service for the run"
		systemctl stop "$svc"
	fi
done
for p in $PORT_XMPPD $((PORT_XMPPD + 1)) $PORT_PROSODY $((PORT_PROSODY + 1)) $PORT_EJABBERD $((PORT_EJABBERD + 1)); do
	if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
		echo "port $p is in use: set PORT_XMPPD / PORT_PROSODY / PORT_EJABBERD" >&2
		exit 1
	fi
done

work=$(mktemp -d /tmp/xmppd-compare.XXXXXX)
chmod 755 "$work"
results=$work/results.jsonl
: >"$results"
server_pid=
launcher_pid=
stop_cmd=
epmd_before=$(pgrep -x epmd || true)
stop_server() {
	if [ -n "$stop_cmd" ]; then
		eval "$stop_cmd" >/dev/null 2>&1 || true
	elif [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
	fi
	if [ -n "$launcher_pid" ]; then
		for _ in $(seq 100); do kill -0 "$launcher_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$launcher_pid" 2>/dev/null || true
		wait "$launcher_pid" 2>/dev/null || true
	fi
	server_pid= launcher_pid= stop_cmd=
}
cleanup() {
	stop_server
	# epmd is started by ejabberd's Erlang VM as a daemon; stop it only if
	# this run started it.
	if [ -z "$epmd_before" ]; then
		for p in $(pgrep -x epmd || true); do kill "$p" 2>/dev/null || true; done
	fi
	if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

# the revision that is built and measured (commits made while the run goes
# on must not be credited to it)
rev="$(cd "$root" && git rev-parse --short HEAD 2>/dev/null)$(cd "$root" && git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
echo "== building xmppd and xmppload ($rev) into $work"
(cd "$root" && go build -o "$work/bin/xmppd" ./cmd/xmppd && go build -o "$work/bin/xmppload" ./cmd/xmppload)
X=$work/bin/xmppload

echo "== self-signed certificate for $DOMAIN (ECDSA P-256)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
	-subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN,DNS:conference.$DOMAIN" \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

fdlimit=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$fdlimit" ]; then fdlimit=$hard; fi
if [ "$fdlimit" -lt $((IDLE + 256)) ]; then
	echo "ulimit -Hn is $hard: too low for IDLE=$IDLE" >&2
	exit 1
fi

wait_port() {
	for _ in $(seq 120); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.5
	done
	echo "nothing listens on $1" >&2
	return 1
}

start_xmppd() {
	local d=$work/srv-xmppd
	mkdir -p "$d"
	cat >"$d/xmppd.toml" <<EOF
data_dir = "$d/data"
log_level = "warn"

[[host]]
domain = "$DOMAIN"
cert_file = "$work/cert.pem"
key_file = "$work/key.pem"
registration = true

[[listen]]
type = "c2s"
address = "127.0.0.1:$PORT_XMPPD"
tls = "starttls"

[[listen]]
type = "c2s"
address = "127.0.0.1:$((PORT_XMPPD + 1))"
tls = "direct"

[registration]
min_interval = "0s"

[archive]
enabled = $XMPPD_ARCHIVE

[limits]
max_connections_per_ip = 0
connection_rate = 0.0
auth_failure_delay = "0s"
auth_timeout = "5m"
max_sessions = 0
EOF
	bash -c "ulimit -n $fdlimit; exec '$work/bin/xmppd' serve -config '$d/xmppd.toml'" 2>"$d/xmppd.log" &
	server_pid=$!
	launcher_pid=$server_pid
	port=$PORT_XMPPD
	wait_port "$port"
}

# start_prosody DATA_DIR_NAME GC_LINE
start_prosody() {
	local d=$work/srv-prosody
	mkdir -p "$d/data"
	cp "$work/cert.pem" "$work/key.pem" "$d/"
	sed -e "s|@DIR@|$d|g; s|@PORT@|$PORT_PROSODY|; s|@DPORT@|$((PORT_PROSODY + 1))|; s|@GC@|$1|" \
		"$root/bench/prosody.cfg.lua" >"$d/prosody.cfg.lua"
	bash -c "ulimit -n $fdlimit; exec prosody --config '$d/prosody.cfg.lua' -F" >"$d/stdout.log" 2>&1 &
	server_pid=$!
	launcher_pid=$server_pid
	port=$PORT_PROSODY
	wait_port "$port"
}

start_prosody_default() { start_prosody ""; }
start_prosody_gen() { start_prosody 'gc = { mode = "generational" }'; }

start_ejabberd() {
	local d=$work/srv-ejabberd
	mkdir -p "$d/spool" "$d/logs"
	cat "$work/cert.pem" "$work/key.pem" >"$d/ejabberd.pem"
	chmod 600 "$d/ejabberd.pem"
	sed -e "s|@DIR@|$d|g; s|@PORT@|$PORT_EJABBERD|; s|@DPORT@|$((PORT_EJABBERD + 1))|" \
		"$root/bench/ejabberd.yml" >"$d/ejabberd.yml"
	# our own ejabberdctl.cfg, so /etc/ejabberd's (which names the system
	# config file) is not read; Erlang distribution on loopback only
	cat >"$d/ejabberdctl.cfg" <<EOF
EJABBERD_CONFIG_PATH=$d/ejabberd.yml
EJABBERD_PID_PATH=$d/ejabberd.pid
ERL_MAX_PORTS=65536
ERL_EPMD_ADDRESS=127.0.0.1
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
EOF
	touch "$d/inetrc"
	chown -R ejabberd:ejabberd "$d"
	local ctl="ejabberdctl --config-dir $d --ctl-config $d/ejabberdctl.cfg --config $d/ejabberd.yml --spool $d/spool --logs $d/logs --node bench@localhost"
	# ejabberdctl run by root switches to the ejabberd user with su, and
	# su's PAM session resets the descriptor limit to 1024 (ejabberd then
	# failed accepts and Mnesia crashed at ~1,000 sessions). setpriv keeps
	# the limit raised here; as the ejabberd user ejabberdctl does not su.
	bash -c "ulimit -n $fdlimit; exec setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME=/var/lib/ejabberd $ctl foreground" >"$d/stdout.log" 2>&1 &
	launcher_pid=$!
	stop_cmd="setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME=/var/lib/ejabberd $ctl stop"
	port=$PORT_EJABBERD
	wait_port "$port"
	server_pid=$(pgrep -u ejabberd -f "beam.smp.*bench@localhost" | head -1)
}

# load SCENARIO LABEL [flags...]: runs xmppload with the common flags.
load() {
	local sc=$1 label=$2
	shift 2
	echo "-- $label: xmppload $sc $*"
	"$X" "$sc" -addr "127.0.0.1:$port" -domain "$DOMAIN" -password "$PASSWORD" -mech "$MECH" \
		-pid "$server_pid" -label "$label" -json "$results" "$@"
}

skip() { # skip SCENARIO LABEL REASON
	printf '{"scenario":"%s","label":"%s","time":"%s","skipped":"%s"}\n' "$1" "$2" "$(date -u +%FT%TZ)" "$3" >>"$results"
	echo "-- $2: $1 skipped: $3"
}

# settle waits (bounded) until the server is idle, so a backlog left by
# one scenario is not charged to the next.
settle() { "$X" settle -pid "$server_pid" -below 0.05 -max 120s || true; }
want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

# run_server LABEL SETUP RESTART: SETUP=1 creates the accounts and rosters;
# RESTART is the command that starts the server again (for idle).
run_server() {
	local label=$1 setup=$2 restart=$3
	echo "== $label (pid $server_pid, port $port), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ "$setup" = 1 ]; then
		# Not fatal: a failure shows in the scenarios' results (failed
		# logins, rosters_incomplete). The timeout is generous because a
		# loaded machine slows the anchors' disk-backed roster writes.
		"$X" register -addr "127.0.0.1:$port" -domain "$DOMAIN" -password "$PASSWORD" -user-prefix u -users "$accounts" -concurrency 32 -timeout 120s || true
		"$X" register -addr "127.0.0.1:$port" -domain "$DOMAIN" -password "$PASSWORD" -user-prefix r -users "$ROSTER_USERS" -concurrency 32 -timeout 120s || true
		"$X" roster-setup -addr "127.0.0.1:$port" -domain "$DOMAIN" -password "$PASSWORD" -mech "$MECH" -user-prefix r -users "$ROSTER_USERS" -contacts "$ROSTER_K" -concurrency 32 -timeout 120s || true
		settle
	fi
	settle
	if want login; then
		load login "$label" -user-prefix u -users 0 -sessions "$LOGIN" -concurrency "$LOGIN_CONC" || true
		settle
	fi
	if want chat; then
		load chat "$label" -user-prefix u -users 0 -pairs "$CHAT_PAIRS" -rate 0 -window "$CHAT_WINDOW" -duration "$CHAT_S" | tee "$work/chat-$label.out" || true
		settle
		# Fixed rate: half of this server's own full-speed rate (the issue's
		# latency target is at half of xmppd's saturation; the anchors are
		# measured the same way, at half of theirs), unless CHAT_RATE is set.
		local rate=${CHAT_RATE:-} sat
		if [ -z "$rate" ]; then
			sat=$(sed -n 's/.*"delivered_per_s":\([0-9.e+]*\).*/\1/p' "$work/chat-$label.out" | tail -1)
			rate=$(awk -v s="${sat:-0}" -v n=$((2 * CHAT_PAIRS)) 'BEGIN { r = s / 2 / n; if (r <= 0) r = 10; printf "%.2f", r }')
			echo "-- fixed-rate chat: half of $label's ${sat:-?} msg/s = $rate msg/s per session"
		fi
		# a server slower than the offered rate queues: give it 30 s to catch up
		# before counting what is missing as lost
		load chat "$label" -user-prefix u -users 0 -pairs "$CHAT_PAIRS" -rate "$rate" -duration "$CHAT_S" -drain 30s \
			-variant "chat, fixed rate: half of the server's own full-speed rate" || true
		settle
	fi
	if want muc; then
		if "$X" disco -addr "127.0.0.1:$port" -domain "$DOMAIN" -password "$PASSWORD" -mech "$MECH" -user-prefix u -jid "conference.$DOMAIN" >/dev/null 2>&1; then
			load muc "$label" -user-prefix u -users 0 -occupants "$MUC_M" -rate "$MUC_RATE" -duration "$MUC_S" || true
			settle
		else
			skip muc "$label" "no disco#info answer from conference.$DOMAIN"
		fi
	fi
	if want roster; then
		load roster "$label" -user-prefix r -users "$ROSTER_USERS" -contacts "$ROSTER_K" -concurrency 32 || true
		settle
	fi
	if want idle; then
		echo "-- $label: restarting for idle"
		stop_server
		$restart
		sleep 2 # let start-up settle before the baseline reading
		load idle "$label" -user-prefix u -users 0 -sessions "$IDLE" -concurrency 64 -hold "$IDLE_HOLD" || true
	fi
}

started=$(date -u +%FT%TZ)
for s in $SERVERS; do
	case $s in
	xmppd)
		start_xmppd
		run_server xmppd 1 start_xmppd
		;;
	prosody)
		start_prosody ""
		run_server prosody 1 start_prosody_default
		;;
	prosody-gen)
		# same data directory as "prosody" when both run: accounts and
		# rosters are already there
		setup=1
		if [ -d "$work/srv-prosody/data/localhost" ]; then setup=0; fi
		start_prosody 'gc = { mode = "generational" }'
		run_server prosody-gen "$setup" start_prosody_gen
		;;
	ejabberd)
		start_ejabberd
		run_server ejabberd 1 start_ejabberd
		;;
	*)
		echo "unknown server $s" >&2
		exit 1
		;;
	esac
	stop_server
done
finished=$(date -u +%FT%TZ)

mkdir -p "$OUT"
stamp=$(date -u +%Y%m%d-%H%M)
machine=$work/machine.txt
{
	echo "run: $started to $finished (UTC)"
	echo "command: $(printf '%q ' env SERVERS="$SERVERS" SCENARIOS="$SCENARIOS" IDLE=$IDLE IDLE_HOLD=$IDLE_HOLD LOGIN=$LOGIN LOGIN_CONC=$LOGIN_CONC CHAT_PAIRS=$CHAT_PAIRS CHAT_S=$CHAT_S CHAT_WINDOW=$CHAT_WINDOW ROSTER_USERS=$ROSTER_USERS ROSTER_K=$ROSTER_K MUC_M=$MUC_M MUC_RATE=$MUC_RATE MUC_S=$MUC_S MECH=$MECH XMPPD_ARCHIVE=$XMPPD_ARCHIVE bash bench/compare.sh)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $(nproc)"
	echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version | cut -d' ' -f3-)"
	echo "xmppd: $rev, as built at the start of the run"
	echo "prosody: $(dpkg-query -W -f '${Version}' prosody), $(lua5.4 -v 2>&1 | head -1)"
	echo "ejabberd: $(dpkg-query -W -f '${Version}' ejabberd), erts $(ls /usr/lib/erlang | grep -m1 erts- | sed 's/erts-//')"
	echo "file descriptors: $fdlimit"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$machine"
cp "$results" "$OUT/$stamp.jsonl"
{
	echo "# xmppd / Prosody / ejabberd, $stamp"
	echo
	sed 's/^/- /' "$machine"
	echo
	echo "Accounts u0..u$((accounts - 1)) (one per session) and r0..r$((ROSTER_USERS - 1)) (ring of $ROSTER_K mutual contacts),"
	echo "created by in-band registration; STARTTLS, $MECH, bind, initial presence. The load generator"
	echo "runs on the same machine: its own CPU is the 'harness CPU' row."
	"$X" report -base xmppd -json-out "$OUT/$stamp.json" -machine "$machine" "$results"
} >"$OUT/$stamp.md"
echo "== results: $OUT/$stamp.md, $OUT/$stamp.json ($OUT/$stamp.jsonl: raw lines)"
cat "$OUT/$stamp.md"
