#!/usr/bin/env bash
# Local EVM tooling for Vigil: anvil (binary bundled in the npm package) and solcjs.
#
#   deploy/chain/chain.sh install                 npm ci into deploy/chain/node_modules
#   deploy/chain/chain.sh start  [--port 8545] [--chain-id 31337] [--block-time S]
#   deploy/chain/chain.sh stop   [--port 8545]
#   deploy/chain/chain.sh status [--port 8545]
#   deploy/chain/chain.sh compile                 ABI + bytecode into .cache/contracts/
#   deploy/chain/chain.sh anvil-path              print the anvil binary's path
#
# Every command is idempotent. anvil listens on 127.0.0.1 only; its log and pid
# files live under <repo>/.cache/anvil/, one pair per port, so a test node on
# 18545 and a dev node on 8545 never step on each other. Nothing is downloaded
# at run time: the anvil binary ships inside @foundry-rs/anvil-<os>-<arch>.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/../.." && pwd)"
CACHE="${VIGIL_CACHE_DIR:-${REPO}/.cache}"
RUN_DIR="${CACHE}/anvil"
PORT=8545
CHAIN_ID=31337
BLOCK_TIME=""
START_TIMEOUT_S="${ANVIL_START_TIMEOUT_S:-30}"

die() { echo "chain.sh: $*" >&2; exit 1; }

need_node() {
    command -v node >/dev/null 2>&1 || die "node is not on PATH; install Node.js >= 18 (e.g. apt-get install nodejs npm)"
    command -v npm >/dev/null 2>&1 || die "npm is not on PATH; install npm (e.g. apt-get install npm)"
}

parse_opts() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --port=*) PORT="${1#*=}"; shift ;;
            --chain-id) CHAIN_ID="${2:?--chain-id needs a value}"; shift 2 ;;
            --chain-id=*) CHAIN_ID="${1#*=}"; shift ;;
            --block-time) BLOCK_TIME="${2:?--block-time needs a value}"; shift 2 ;;
            --block-time=*) BLOCK_TIME="${1#*=}"; shift ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ "${PORT}" =~ ^[0-9]+$ ]] || die "--port must be a number, got ${PORT}"
    [[ "${CHAIN_ID}" =~ ^[0-9]+$ ]] || die "--chain-id must be a number, got ${CHAIN_ID}"
    PID_FILE="${RUN_DIR}/anvil-${PORT}.pid"
    LOG_FILE="${RUN_DIR}/anvil-${PORT}.log"
    RPC_URL="http://127.0.0.1:${PORT}"
}

anvil_bin() {
    # The platform package holds the real binary; the @foundry-rs/anvil wrapper
    # (bin.mjs) would only add a node process in front of it, which makes the pid
    # we record the wrapper's, not anvil's.
    local os arch
    case "$(uname -s)" in
        Linux) os=linux ;;
        Darwin) os=darwin ;;
        *) die "unsupported OS $(uname -s)" ;;
    esac
    case "$(uname -m)" in
        x86_64 | amd64) arch=amd64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) die "unsupported architecture $(uname -m)" ;;
    esac
    local bin="${HERE}/node_modules/@foundry-rs/anvil-${os}-${arch}/bin/anvil"
    # Fallback: where the package's own postinstall puts a downloaded binary.
    local fallback="${HERE}/node_modules/@foundry-rs/anvil/anvil"
    if [[ -x "${bin}" ]]; then
        echo "${bin}"
    elif [[ -x "${fallback}" ]]; then
        echo "${fallback}"
    else
        die "anvil binary not found at ${bin}; run: deploy/chain/chain.sh install (on a platform whose package is not in the lock, also run: cd deploy/chain && npm rebuild @foundry-rs/anvil)"
    fi
}

do_install() {
    need_node
    cd "${HERE}"
    # The stamp makes a second run a no-op unless the lock file changed.
    local stamp="node_modules/.vigil-installed"
    if [[ -f "${stamp}" && "${stamp}" -nt package-lock.json && -d node_modules/solc ]]; then
        echo "chain.sh: node_modules up to date"
        return 0
    fi
    # Not `npm ci`: the lock holds only the platform packages the registry served
    # when it was made (linux-amd64), and `npm ci` rejects a lock that lacks any
    # optional dependency. `npm install` installs exactly the locked versions.
    # --ignore-scripts: the anvil postinstall only downloads a fallback binary when
    # the optional platform package is missing; see anvil_bin for that case.
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error
    touch "${stamp}"
    anvil_bin >/dev/null
    echo "chain.sh: installed $("$(anvil_bin)" --version | head -n 1), solc $(node -e 'process.stdout.write(require("solc").version())')"
}

rpc_ready() {
    curl -fsS --max-time 2 -H 'content-type: application/json' \
        --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' \
        "${RPC_URL}" 2>/dev/null | grep -q '"result"'
}

running_pid() {
    # Print the recorded pid if that process is alive and is an anvil, else nothing.
    [[ -f "${PID_FILE}" ]] || return 0
    local pid
    pid="$(cat "${PID_FILE}")"
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
    if kill -0 "${pid}" 2>/dev/null && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q anvil; then
        echo "${pid}"
    fi
}

do_start() {
    command -v curl >/dev/null 2>&1 || die "curl is not on PATH"
    mkdir -p "${RUN_DIR}"
    local pid
    pid="$(running_pid)"
    if [[ -n "${pid}" ]]; then
        if rpc_ready; then
            echo "chain.sh: anvil already running on ${RPC_URL} (pid ${pid})"
            return 0
        fi
    else
        rm -f "${PID_FILE}"
        if rpc_ready; then
            die "port ${PORT} already answers JSON-RPC but not from an anvil started here; stop it or pick another --port"
        fi
        local bin args
        bin="$(anvil_bin)"
        args=(--host 127.0.0.1 --port "${PORT}" --chain-id "${CHAIN_ID}")
        [[ -n "${BLOCK_TIME}" ]] && args+=(--block-time "${BLOCK_TIME}")
        # setsid: the node outlives this script and ignores the caller's Ctrl-C.
        setsid "${bin}" "${args[@]}" >"${LOG_FILE}" 2>&1 </dev/null &
        pid=$!
        echo "${pid}" >"${PID_FILE}"
    fi
    local waited=0
    until rpc_ready; do
        if ! kill -0 "${pid}" 2>/dev/null; then
            rm -f "${PID_FILE}"
            tail -n 20 "${LOG_FILE}" >&2 || true
            die "anvil exited during start-up; log: ${LOG_FILE}"
        fi
        sleep 0.2
        waited=$((waited + 1))
        if ((waited > START_TIMEOUT_S * 5)); then
            die "anvil did not answer eth_blockNumber on ${RPC_URL} within ${START_TIMEOUT_S}s; log: ${LOG_FILE}"
        fi
    done
    echo "chain.sh: anvil running on ${RPC_URL} (pid ${pid}, chain id ${CHAIN_ID}, log ${LOG_FILE})"
}

do_stop() {
    local pid
    pid="$(running_pid)"
    if [[ -z "${pid}" ]]; then
        rm -f "${PID_FILE}"
        echo "chain.sh: anvil not running on port ${PORT}"
        return 0
    fi
    kill "${pid}"
    for _ in $(seq 1 50); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
        kill -9 "${pid}" 2>/dev/null || true
    fi
    rm -f "${PID_FILE}"
    echo "chain.sh: anvil stopped (pid ${pid})"
}

do_status() {
    local pid
    pid="$(running_pid)"
    if [[ -n "${pid}" ]] && rpc_ready; then
        echo "chain.sh: anvil running on ${RPC_URL} (pid ${pid})"
        return 0
    fi
    echo "chain.sh: anvil not running on port ${PORT}"
    return 3
}

do_compile() {
    need_node
    [[ -d "${HERE}/node_modules/solc" ]] || die "solc not installed; run: deploy/chain/chain.sh install"
    node "${HERE}/compile.js" "$@"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "${cmd}" in
    install) do_install ;;
    start) parse_opts "$@"; do_start ;;
    stop) parse_opts "$@"; do_stop ;;
    status) parse_opts "$@"; do_status ;;
    compile) do_compile "$@" ;;
    anvil-path) anvil_bin ;;
    *) die "usage: chain.sh install|start|stop|status [--port N]|compile|anvil-path" ;;
esac
