# Sourced by bench/profile-xmppd.sh and bench/sweep-xmppd.sh: the xmppd
# config both run with (as bench/compare.sh runs it: STARTTLS on loopback,
# in-band registration open, limits and throttles off, no archive unless
# ARCHIVE=true; SQLite in the data directory unless STORAGE_DSN names a
# PostgreSQL database; WRITE_INTERVAL sets [archive] write_interval, e.g.
# 100ms), and a wait for the listener.

# xmppd_config FILE DATA_DIR PORT
xmppd_config() {
	cat >"$1" <<CONF
data_dir = "$2"
log_level = "warn"
[[host]]
domain = "localhost"
registration = true
[[listen]]
type = "c2s"
address = "127.0.0.1:$3"
tls = "starttls"
[registration]
min_interval = "0s"
[archive]
enabled = ${ARCHIVE:-false}
${WRITE_INTERVAL:+write_interval = \"$WRITE_INTERVAL\"}
[limits]
max_connections_per_ip = 0
connection_rate = 0.0
auth_failure_delay = "0s"
max_sessions = 0
CONF
	if [ -n "${STORAGE_DSN:-}" ]; then
		printf '[storage]\ndriver = "postgres"\ndsn = "%s"\n' "$STORAGE_DSN" >>"$1"
	fi
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most)
wait_port() {
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
