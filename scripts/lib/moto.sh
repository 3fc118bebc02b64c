# Sourced by scripts/test and scripts/iam-check: installs moto (and localstripe) into $venv on
# first use and starts a server of its own on a free loopback port. Sets moto_port and moto_pid;
# stops it on exit. Usage: start_moto LOGFILE; then, for the Stripe adapter's tests,
# start_localstripe LOGFILE (sets localstripe_port and localstripe_pid).

start_moto() {
  local log=$1
  if ! "$venv/bin/python" -c 'import moto, localstripe' >/dev/null 2>&1; then
    echo "installing moto into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  fi
  moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  mkdir -p target
  "$venv/bin/python" scripts/moto_serial.py 127.0.0.1 "$moto_port" >"$log" 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 150); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=1)" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "moto did not start; see $log" >&2
  exit 1
}

start_localstripe() {
  local log=$1
  localstripe_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  "$venv/bin/localstripe" --port "$localstripe_port" --from-scratch >"$log" 2>&1 &
  localstripe_pid=$!
  trap 'kill "$moto_pid" "$localstripe_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 150); do
    if python3 -c "import urllib.request, urllib.error
try:
    urllib.request.urlopen('http://127.0.0.1:$localstripe_port/v1/customers', timeout=1)
except urllib.error.HTTPError:
    pass" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "localstripe did not start; see $log" >&2
  exit 1
}
