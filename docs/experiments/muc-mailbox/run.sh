#!/bin/bash
# run.sh BIN ARCHIVE(true|false) LABEL PORT: one xmppload muc run (50 occupants x 5 msg/s x 20 s)
# against /tmp/mucb/BIN (an xmppd binary), appending to /tmp/mucb/results.jsonl.
# Needs /tmp/mucb/{cert,key}.pem and /tmp/mucb/xmppload; PPROF=host:port adds -pprof.
# MUCARCH=true|false sets [muc] archive (the room archive), MUCINT=100ms [muc] archive_interval
# (both unset: the binary's defaults; [muc] archive is from 6a4b393, archive_interval from d2f2d27).
set -e
bin=$1 arch=$2 label=$3 port=$4
d=/tmp/mucb/srv-$label; rm -rf $d; mkdir -p $d
cat >$d/xmppd.toml <<EOT
data_dir = "$d/data"
log_level = "warn"
[[host]]
domain = "localhost"
cert_file = "/tmp/mucb/cert.pem"
key_file = "/tmp/mucb/key.pem"
registration = true
[[listen]]
type = "c2s"
address = "127.0.0.1:$port"
tls = "starttls"
[registration]
min_interval = "0s"
[muc]
${MUCARCH:+archive = $MUCARCH}
${MUCINT:+archive_interval = \"$MUCINT\"}
[archive]
enabled = $arch
[limits]
max_connections_per_ip = 0
connection_rate = 0.0
auth_failure_delay = "0s"
auth_timeout = "5m"
max_sessions = 0
EOT
/tmp/mucb/$bin serve -config $d/xmppd.toml ${PPROF:+-pprof $PPROF} 2>$d/log & pid=$!
trap "kill $pid; wait $pid" EXIT
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
X=/tmp/mucb/xmppload
$X register -addr 127.0.0.1:$port -domain localhost -password load-secret -user-prefix u -users 50 -concurrency 16 -timeout 120s >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
$X muc -addr 127.0.0.1:$port -domain localhost -password load-secret -mech SCRAM-SHA-1 -pid $pid -label $label -json /tmp/mucb/results.jsonl -user-prefix u -users 0 -occupants 50 -rate 5 -duration 20s
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
