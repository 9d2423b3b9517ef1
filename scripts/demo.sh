#!/usr/bin/env bash
# The local demo: a Kafka broker, anvil with a VigilUSD token and the chain
# watcher, the real OFAC SDN list, the Vigil engine, and the simulated platform
# feeding it at a gentle rate. Ctrl-C stops everything it started; run it again
# at will (the same simulated events are idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${VIGIL_DEMO_DIR:-var/demo}
PORT=${VIGIL_DEMO_KAFKA_PORT:-9092}
WEB_PORT=${VIGIL_WEB_PORT:-6066}
RATE=${VIGIL_DEMO_RATE:-300}
WORKERS=${VIGIL_DEMO_WORKERS:-300}
ANVIL_PORT=${VIGIL_DEMO_ANVIL_PORT:-8545}
SEED=7
mkdir -p "$DEMO_DIR"
export VIGIL_KAFKA_BOOTSTRAP="127.0.0.1:$PORT" VIGIL_WEB_PORT="$WEB_PORT" VIGIL_DATA_DIR="$DEMO_DIR/engine"
VIGIL=.venv/bin/vigil
pids=()

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
cleanup() {
    trap - INT TERM EXIT
    say "stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    bash deploy/kafka/kafka.sh stop --port "$PORT" >/dev/null || true
    bash deploy/chain/chain.sh stop --port "$ANVIL_PORT" >/dev/null 2>&1 || true
    say "stopped; run 'make demo' again to restart (state is kept in $DEMO_DIR)"
}
trap cleanup INT TERM EXIT

bash deploy/kafka/kafka.sh start --port "$PORT" --controller-port $((PORT + 1))
# Identity values are hashed with this key (a demo key: set your own VIGIL_IDENTITY_KEYS).
export VIGIL_IDENTITY_KEYS="${VIGIL_IDENTITY_KEYS:-demo:demo-identity-key-change-me}"
$VIGIL topics

# The simulated platform's ground truth first (no Kafka): the engine needs to know the
# exchanges' hot wallets (services), and the chain demo picks a worker from it.
$VIGIL simulate --seed "$SEED" --workers "$WORKERS" --days 60 --out "$DEMO_DIR/sim" --quiet
VIGIL_SERVICE_ADDRESSES=$(.venv/bin/python -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["service_addresses"].values()))' "$DEMO_DIR/sim/truth.json")
export VIGIL_SERVICE_ADDRESSES

say "starting anvil on 127.0.0.1:$ANVIL_PORT with the VigilUSD token"
bash deploy/chain/chain.sh compile >/dev/null
bash deploy/chain/chain.sh start --port "$ANVIL_PORT" --block-time 2 >/dev/null
RPC="http://127.0.0.1:$ANVIL_PORT"
TOKEN=$(.venv/bin/python scripts/demo_chain.py deploy --rpc "$RPC")

say "loading the OFAC SDN list (chain/data/ofac_sdn_evm_addresses.csv)"
$VIGIL sanctions load chain/data/ofac_sdn_evm_addresses.csv --bootstrap "$VIGIL_KAFKA_BOOTSTRAP" >>"$DEMO_DIR/sanctions.log" 2>&1

say "starting the engine (log: $DEMO_DIR/engine.log)"
$VIGIL worker >>"$DEMO_DIR/engine.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 90); do
    curl -fs "http://127.0.0.1:$WEB_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || { tail -30 "$DEMO_DIR/engine.log"; exit 1; }
    sleep 1
done

say "watching the chain for token $TOKEN (log: $DEMO_DIR/watch.log)"
$VIGIL chain watch --rpc "$RPC" --tokens "$TOKEN" --confirmations 2 --from-block 0 \
    --checkpoint "$DEMO_DIR/watch-$TOKEN.json" --poll-interval-s 1 \
    --bootstrap "$VIGIL_KAFKA_BOOTSTRAP" >>"$DEMO_DIR/watch.log" 2>&1 &
pids+=($!)
.venv/bin/python scripts/demo_chain.py run --rpc "$RPC" --token "$TOKEN" \
    --truth "$DEMO_DIR/sim/truth.json" >>"$DEMO_DIR/chain.log" 2>&1 &
pids+=($!)

say "a paying agent asks /decision before each payout, pays VigilUSD on allow (log: $DEMO_DIR/agent.log)"
.venv/bin/python scripts/demo_agent.py --api "http://127.0.0.1:$WEB_PORT" \
    --truth "$DEMO_DIR/sim/truth.json" --rpc "$RPC" --token-address "$TOKEN" \
    >>"$DEMO_DIR/agent.log" 2>&1 &
pids+=($!)

say "simulating $WORKERS workers at $RATE events/s (log: $DEMO_DIR/simulate.log)"
$VIGIL simulate --seed "$SEED" --workers "$WORKERS" --days 60 --out "$DEMO_DIR/sim" \
    --kafka --rate "$RATE" >>"$DEMO_DIR/simulate.log" 2>&1 &
pids+=($!)

cat <<EOM

  Vigil is running.
    dashboard         http://127.0.0.1:$WEB_PORT/
    a worker's trust  curl -s http://127.0.0.1:$WEB_PORT/workers/w-1/trust
    why               curl -s http://127.0.0.1:$WEB_PORT/workers/w-1/explain
    routing           curl -s -XPOST http://127.0.0.1:$WEB_PORT/rank -d '{"workers":["w-1","w-2","w-3"]}'
    alerts            curl -s 'http://127.0.0.1:$WEB_PORT/alerts?kind=sanctions'
    pre-payout check  curl -s http://127.0.0.1:$WEB_PORT/wallets/<address>/exposure
    decision          curl -s 'http://127.0.0.1:$WEB_PORT/decision?worker_id=w-1&wallet=<address>&amount=25'
    the paying agent  tail -f $DEMO_DIR/agent.log (pays on allow, refuses listed and linked wallets)
    metrics           curl -s http://127.0.0.1:$WEB_PORT/metrics | grep ^vigil_
    ground truth      $DEMO_DIR/sim/truth.json (who is a takeover, a ring, sanctioned)
    the chain         anvil at $RPC, token $TOKEN (a worker's wallet pays a listed address after ~45 s)
    scores on Kafka   topic vigil.scores at 127.0.0.1:$PORT
  Press Ctrl-C to stop.

EOM
wait "${pids[0]}"
