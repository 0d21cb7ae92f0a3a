#!/usr/bin/env bash
# Builds Orchestrator's documentation, with examples captured from a live server:
#
#   1. starts a throwaway server on 127.0.0.1:$PORT (the Dummy cloud, a SQLite store in a
#      temporary folder, an administrator key made up for this run);
#   2. once /healthz answers, calls documented routes with curl and writes each real exchange
#      into docs/examples/ (generated, not committed), which the pages include; a webhook
#      receiver on another free port keeps the notices it is sent, signature and all. It
#      also scrapes /metrics and, once the server stopped, keeps some of its JSON log lines
#      (the server logs with LOG_FORMAT = "json"), for docs/monitoring.rst;
#   3. stops the server and builds the HTML with Sphinx, warnings as errors, into $BUILD_DIR.
#
# The server is stopped whatever happens. Run it from anywhere, with the environment's python
# first on PATH (`make docs` does that); if the port is taken: PORT=<another port> ./make_mw_docs.sh
set -euo pipefail

PORT="${PORT:-5050}"                         # the fake server's port; written nowhere else
PYTHON="${PYTHON:-python}"                   # needs dispatcher, sphinx, sphinxcontrib-httpdomain
BUILD_DIR="${BUILD_DIR:-}"                   # where the HTML goes (default docs/_build/html)
STARTUP_SECONDS="${STARTUP_SECONDS:-30}"     # how long the server may take to answer /healthz
RUN_SECONDS="${RUN_SECONDS:-20}"             # how long the example job's run may take to finish

# A BUILD_DIR given relative to where the script was called from stays so after the cd.
if [[ -n $BUILD_DIR && $BUILD_DIR != /* ]]; then BUILD_DIR="$PWD/$BUILD_DIR"; fi
cd "$(dirname "$0")"
BUILD_DIR="${BUILD_DIR:-docs/_build/html}"
BASE="http://127.0.0.1:$PORT"

say() { printf 'make_mw_docs.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
port_in_use() {
    die "port $PORT is in use; set PORT=<a free port> (the port setting at the top of this script)," \
        "e.g. PORT=$((PORT + 1)) $0"
}

[[ $PORT =~ ^[0-9]+$ ]] && (( PORT >= 1 && PORT <= 65535 )) || die "PORT must be a TCP port number, not '$PORT'"
command -v curl >/dev/null || die "curl is needed to capture the examples; install it"
"$PYTHON" -c 'import dispatcher, sphinx, sphinxcontrib.httpdomain' 2>/dev/null \
    || die "'$PYTHON' cannot import dispatcher, sphinx and sphinxcontrib.httpdomain;" \
           "put the project's environment first on PATH (make docs does) or pip install -e '.[docs]'"

# Checked before starting: a server that cannot bind would leave the other one answering.
if "$PYTHON" - "$PORT" <<'EOF'
import socket, sys
with socket.socket() as probe:
    probe.settimeout(1)
    sys.exit(0 if probe.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
then
    port_in_use
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-docs.XXXXXX")
SERVER_PID=""
RECEIVER_PID=""

stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
stop_receiver() {
    if [[ -n $RECEIVER_PID ]] && kill -0 "$RECEIVER_PID" 2>/dev/null; then
        kill "$RECEIVER_PID" 2>/dev/null || true
        wait "$RECEIVER_PID" 2>/dev/null || true
    fi
    RECEIVER_PID=""
}
cleanup() {
    local status=$?
    stop_server
    stop_receiver
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- 1. the throwaway server ------------------------------------------------------------------
ADMIN_KEY=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')
"$PYTHON" - "$WORK" <<'EOF'
import os, sys
work = sys.argv[1]
with open(os.path.join(work, "settings.py"), "w") as settings:
    settings.write(f"""# The documentation server's settings, written by make_mw_docs.sh.
INSTANCE_PATH = {os.path.join(work, "instance")!r}
DATABASE_URL = ""
CLOUD_FARM = {{"default": {{"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {{}}}}}}
LOG_FORMAT = "json"
""")
EOF

env -u DATABASE_URL ORCHESTRATOR_SETTINGS="$WORK/settings.py" ORCHESTRATOR_ADMIN_KEY="$ADMIN_KEY" \
    ORCHESTRATOR_HOST=127.0.0.1 ORCHESTRATOR_PORT="$PORT" \
    "$PYTHON" runserver.py >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + STARTUP_SECONDS))
until curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        if grep -qi "address already in use" "$WORK/server.log"; then port_in_use; fi
        die "the server stopped before answering; its log:"$'\n'"$(tail -n 20 "$WORK/server.log")"
    fi
    (( SECONDS < deadline )) \
        || die "the server did not answer $BASE/healthz within $STARTUP_SECONDS s; its log:"$'\n'"$(tail -n 20 "$WORK/server.log")"
    sleep 0.2
done
mine=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_KEY" "$BASE/api/v1/accounts/me")
[[ $mine == 200 ]] || port_in_use     # another service answered /healthz on that port
say "server up on $BASE; capturing examples"

# The webhook of the notification examples: it keeps the last notice of each event as received
# (webhook-<event>.http), and answers 204. Its port is any free one, written to receiver.port.
"$PYTHON" - "$WORK" >"$WORK/receiver.log" 2>&1 <<'EOF' &
import http.server, os, sys
work = sys.argv[1]

class Keep(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        lines = [f"{self.command} {self.path} HTTP/1.1", *(f"{k}: {v}" for k, v in self.headers.items()), ""]
        with open(os.path.join(work, f"webhook-{self.headers['X-Orchestrator-Event']}.http"), "wb") as out:
            out.write("\n".join(lines).encode() + b"\n" + body + b"\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Keep)
with open(os.path.join(work, "receiver.port.part"), "w") as out:
    out.write(str(server.server_port))
os.rename(os.path.join(work, "receiver.port.part"), os.path.join(work, "receiver.port"))
server.serve_forever()
EOF
RECEIVER_PID=$!
deadline=$((SECONDS + STARTUP_SECONDS))
until [[ -s $WORK/receiver.port ]]; do
    kill -0 "$RECEIVER_PID" 2>/dev/null || die "the webhook receiver stopped; its log:"$'\n'"$(cat "$WORK/receiver.log")"
    (( SECONDS < deadline )) || die "the webhook receiver did not start within $STARTUP_SECONDS s"
    sleep 0.1
done
HOOK="http://127.0.0.1:$(cat "$WORK/receiver.port")"

# -- 2. the examples ----------------------------------------------------------------------------
EXAMPLES="$WORK/examples"     # moved into docs/examples only once every capture succeeded
mkdir -p "$EXAMPLES"

pretty() { "$PYTHON" -m json.tool --indent 2; }

# call METHOD PATH [BODY]: one request; the answer's status in STATUS, headers and body in $WORK.
call() {
    local method=$1 path=$2 body=${3-}
    local args=(-sS -X "$method" -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}')
    if [[ $path == /api/v1/* ]]; then args+=(-H "Authorization: Bearer $ADMIN_KEY"); fi
    if [[ -n $body ]]; then args+=(-H "Content-Type: application/json" --data-binary "$body"); fi
    STATUS=$(curl "${args[@]}" "$BASE$path") || die "$method $path: curl failed"
}

# capture NAME EXPECTED METHOD PATH [BODY]: call, check the status, and write the exchange as
# examples/NAME.request.http and NAME.response.http (the key itself is never written).
capture() {
    local name=$1 expected=$2 method=$3 path=$4 body=${5-}
    call "$method" "$path" "$body"
    [[ $STATUS == "$expected" ]] \
        || die "$method $path answered $STATUS, expected $expected:"$'\n'"$(cat "$WORK/body")"
    {
        printf '%s %s HTTP/1.1\nHost: 127.0.0.1:%s\n' "$method" "$path" "$PORT"
        if [[ $path == /api/v1/* ]]; then printf 'Authorization: Bearer <key>\n'; fi
        if [[ -n $body ]]; then
            printf 'Content-Type: application/json\n\n'
            printf '%s' "$body" | pretty
        fi
    } >"$EXAMPLES/$name.request.http"
    {
        head -n 1 "$WORK/headers" | tr -d '\r'
        grep -i '^content-type:' "$WORK/headers" | tr -d '\r' || true
        if [[ -s $WORK/body ]]; then
            printf '\n'
            pretty <"$WORK/body"
        fi
    } >"$EXAMPLES/$name.response.http"
}

# wait_for WHAT METHOD PATH KEY VALUE: call until the answer's KEY is VALUE (in RUN_SECONDS).
wait_for() {
    local what=$1 method=$2 path=$3 key=$4 value=$5
    local deadline=$((SECONDS + RUN_SECONDS))
    until call "$method" "$path" && [[ $STATUS == 200 && $(jget "$key") == "$value" ]]; do
        (( SECONDS < deadline )) || die "not so within $RUN_SECONDS s: $what; $method $path: $(cat "$WORK/body")"
        sleep 0.2
    done
}

# jget KEY...: a value of the last answer's JSON body (a number indexes a list).
jget() {
    "$PYTHON" - "$WORK/body" "$@" <<'EOF'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)
EOF
}

capture healthz 200 GET /healthz
capture accounts-me 200 GET /api/v1/accounts/me
ME=$(jget id)
capture clouds-list 200 GET /api/v1/clouds
capture cloud-show 200 GET /api/v1/clouds/default
capture sizes-list 200 GET "/api/v1/clouds/default/sizes?limit=2"

capture nodes-create 201 POST /api/v1/clouds/default/nodes \
    '{"name": "web-{n}", "image": "1", "size": "1", "count": 2}'
NODE=$(jget nodes 0 id)
# A Dummy node's address is 127.0.0.1, so the probe of this server's port finds it open.
capture node-ping 200 POST "/api/v1/clouds/default/nodes/$NODE/ping" "{\"port\": $PORT, \"timeout\": 2}"

# A one-off url job due in two seconds, calling this very server.
AT=$("$PYTHON" -c 'from datetime import datetime, timedelta, timezone
print((datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"))')
capture job-create 201 POST /api/v1/jobs "{\"name\": \"call healthz\", \"schedule\": {\"at\": \"$AT\"},
 \"action\": {\"type\": \"url\", \"url\": \"$BASE/healthz\", \"expect_status\": 200}}"
JOB=$(jget id)

deadline=$((SECONDS + RUN_SECONDS))
while :; do
    call GET "/api/v1/jobs/$JOB/runs"
    [[ $STATUS == 200 ]] || die "GET /api/v1/jobs/$JOB/runs answered $STATUS: $(cat "$WORK/body")"
    if [[ $(jget total) != 0 ]]; then
        RUN=$(jget items 0 id)
        case $(jget items 0 status) in
            Completed) break ;;
            Failed | Missed) die "the example job's run did not complete: $(cat "$WORK/body")" ;;
        esac
    fi
    (( SECONDS < deadline )) || die "the example job's run did not finish within $RUN_SECONDS s: $(cat "$WORK/body")"
    sleep 0.2
done
capture job-runs 200 GET "/api/v1/jobs/$JOB/runs"
capture run-show 200 GET "/api/v1/runs/$RUN"
capture last-events 200 GET "/api/v1/last-events/$RUN"

# A recurring job in a group, run once now: it pings the nodes made above.
capture job-cron 201 POST /api/v1/jobs "{\"name\": \"ping the web nodes\", \"group\": \"monitoring\",
 \"schedule\": {\"cron\": \"*/5 * * * *\", \"timezone\": \"Europe/Rome\"},
 \"action\": {\"type\": \"ping\", \"selector\": {\"name\": \"web-*\"}, \"port\": $PORT}}"
CRON_JOB=$(jget id)
capture job-run-now 202 POST "/api/v1/jobs/$CRON_JOB/run"
capture groups-list 200 GET /api/v1/groups

# A job whose calls fail (404), retried twice: one run, every attempt an event of it.
capture job-retry 201 POST /api/v1/jobs "{\"name\": \"retried\", \"schedule\": {\"cron\": \"0 0 1 1 *\"},
 \"action\": {\"type\": \"url\", \"url\": \"$BASE/no-such-page\"},
 \"retry\": {\"attempts\": 2, \"backoff\": 0.2, \"on\": [\"4xx\", \"5xx\"]}, \"timeout\": 10}"
RETRY_JOB=$(jget id)
call POST "/api/v1/jobs/$RETRY_JOB/run"
RETRY_RUN=$(jget run_id)
wait_for "the retried run failed" GET "/api/v1/runs/$RETRY_RUN" status Failed
capture run-retried 200 GET "/api/v1/runs/$RETRY_RUN"

# A job that fails (404) with a signed webhook, paused after two failed runs in a row: its
# failure and disabled notices, as sent and as recorded, and the job paused with the reason.
capture job-notify 201 POST /api/v1/jobs "{\"name\": \"nightly export\", \"schedule\": {\"cron\": \"0 3 * * *\"},
 \"action\": {\"type\": \"url\", \"url\": \"$BASE/no-such-export\"},
 \"notify\": {\"on\": [\"failure\", \"disabled\"],
            \"webhook\": {\"url\": \"$HOOK/orchestrator\", \"secret\": \"a-secret-of-the-docs-server\"}},
 \"disable_after\": 2}"
NOTIFY_JOB=$(jget id)
for _ in 1 2; do
    call POST "/api/v1/jobs/$NOTIFY_JOB/run"
    [[ $STATUS == 202 ]] || die "POST /api/v1/jobs/$NOTIFY_JOB/run answered $STATUS: $(cat "$WORK/body")"
    wait_for "the failing job's run failed" GET "/api/v1/runs/$(jget run_id)" status Failed
done
wait_for "the failing job was paused" GET "/api/v1/jobs/$NOTIFY_JOB" paused True
capture job-disabled 200 GET "/api/v1/jobs/$NOTIFY_JOB"
wait_for "three notices were delivered" GET "/api/v1/jobs/$NOTIFY_JOB/notifications" total 3
capture job-notifications 200 GET "/api/v1/jobs/$NOTIFY_JOB/notifications"
for event in failure disabled; do
    [[ -s $WORK/webhook-$event.http ]] || die "the webhook receiver kept no $event notice"
    cp "$WORK/webhook-$event.http" "$EXAMPLES/webhook-$event.http"
done
capture job-resumed 200 PATCH "/api/v1/jobs/$NOTIFY_JOB" '{"paused": false}'
capture account-defaults 200 PUT "/api/v1/accounts/$ME/defaults" "{\"notify\": {\"on\": [\"failure\", \"disabled\"],
 \"webhook\": {\"url\": \"$HOOK/orchestrator\", \"secret\": \"a-secret-of-the-docs-server\"}}, \"disable_after\": 10}"

capture error-validation 422 POST /api/v1/jobs "{\"schedule\": {\"at\": \"2001-01-01T09:00:00Z\"},
 \"action\": {\"type\": \"url\", \"url\": \"$BASE/healthz\"}}"

# A request id given by the client comes back; the answer's headers say so.
curl -sS -D "$WORK/headers" -o /dev/null -H "Authorization: Bearer $ADMIN_KEY" -H "X-Request-Id: deploy-check-42" \
    "$BASE/api/v1/clouds" || die "GET /api/v1/clouds with X-Request-Id: curl failed"
printf 'GET /api/v1/clouds HTTP/1.1\nHost: 127.0.0.1:%s\nAuthorization: Bearer <key>\nX-Request-Id: deploy-check-42\n' \
    "$PORT" >"$EXAMPLES/request-id.request.http"
{ head -n 1 "$WORK/headers"; grep -i -e '^content-type:' -e '^x-request-id:' "$WORK/headers"; } | tr -d '\r' \
    >"$EXAMPLES/request-id.response.http"
grep -qi '^x-request-id: deploy-check-42' "$EXAMPLES/request-id.response.http" \
    || die "the X-Request-Id sent was not returned: $(cat "$WORK/headers")"

# The service's own families from a scrape, the histograms' buckets left out for brevity.
curl -fsS "$BASE/metrics" >"$WORK/metrics" || die "GET /metrics failed"
grep -E '^(# (HELP|TYPE) )?orchestrator_' "$WORK/metrics" | grep -v -e '_bucket{' -e '_created' \
    >"$EXAMPLES/metrics.txt" || die "/metrics has no orchestrator_ families: $(head -c 2000 "$WORK/metrics")"

"$PYTHON" - "$EXAMPLES/capture.json" "$PORT" <<'EOF'
from datetime import datetime, timezone
import json, sys
with open(sys.argv[1], "w") as out:
    json.dump({"port": int(sys.argv[2]),
               "captured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}, out)
EOF
stop_server
# Log lines of the retried run, as the server wrote them.
"$PYTHON" - "$WORK/server.log" "$EXAMPLES/log-lines.jsonl" <<'EOF'
import json, sys
lines = [line for line in open(sys.argv[1]) if line.startswith("{")]
parsed = [json.loads(line) for line in lines]
kept = [line for line, record in zip(lines, parsed) if record.get("run_id")][:3]
if len(kept) < 2:
    sys.exit(f"make_mw_docs.sh: the server's log lacks the lines of the retried run: {lines[-5:]}")
open(sys.argv[2], "w").writelines(kept)
EOF
stop_receiver
rm -rf docs/examples
cp -R "$EXAMPLES" docs/examples
say "examples written to docs/examples/"

# -- 3. the HTML --------------------------------------------------------------------------------
# -E: autoflask reads the views' docstrings, which Sphinx does not track as dependencies.
env -u ORCHESTRATOR_SETTINGS -u DATABASE_URL -u ORCHESTRATOR_ADMIN_KEY \
    "$PYTHON" -m sphinx -E -W --keep-going -q -b html docs "$BUILD_DIR"
say "documentation built: $BUILD_DIR/index.html"
