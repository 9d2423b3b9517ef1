#!/usr/bin/env bash
# Run real Apache Kafka (KRaft, no ZooKeeper, no Docker) from Maven Central jars.
#
#   deploy/kafka/kafka.sh help
#
# Jars go to <repo>/.cache/kafka/<version>/libs (git-ignored); broker state and
# logs go to <repo>/.cache/kafka/run/... unless --dir is given. Everything binds
# to 127.0.0.1 only. See deploy/kafka/README.md.
set -euo pipefail

# --- the one place the Kafka version is pinned (env KAFKA_VERSION overrides) ---
# 3.9.x is the conservative choice (see STACK.md). 4.x needs a different SLF4J
# binding in pom.xml and moved BrokerApiVersionsCommand out of kafka_2.13.
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
CACHE_ROOT="$REPO_ROOT/.cache/kafka"
VERSION_DIR="$CACHE_ROOT/$KAFKA_VERSION"
LIBS="$VERSION_DIR/libs"
MARKER="$VERSION_DIR/.installed"
RUN_ROOT="$CACHE_ROOT/run"

START_TIMEOUT_S="${KAFKA_START_TIMEOUT:-60}"
CLUSTER_START_TIMEOUT_S="${KAFKA_CLUSTER_START_TIMEOUT:-120}"
STOP_TIMEOUT_S="${KAFKA_STOP_TIMEOUT:-30}"
SINGLE_HEAP="${KAFKA_HEAP:--Xms128m -Xmx512m}"
CLUSTER_HEAP="${KAFKA_CLUSTER_HEAP:--Xms128m -Xmx384m}"
CLUSTER_SIZE=3

log() { printf 'kafka.sh: %s\n' "$*"; }
err() { printf 'kafka.sh: error: %s\n' "$*" >&2; }

usage() {
    cat <<EOF
Usage: deploy/kafka/kafka.sh COMMAND [OPTIONS]

Apache Kafka $KAFKA_VERSION (KRaft) from Maven Central, on 127.0.0.1 only.

Commands:
  install                       fetch the jars once into ${LIBS#"$REPO_ROOT"/}
  start   [--port 9092] [--controller-port PORT+1] [--dir DIR]
                                start one broker+controller node (idempotent)
  stop    [--port 9092] [--dir DIR]
                                SIGTERM, then SIGKILL after ${STOP_TIMEOUT_S}s; fine if not running
  status  [--port 9092] [--dir DIR]
                                exit 0 if running, 3 if not
  cluster-start  [--base-port 9192] [--dir DIR]
                                three nodes; starts only the ones not running
  cluster-stop   [--base-port 9192] [--dir DIR]
  cluster-status [--base-port 9192] [--dir DIR]
                                exit 0 if all three run, 3 otherwise
  cluster-kill N [--base-port 9192] [--dir DIR]
                                kill -9 node N (1..3), for failover tests
  help

Single node: DIR defaults to .cache/kafka/run/single-<port>.
Cluster: node N listens on BASE+N-1 (clients) and BASE+10+N-1 (controller);
DIR defaults to .cache/kafka/run/cluster-<base-port>, node N lives in DIR/node-N.
Each node keeps server.properties, data/, broker.log and broker.pid in its dir.

Environment: KAFKA_VERSION ($KAFKA_VERSION), KAFKA_START_TIMEOUT ($START_TIMEOUT_S),
KAFKA_CLUSTER_START_TIMEOUT ($CLUSTER_START_TIMEOUT_S), KAFKA_STOP_TIMEOUT ($STOP_TIMEOUT_S),
KAFKA_HEAP ("$SINGLE_HEAP"), KAFKA_CLUSTER_HEAP ("$CLUSTER_HEAP").
EOF
}

# ---------------------------------------------------------------- install ----

require_tools() {
    local missing=()
    command -v java >/dev/null 2>&1 || missing+=("java (apt-get install openjdk-17-jre-headless)")
    command -v mvn >/dev/null 2>&1 || missing+=("mvn (apt-get install maven)")
    if ((${#missing[@]})); then
        err "missing: $(printf '%s; ' "${missing[@]}")"
        err "install with: apt-get install openjdk-17-jre-headless maven"
        exit 2
    fi
}

cmd_install() {
    if [[ -f "$MARKER" ]]; then
        log "Kafka $KAFKA_VERSION jars already in $LIBS"
        return 0
    fi
    require_tools
    mkdir -p "$VERSION_DIR"
    # Several test sessions may install at once: one downloads, the others wait.
    exec 8>"$VERSION_DIR/.install.lock"
    flock 8
    if [[ ! -f "$MARKER" ]]; then
        local tmp="$VERSION_DIR/libs.tmp.$$" started=$SECONDS
        rm -rf "$tmp"
        log "downloading Kafka $KAFKA_VERSION jars from Maven Central (first time only)..."
        if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$tmp" >"$VERSION_DIR/install.log" 2>&1
        then
            rm -rf "$tmp"
            flock -u 8
            tail -n 30 "$VERSION_DIR/install.log" >&2
            err "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION" \
                "(full output in $VERSION_DIR/install.log)"
            exit 1
        fi
        rm -rf "$LIBS"
        mv "$tmp" "$LIBS"
        printf 'kafka_2.13 %s\n' "$KAFKA_VERSION" >"$MARKER"
        log "downloaded $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
    fi
    flock -u 8
    exec 8>&-
    log "Kafka $KAFKA_VERSION jars in $LIBS"
}

ensure_installed() {
    [[ -f "$MARKER" ]] || cmd_install
    command -v java >/dev/null 2>&1 || require_tools
}

# ---------------------------------------------------------------- helpers ----

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }

# An absolute path for DIR (which need not exist yet).
abs_dir() { realpath -m -- "$1"; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True if process $1 exists and is not a zombie (a broker that died during
# start-up stays a zombie child of this script, and kill -0 still succeeds).
proc_alive() {
    local state
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# The pid in DIR/broker.pid if that process is alive and really is our broker
# (guards against a recycled pid).
live_pid() {
    local dir=$1 pid
    [[ -f "$dir/broker.pid" ]] || return 1
    pid=$(<"$dir/broker.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    proc_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $dir/server.properties" \
        || return 1
    printf '%s\n' "$pid"
}

write_log4j() {
    local dir=$1
    cat >"$dir/log4j.properties" <<'EOF'
# Broker logging: everything to stdout, which kafka.sh sends to broker.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
}

# Command-line tools (StorageTool, BrokerApiVersionsCommand) log warnings only.
tools_log4j() {
    local file="$VERSION_DIR/tools-log4j.properties"
    if [[ ! -f "$file" ]]; then
        cat >"$file.$$" <<'EOF2'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF2
        mv "$file.$$" "$file"
    fi
    printf '%s\n' "$file"
}

# Sets TOOL to the command line of a small, fast-starting JVM for Kafka's tools.
TOOL=()
set_tool() {
    local log4j
    log4j=$(tools_log4j)
    TOOL=(java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
        "-Dlog4j.configuration=file:$log4j" -cp "$LIBS/*")
}

# Ask the cluster for its brokers' API versions (a real metadata round trip,
# needing only Java). Succeeds only if every given node id is listed and
# answered; a node that does not answer is printed as "(id: N ...) -> ERROR: ...".
api_versions_ok() {
    local bootstrap=$1 limit=$2 out id
    shift 2
    set_tool
    out=$(timeout "$limit" "${TOOL[@]}" kafka.admin.BrokerApiVersionsCommand \
        --bootstrap-server "$bootstrap" 2>&1) || return 1
    for id in "$@"; do
        grep -qE "\(id: $id rack: [^)]*\) -> \($" <<<"$out" || return 1
    done
}

cluster_id_for() {
    local file=$1/cluster.id
    if [[ ! -s "$file" ]]; then
        set_tool
        "${TOOL[@]}" kafka.tools.StorageTool random-uuid | tail -n1 >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    cat "$file"
}

format_once() {
    local node_dir=$1 cluster_id=$2
    if [[ -f "$node_dir/data/meta.properties" ]]; then
        return 0
    fi
    log "formatting storage in $node_dir/data (cluster id $cluster_id)"
    set_tool
    "${TOOL[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$node_dir/server.properties" >/dev/null
}

# write_properties NODE_DIR NODE_ID PORT CONTROLLER_PORT VOTERS REPLICATION MIN_ISR
write_properties() {
    local dir=$1 id=$2 port=$3 cport=$4 voters=$5 rf=$6 min_isr=$7
    cat >"$dir/server.properties" <<EOF
# Written by deploy/kafka/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data

num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=4

num.partitions=1
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
min.insync.replicas=$min_isr
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

log.segment.bytes=16777216
log.retention.hours=168
log.retention.check.interval.ms=300000

# Faster failover on one machine: fence a dead broker after 6 s.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=10000
EOF
}

# Serialise concurrent starts of the same DIR (e.g. parallel test sessions); the
# lock on fd 9 is released when this script exits (the broker does not inherit it).
lock_dir() {
    exec 9>"$1/.start.lock"
    flock 9
}

# start_node NODE_DIR HEAP; the broker runs detached, output to broker.log.
start_node() {
    local dir=$1 heap=$2 pid
    {
        printf '\n===== kafka.sh start %s (Kafka %s) =====\n' "$(date -u +%FT%TZ)" "$KAFKA_VERSION"
    } >>"$dir/broker.log"
    # shellcheck disable=SC2086  # heap holds several JVM flags on purpose
    setsid nohup java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/broker.log" 2>&1 </dev/null 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$dir/broker.pid"
}

# fail_with_log MESSAGE [HINT] NODE_DIR...: print the error and each log's tail, exit 1.
fail_with_log() {
    local msg=$1
    shift
    if [[ $# -gt 0 && ! -d "$1" ]]; then
        msg="$msg $1"
        shift
    fi
    err "$msg"
    local dir
    for dir in "$@"; do
        printf -- '--- last 30 lines of %s ---\n' "$dir/broker.log" >&2
        tail -n 30 "$dir/broker.log" >&2 || true
    done
    exit 1
}

# stop_node NODE_DIR LABEL: SIGTERM, wait, SIGKILL. Fine if not running.
stop_node() {
    local dir=$1 label=$2 pid waited=0
    if ! pid=$(live_pid "$dir"); then
        log "$label not running"
        rm -f "$dir/broker.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    while proc_alive "$pid" && ((waited < STOP_TIMEOUT_S * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if proc_alive "$pid"; then
        log "$label (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while proc_alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$dir/broker.pid"
    log "$label stopped (pid $pid)"
}

# ---------------------------------------------------------------- options ----

PORT=9092
CONTROLLER_PORT=""
BASE_PORT=9192
DIR=""
NODE=""

parse_opts() {
    while (($#)); do
        case "$1" in
        --port) PORT=${2:?--port needs a value}; shift 2 ;;
        --controller-port) CONTROLLER_PORT=${2:?--controller-port needs a value}; shift 2 ;;
        --base-port) BASE_PORT=${2:?--base-port needs a value}; shift 2 ;;
        --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        [0-9]*) NODE=$1; shift ;;
        *) err "unknown option: $1"; usage >&2; exit 2 ;;
        esac
    done
    local p
    for p in "$PORT" "${CONTROLLER_PORT:-1}" "$BASE_PORT"; do
        is_port "$p" || { err "not a port number: $p"; exit 2; }
    done
    CONTROLLER_PORT=${CONTROLLER_PORT:-$((PORT + 1))}
}

single_dir() { abs_dir "${DIR:-$RUN_ROOT/single-$PORT}"; }
cluster_dir() { abs_dir "${DIR:-$RUN_ROOT/cluster-$BASE_PORT}"; }
node_port() { echo $((BASE_PORT + $1 - 1)); }
node_cport() { echo $((BASE_PORT + 10 + $1 - 1)); }

# ----------------------------------------------------------- single node ----

cmd_start() {
    parse_opts "$@"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || { err "--port and --controller-port must differ"; exit 2; }
    ensure_installed
    local dir pid cluster_id bootstrap="127.0.0.1:$PORT" started deadline
    dir=$(single_dir)
    mkdir -p "$dir"
    lock_dir "$dir"
    if pid=$(live_pid "$dir"); then
        if port_open "$PORT"; then
            log "already running: pid $pid, bootstrap $bootstrap, log $dir/broker.log"
            echo "$bootstrap"
            return 0
        fi
        log "pid $pid is starting, waiting for it"
    else
        local p
        for p in "$PORT" "$CONTROLLER_PORT"; do
            if port_open "$p"; then
                err "port $p on 127.0.0.1 is used by another process (not $dir/broker.pid)"
                exit 1
            fi
        done
        cluster_id=$(cluster_id_for "$dir")
        write_log4j "$dir"
        write_properties "$dir" 1 "$PORT" "$CONTROLLER_PORT" "1@127.0.0.1:$CONTROLLER_PORT" 1 1
        format_once "$dir" "$cluster_id"
        start_node "$dir" "$SINGLE_HEAP"
        pid=$(<"$dir/broker.pid")
        log "started pid $pid, waiting up to ${START_TIMEOUT_S}s for $bootstrap"
    fi
    started=$SECONDS
    deadline=$((SECONDS + START_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        # Not live_pid: right after the fork the command line is not java's yet.
        proc_alive "$pid" || fail_with_log "broker exited during start-up" "$dir"
        if port_open "$PORT" && api_versions_ok "$bootstrap" \
            $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) 1; then
            log "ready after $((SECONDS - started))s: pid $pid, log $dir/broker.log"
            echo "$bootstrap"
            return 0
        fi
        sleep 0.5
    done
    fail_with_log "broker on $bootstrap did not answer within ${START_TIMEOUT_S}s" \
        "(pid $pid left running; 'kafka.sh stop --port $PORT --dir $dir' ends it)" "$dir"
}

cmd_stop() {
    parse_opts "$@"
    local dir
    dir=$(single_dir)
    stop_node "$dir" "broker on 127.0.0.1:$PORT"
}

cmd_status() {
    parse_opts "$@"
    local dir pid
    dir=$(single_dir)
    if pid=$(live_pid "$dir"); then
        if port_open "$PORT"; then
            echo "running: pid $pid, port $PORT, controller port $CONTROLLER_PORT, log $dir/broker.log"
        else
            echo "running (port $PORT not answering yet): pid $pid, log $dir/broker.log"
        fi
        return 0
    fi
    echo "stopped: port $PORT, log $dir/broker.log"
    return 3
}

# --------------------------------------------------------------- cluster ----

cluster_voters() {
    local n voters=()
    for ((n = 1; n <= CLUSTER_SIZE; n++)); do
        voters+=("$n@127.0.0.1:$(node_cport "$n")")
    done
    (IFS=,; echo "${voters[*]}")
}

cluster_bootstrap() {
    local n addrs=()
    for ((n = 1; n <= CLUSTER_SIZE; n++)); do
        addrs+=("127.0.0.1:$(node_port "$n")")
    done
    (IFS=,; echo "${addrs[*]}")
}

cmd_cluster_start() {
    parse_opts "$@"
    ensure_installed
    local dir cluster_id voters n node_dir p started deadline ids=() dirs=()
    dir=$(cluster_dir)
    mkdir -p "$dir"
    lock_dir "$dir"
    voters=$(cluster_voters)
    cluster_id=$(cluster_id_for "$dir")
    for ((n = 1; n <= CLUSTER_SIZE; n++)); do
        node_dir="$dir/node-$n"
        mkdir -p "$node_dir"
        ids+=("$n")
        dirs+=("$node_dir")
        if live_pid "$node_dir" >/dev/null; then
            log "node $n already running (pid $(live_pid "$node_dir"), port $(node_port "$n"))"
            continue
        fi
        for p in "$(node_port "$n")" "$(node_cport "$n")"; do
            if port_open "$p"; then
                err "port $p on 127.0.0.1 is used by another process (not node $n of $dir)"
                exit 1
            fi
        done
        write_log4j "$node_dir"
        write_properties "$node_dir" "$n" "$(node_port "$n")" "$(node_cport "$n")" "$voters" 3 2
        format_once "$node_dir" "$cluster_id"
        start_node "$node_dir" "$CLUSTER_HEAP"
        log "node $n started: pid $(<"$node_dir/broker.pid"), port $(node_port "$n")"
    done
    started=$SECONDS
    deadline=$((SECONDS + CLUSTER_START_TIMEOUT_S))
    local bootstrap
    bootstrap=$(cluster_bootstrap)
    log "waiting up to ${CLUSTER_START_TIMEOUT_S}s for all $CLUSTER_SIZE nodes at $bootstrap"
    while ((SECONDS < deadline)); do
        local all_open=1
        for ((n = 1; n <= CLUSTER_SIZE; n++)); do
            proc_alive "$(<"${dirs[n - 1]}/broker.pid")" \
                || fail_with_log "node $n exited during start-up" "${dirs[n - 1]}"
            port_open "$(node_port "$n")" || all_open=0
        done
        if ((all_open)) && api_versions_ok "$bootstrap" \
            $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) "${ids[@]}"; then
            log "cluster ready after $((SECONDS - started))s, logs in $dir/node-*/broker.log"
            echo "$bootstrap"
            return 0
        fi
        sleep 1
    done
    fail_with_log "cluster did not answer within ${CLUSTER_START_TIMEOUT_S}s" \
        "(nodes left running; 'kafka.sh cluster-stop --base-port $BASE_PORT --dir $dir' ends them)" \
        "${dirs[@]}"
}

cmd_cluster_stop() {
    parse_opts "$@"
    local dir n pids=()
    dir=$(cluster_dir)
    # Stop all nodes at once: stopping them one by one can leave the last ones
    # waiting for a controller quorum that is already gone.
    for ((n = 1; n <= CLUSTER_SIZE; n++)); do
        stop_node "$dir/node-$n" "node $n (port $(node_port "$n"))" &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n"; done
}

cmd_cluster_status() {
    parse_opts "$@"
    local dir n pid running=0 node_dir
    dir=$(cluster_dir)
    for ((n = 1; n <= CLUSTER_SIZE; n++)); do
        node_dir="$dir/node-$n"
        if [[ -d "$node_dir" ]] && pid=$(live_pid "$node_dir"); then
            running=$((running + 1))
            echo "node $n: running: pid $pid, port $(node_port "$n"), controller port" \
                "$(node_cport "$n"), log $node_dir/broker.log"
        else
            echo "node $n: stopped: port $(node_port "$n"), log $node_dir/broker.log"
        fi
    done
    echo "$running/$CLUSTER_SIZE running, bootstrap $(cluster_bootstrap)"
    ((running == CLUSTER_SIZE)) || return 3
}

cmd_cluster_kill() {
    parse_opts "$@"
    [[ "$NODE" =~ ^[1-3]$ ]] || { err "cluster-kill needs a node number 1..$CLUSTER_SIZE"; exit 2; }
    local dir node_dir pid
    dir=$(cluster_dir)
    node_dir="$dir/node-$NODE"
    if ! pid=$(live_pid "$node_dir"); then
        log "node $NODE not running"
        return 0
    fi
    kill -KILL "$pid"
    while proc_alive "$pid"; do sleep 0.1; done
    rm -f "$node_dir/broker.pid"
    log "node $NODE killed with SIGKILL (pid $pid)"
}

# ------------------------------------------------------------------ main ----

main() {
    local cmd=${1:-help}
    (($#)) && shift
    case "$cmd" in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    cluster-start) cmd_cluster_start "$@" ;;
    cluster-stop) cmd_cluster_stop "$@" ;;
    cluster-status) cmd_cluster_status "$@" ;;
    cluster-kill) cmd_cluster_kill "$@" ;;
    help | -h | --help) usage ;;
    *) err "unknown command: $cmd"; usage >&2; exit 2 ;;
    esac
}

main "$@"
