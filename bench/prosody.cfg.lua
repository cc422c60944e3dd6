-- Prosody for bench/compare.sh. The script replaces @DIR@ (its work
-- directory), @PORT@ (STARTTLS c2s), @DPORT@ (direct TLS c2s) and @GC@
-- (a gc = {...} line or nothing) and runs it in the foreground.
-- Loopback only; every limit that could throttle the load generator is
-- off: no mod_limits (no c2s rate), no registration throttle, no
-- MUC rate limits (0.12 has none built in).

run_as_root = true -- the script runs as root in a throwaway container
daemonize = false
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
log = { warn = "@DIR@/prosody.log" }

interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_direct_tls_ports = { @DPORT@ }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_disabled = { "s2s" }
network_settings = { tcp_backlog = 1024 }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "message"; "iq";
	"register";
}
@GC@

authentication = "internal_hashed"
default_iteration_count = 4096 -- what xmppd and ejabberd use
storage = "internal"
c2s_require_encryption = true
allow_registration = true
min_seconds_between_registrations = nil
allowlist_registration_only = false

certificates = "@DIR@" -- the key pair is named below; this only stops a warning
ssl = { certificate = "@DIR@/cert.pem"; key = "@DIR@/key.pem"; }

VirtualHost "localhost"

Component "conference.localhost" "muc"
	restrict_room_creation = false
	max_history_messages = 0
	muc_room_default_history_length = 0
	muc_max_occupants = 10000
