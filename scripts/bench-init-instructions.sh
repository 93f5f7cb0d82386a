#!/usr/bin/env bash
# Init cost in instructions (figures, not pass/fail): for each release function binary and a
# hello-world lambda_runtime binary, the instructions executed from process start until the
# binary first asks the Lambda Runtime API for an event (valgrind's callgrind; a stub Runtime API
# that never hands out an event). Unlike wall time this does not move with the host's load.
# Needs valgrind (apt-get install valgrind) and the release binaries (scripts/bench-functions.sh
# builds them); skips with a message when valgrind is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v valgrind >/dev/null; then
  echo "valgrind not installed: init instructions skipped (apt-get install valgrind)"
  exit 0
fi
bin_dir="${CLAWLESS_BENCH_BIN_DIR:-target/release}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat > "$work/runtime_api.py" <<'PY'
# A Lambda Runtime API that never hands out an event: marks the first GET of /next, then holds it.
import http.server, sys, time
marker = sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(marker, "w").write("1")
        time.sleep(3600)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY

# The environment of a function in Lambda (credentials in the environment), with AWS pointed at a
# port nothing answers: init makes no AWS call.
lambda_env=(
  AWS_LAMBDA_FUNCTION_NAME=bench AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
  AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=http://127.0.0.1:9
  CLAWLESS_INBOUND_QUEUE_URL=http://127.0.0.1:9/123456789012/q.fifo
  CLAWLESS_REPLY_QUEUE_URL=http://127.0.0.1:9/123456789012/r.fifo
  CLAWLESS_AGENT_RUNTIME_ARN=arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x
  CLAWLESS_SCHEDULE_GROUP=clawless
  CLAWLESS_APPROVAL_TIMEOUT_ARN=arn:aws:lambda:us-east-1:123456789012:function:approval-timeout
  CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN=arn:aws:iam::123456789012:role/approval-invoke
  CLAWLESS_TENANT_ROLE_ARN=arn:aws:iam::123456789012:role/tenant-access
  CLAWLESS_MEMORY_BUCKET_ARN=arn:aws:s3:::memory
  CLAWLESS_SCOPE_KEY_SECRET=arn:aws:secretsmanager:us-east-1:123456789012:secret:scope
  CLAWLESS_COGNITO_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench
  CLAWLESS_COGNITO_CLIENT_ID=bench
  CLAWLESS_COGNITO_USER_POOL_ID=us-east-1_bench
)

# Prints the instructions (millions) `binary` runs until it first asks for an event.
instructions() {
  local binary="$1" port marker out pid api
  port=$((20000 + RANDOM % 20000))
  marker="$work/next-$port"
  out="$work/callgrind-$port"
  python3 "$work/runtime_api.py" "$port" "$marker" & api=$!
  sleep 0.3
  env -i PATH="$PATH" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" "${lambda_env[@]}" \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 1 300); do [ -f "$marker" ] && break; sleep 0.1; done
  sleep 0.3
  callgrind_control -d "$pid" >/dev/null 2>&1 || true
  sleep 0.5
  kill -9 "$pid" "$api" 2>/dev/null || true
  wait "$pid" "$api" 2>/dev/null || true
  [ -f "$marker" ] || { echo "n/a (never asked for an event)"; return; }
  cat "$out"* 2>/dev/null | awk '/^(summary|totals):/ {print $2; exit}' | python3 -c 'import sys; v=sys.stdin.read().strip(); print(f"{int(v)/1e6:.2f} M" if v else "n/a")'
}

printf '%-18s %14s\n' binary "instructions"
printf '%-18s %14s\n' hello-world "$(instructions "$bin_dir/examples/hello_lambda")"
for f in webhook dispatcher reply approval-timeout scheduler admin; do
  printf '%-18s %14s\n' "$f" "$(instructions "$bin_dir/$f")"
done
