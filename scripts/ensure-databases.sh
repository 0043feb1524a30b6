#!/usr/bin/env bash
# Makes sure the local PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) the tests use are
# running, starting them with the machine's own commands when they are down, and drops the
# databases earlier test runs left behind.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
maria_up() { mariadb-admin -h 127.0.0.1 -P 3306 -u root ping --silent >/dev/null 2>&1; }

if ! pg_up; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! maria_up; then
  echo "starting MariaDB" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 60); do pg_up && maria_up && break; sleep 0.5; done
pg_up || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
maria_up || { echo "MariaDB is not answering on 127.0.0.1:3306" >&2; exit 1; }

for db in $(mariadb -h 127.0.0.1 -u root -N -e "SHOW DATABASES LIKE 'tocsin\_it\_%'"); do
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE \`$db\`"
done
for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'tocsin\_it\_%'"); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE \"$db\"" >/dev/null
done
