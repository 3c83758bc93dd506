# Sourced by the benchmark scripts: a PostgreSQL server of their own in a temporary directory (Debian's initdb,
# unix socket only, fsync as configured), started by postgres_start DIR and stopped by postgres_stop. As root
# the server runs as the postgres user (it refuses root). Sets POSTGRES_URL to its `postgres` database.
postgres_start() {
  local dir=$1
  POSTGRES_DIR=$dir
  POSTGRES_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $POSTGRES_BIN ]] || { echo "no PostgreSQL server: bash scripts/install-deps.sh" >&2; return 1; }
  POSTGRES_AS=()
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    POSTGRES_AS=(runuser -u postgres --)
  fi
  "${POSTGRES_AS[@]}" "$POSTGRES_BIN/initdb" -D "$dir/pg" -U neardup --auth=trust >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  "${POSTGRES_AS[@]}" "$POSTGRES_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir'" start >/dev/null || { cat "$dir/pg.log" >&2; return 1; }
  POSTGRES_URL="postgresql://neardup@/postgres?host=$dir"
}
postgres_stop() {
  [[ -n ${POSTGRES_DIR:-} ]] || return 0
  "${POSTGRES_AS[@]}" "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
}
