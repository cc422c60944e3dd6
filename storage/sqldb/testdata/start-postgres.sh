#!/usr/bin/env bash
# Start a local PostgreSQL for the sqldb tests and print the DSN on stdout
# (everything else goes to stderr), so CI can do:
#
#   export XMPPD_TEST_POSTGRES_DSN="$(bash storage/sqldb/testdata/start-postgres.sh)"
#
# Idempotent: installs PostgreSQL with apt-get only if it is missing, starts
# the cluster only if it is down, and creates role xmppd (password xmppd)
# and database xmppd_test only if they do not exist. Needs root (or sudo).
set -euo pipefail

log() { echo "start-postgres: $*" >&2; }

SUDO=""
AS_POSTGRES=(runuser -u postgres --)
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
	AS_POSTGRES=(sudo -u postgres)
fi

# Newest installed major version, if any.
pg_version() {
	ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1
}

if [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null; then
	log "installing postgresql via apt-get"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2
	$SUDO apt-get install -y -qq postgresql >&2
fi
VER="$(pg_version)"
if [ -z "$VER" ]; then
	log "no PostgreSQL found under /usr/lib/postgresql after install"
	exit 1
fi

# Debian's package creates cluster "main"; recreate it if it was removed.
if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$VER/main"; then
	log "creating cluster $VER/main"
	$SUDO pg_createcluster "$VER" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$VER" '$1==v && $2=="main" {print $4}' | grep -q online; then
	log "starting cluster $VER/main"
	$SUDO pg_ctlcluster "$VER" main start >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VER" '$1==v && $2=="main" {print $3}')"

# Wait until it accepts connections (a fresh start takes a moment).
for _ in $(seq 1 30); do
	if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
		break
	fi
	sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || {
	log "PostgreSQL on port $PORT not ready after 30s"
	exit 1
}

psql_admin() {
	# cd / so that psql run as postgres does not complain about our cwd.
	(cd / && "${AS_POSTGRES[@]}" psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@")
}

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'xmppd'")" != "1" ]; then
	log "creating role xmppd"
	psql_admin -c "CREATE ROLE xmppd LOGIN PASSWORD 'xmppd'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'xmppd_test'")" != "1" ]; then
	log "creating database xmppd_test"
	psql_admin -c "CREATE DATABASE xmppd_test OWNER xmppd" >&2
fi
# The tests create one schema per test; PostgreSQL 15 no longer grants
# CREATE on schema public to everyone, and owning the database covers
# CREATE SCHEMA.

echo "postgres://xmppd:xmppd@127.0.0.1:${PORT}/xmppd_test?sslmode=disable"
