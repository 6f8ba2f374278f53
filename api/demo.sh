#!/usr/bin/env bash
# The end of `make demo`: start the real server (gunicorn via `recsys serve`), run curl examples
# against it and print them with their answers.
#
# Interactive (stdin is a terminal): the server keeps running in the foreground until Ctrl-C.
# Otherwise (CI, pipes): the server is stopped after the examples, so `make demo` terminates,
# and the command to start it again is printed.
set -euo pipefail

BIN=${BIN:-.venv/bin}
HOST=127.0.0.1
PORT=${DEMO_PORT:-8000}
URL="http://$HOST:$PORT"
export RECSYS_API_WRITE_KEYS=${RECSYS_API_WRITE_KEYS:-demo-write-key}
export RECSYS_API_ADMIN_KEYS=${RECSYS_API_ADMIN_KEYS:-demo-admin-key}
export RECSYS_API_DEMO_PAGES=${RECSYS_API_DEMO_PAGES:-true}  # the storefront at /demo
KEY=${RECSYS_API_WRITE_KEYS%%,*}
ADMIN=${RECSYS_API_ADMIN_KEYS%%,*}
LOG=${RECSYS_HOME:-var/demo}/serve.log

if curl -s -o /dev/null "$URL/healthz"; then
    echo "error: something already listens on $URL; set DEMO_PORT to a free port" >&2
    exit 1
fi
"$BIN/recsys" serve --host "$HOST" --port "$PORT" --workers 2 >"$LOG" 2>&1 &
SERVER=$!
stop() { kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 120); do
    if curl -sf -o /dev/null "$URL/readyz"; then break; fi
    if ! kill -0 "$SERVER" 2>/dev/null; then cat "$LOG" >&2; exit 1; fi
    sleep 0.5
done
curl -sf -o /dev/null "$URL/readyz" || { echo "server did not become ready" >&2; cat "$LOG" >&2; exit 1; }

run() {  # print a curl command, run it, print its answer (shortened)
    echo
    echo "\$ $1"
    # shortened by characters, not bytes: a cut inside a Chinese character is not valid UTF-8
    eval "$1" | "$BIN/python" -c 'import sys; sys.stdout.write(sys.stdin.read()[:700])'
    echo
}
if [ "${DEMO_SET:-en}" = zh ]; then  # the Chinese shop of `make demo-zh` (synthetic data)
    echo
    echo "== HTTP API of the synthetic Chinese shop on $URL (log: $LOG) =="
    run "curl -s '$URL/v1/users/u0005/recommendations?n=3&explain=true'"  # reasons in Chinese
    run "curl -s '$URL/v1/users/u0005/recommendations?n=2&explain=true&lang=en'"
    run "curl -s '$URL/v1/items/sku0001/similar?n=3&mode=content'"
    run "curl -s '$URL/v1/users/u0005/recommendations?n=2&pitch=true&pitch_wait_ms=0'"
    # text is normalised once, at import (NFKC): full-width letters and spaces fold
    run "curl -s -X PUT $URL/v1/items -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' -d '{\"items\": [{\"item_id\": \"sku-new-1\", \"title\": \"ＹＯＧＡ　瑜伽垫 加厚防滑\", \"category\": \"户外露营\"}]}'"
    run "curl -s -X PUT $URL/v1/items -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' -d '{\"items\": [{\"item_id\": \"sku-new-2\", \"title\": \"\u3000\u3000\"}]}'"
    run "curl -s '$URL/v1/users/u0005/recommendations?n=2&lang=fr'"
    echo
    echo "(the Chinese shop's server is stopped; its data home is ${RECSYS_HOME:-var/demo-zh})"
    exit 0
fi
echo
echo "== HTTP API on $URL (gunicorn, 2 workers; log: $LOG) =="
run "curl -s $URL/healthz"
run "curl -s '$URL/v1/users/1/recommendations?n=3&explain=true'"
run "curl -s '$URL/v1/users/1/recommendations?n=3'"  # no event since training: precomputed list
run "curl -s '$URL/v1/items/50/similar?n=3&mode=content'"
run "curl -s '$URL/v1/users/1/recommendations?n=2&pitch=true&pitch_wait_ms=0'"
run "curl -s -X POST $URL/v1/recommendations -H 'Content-Type: application/json' -d '{\"recent_item_ids\": [\"50\", \"181\"], \"n\": 3}'"
run "curl -s -X POST $URL/v1/events -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' -d '{\"user_id\": \"1\", \"item_id\": \"50\", \"type\": \"purchase\"}'"
run "curl -s -X PUT $URL/v1/items -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' -d '{\"items\": [{\"item_id\": \"new-1\", \"title\": \"Space adventure (2026)\", \"category\": \"Sci-Fi\"}]}'"
# the answer says the text is pending: one background job embeds it (loading the text model takes
# seconds); every worker serves it by text once the vector is in the shared cache
for _ in $(seq 1 60); do
    pending=$(curl -s "$URL/v1/model" | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["manifest"].get("live", {}).get("pending_embeddings", 0))' 2>/dev/null || echo 1)
    [ "$pending" = "0" ] && break
    sleep 1
done
sleep 3  # the other worker picks the new vector up on its next catalog poll (swap_poll_s = 2 s)
run "curl -s '$URL/v1/items/new-1/similar?n=3&mode=content'"
run "curl -s '$URL/v1/users/1/recommendations?n=2&exclude=1,2'"
run "curl -s $URL/v1/nope"
run "curl -s $URL/metrics | awk '/recsys_http_requests_total/ && n++ < 3'"  # awk reads it all: no SIGPIPE for curl
run "curl -s $URL/metrics | grep '^recsys_user_recommendations_total'"
# the running experiment: every answer names the shopper's variant (user 1 is in the control
# group, user 3 in the popular-items holdout); the report, as of now
run "curl -s '$URL/v1/users/3/recommendations?n=2'"
run "curl -s -H 'Authorization: Bearer $ADMIN' $URL/v1/experiments"
run "curl -s -H 'Authorization: Bearer $ADMIN' '$URL/v1/experiments/demo-ab?format=markdown' | head -12"
run "curl -s -o /dev/null -w '%{http_code} %{content_type}\n' $URL/demo"
run "curl -s -o /dev/null -w '%{http_code} %{content_type}\n' -H 'Authorization: Bearer $ADMIN' $URL/dashboard"
echo
echo "OpenAPI document: curl -s $URL/openapi.json"
pages() {
    echo "Demo storefront: $URL/demo   (pick a shopper, click, add to cart, buy)"
    echo "Dashboard:       $URL/dashboard   (log in with the admin key: $ADMIN)"
}
if [ -t 0 ]; then
    echo
    echo "Server running on $URL (write key: $KEY). Press Ctrl-C to stop."
    pages
    wait "$SERVER"
else
    echo
    echo "(stdin is not a terminal: server stopped so that make demo terminates)"
    echo "Start it again with:"
    echo "  RECSYS_API_WRITE_KEYS=$KEY RECSYS_API_ADMIN_KEYS=$ADMIN RECSYS_API_DEMO_PAGES=true RECSYS_HOME=${RECSYS_HOME:-var/demo} $BIN/recsys serve --host $HOST --port $PORT --workers 2"
    echo "and open:"
    pages
fi
