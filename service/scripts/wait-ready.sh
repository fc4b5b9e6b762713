# Sourced by the scripts that start a server: `wait_ready URL PID LOG NAME`
# polls URL for up to 60 s while process PID lives; if it exits, or never
# answers, says so with NAME and the end of LOG, and exits.
wait_ready() {
  local url="$1" pid="$2" log="$3" name="$4"
  for _ in $(seq 600); do
    curl -fs "$url" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "$name exited:" >&2; tail -50 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name never became ready ($url)" >&2
  tail -50 "$log" >&2
  exit 1
}
