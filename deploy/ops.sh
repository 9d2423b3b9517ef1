#!/usr/bin/env bash
# Install and check the operations tools that the deploy tests use:
#
#   prometheus, promtool   Debian's `prometheus` package (2.42): check and unit-test
#                          deploy/prometheus/*.yml, and run a real scrape
#   docker-compose         Debian's `docker-compose` (1.29): `docker-compose -f FILE
#                          config` validates deploy/compose/ without a Docker engine
#   kubernetes-validate    PyPI, into .venv: checks deploy/k8s/ offline against the
#                          Kubernetes schemas it bundles
#   chromium, chromedriver Debian's `chromium` and `chromium-driver` (same version):
#                          the dashboard's browser test drives a headless Chromium
#   selenium               PyPI, into .venv: drives chromedriver (no browser download:
#                          the test points it at Debian's binaries)
#
#   deploy/ops.sh help
#
# Idempotent: what is present is skipped, a second run only checks.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV_PY="$REPO_ROOT/.venv/bin/python"

# --- the one place these versions are pinned --------------------------------------
APT_PACKAGES=(prometheus docker-compose chromium chromium-driver)
# kubernetes-validate and what it pulls in, resolved against requirements.lock on
# Python 3.11; its schemas are bundled, nothing is fetched at run time.
PIP_PACKAGES=(
    kubernetes-validate==1.37.0
    jsonschema==4.26.0
    jsonschema-specifications==2025.9.1
    referencing==0.37.0
    rpds-py==2026.9.1
    importlib_resources==7.1.0
    PyYAML==6.0.4
    # selenium and what it pulls in (trio for its async API, urllib3[socks]).
    selenium==4.51.0
    trio==0.35.0
    trio-websocket==0.12.2
    outcome==1.3.0.post0
    sniffio==1.3.1
    wsproto==1.3.2
    h11==0.16.0
    websocket-client==1.9.2
    PySocks==1.7.1
)
# The packages whose installed version `check` compares with the pins above.
PIP_CHECKED=(kubernetes-validate selenium)

log() { printf 'ops.sh: %s\n' "$*"; }
err() { printf 'ops.sh: error: %s\n' "$*" >&2; }

usage() {
    cat <<EOF
Usage: deploy/ops.sh COMMAND

Commands:
  install   install what is missing: apt ${APT_PACKAGES[*]} (needs root or sudo),
            and ${PIP_CHECKED[*]} into .venv (run scripts/bootstrap.sh first)
  check     exit 0 if every tool is there, else list what is missing and exit 2
  help

Tools: prometheus and promtool (apt prometheus), docker-compose (apt docker-compose),
chromium and chromedriver (apt chromium, chromium-driver), kubernetes-validate and
selenium (PyPI, .venv). See deploy/prometheus/README.md, deploy/compose/README.md,
deploy/k8s/README.md and tests/integration/test_dashboard.py.
EOF
}

# ---------------------------------------------------------------------- checks ----

# The apt package that provides each command.
declare -A PROVIDER=([prometheus]=prometheus [promtool]=prometheus [docker-compose]=docker-compose
    [chromium]=chromium [chromedriver]=chromium-driver)

missing_apt() {
    local cmd pkgs=()
    for cmd in prometheus promtool docker-compose chromium chromedriver; do
        command -v "$cmd" >/dev/null 2>&1 || pkgs+=("${PROVIDER[$cmd]}")
    done
    ((${#pkgs[@]})) && printf '%s\n' "${pkgs[@]}" | sort -u
    return 0
}

# The pinned version of a package in PIP_PACKAGES.
pip_wanted() {
    local spec
    for spec in "${PIP_PACKAGES[@]}"; do
        [[ "${spec%%==*}" == "$1" ]] && { printf '%s' "${spec#*==}"; return 0; }
    done
    return 1
}

pip_ok() {
    [[ -x "$VENV_PY" ]] || return 1
    local name have
    for name in "${PIP_CHECKED[@]}"; do
        have=$("$VENV_PY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' \
            "$name" 2>/dev/null) || return 1
        [[ "$have" == "$(pip_wanted "$name")" ]] || return 1
    done
}

pip_versions() {
    local name sep=""
    for name in "${PIP_CHECKED[@]}"; do
        printf '%s%s %s' "$sep" "$name" "$(pip_wanted "$name")"
        sep=", "
    done
}

# ---------------------------------------------------------------------- install ----

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        err "installing ${APT_PACKAGES[*]} needs root: run as root, or install sudo, or run" \
            "'apt-get install --no-install-recommends ${APT_PACKAGES[*]}' yourself"
        exit 2
    fi
}

install_apt() {
    local pkgs
    mapfile -t pkgs < <(missing_apt)
    if ((${#pkgs[@]} == 0)); then
        log "prometheus $(prometheus --version 2>&1 | sed -n '1s/^prometheus, version \([^ ]*\).*/\1/p')," \
            "promtool, docker-compose $(docker-compose version --short 2>/dev/null)," \
            "chromium and chromedriver present"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        err "missing ${pkgs[*]} and this is not a Debian-like system (no apt-get);" \
            "install Prometheus 2.42+ (prometheus, promtool), docker-compose 1.29 and" \
            "Chromium with its matching chromedriver by hand"
        exit 2
    fi
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
    if ! apt-cache show "${pkgs[@]}" >/dev/null 2>&1; then
        log "apt-get update (the package lists do not know ${pkgs[*]} yet)"
        as_root apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    fi
    # Debian's prometheus package starts its service on install. Where no init
    # system runs (containers, CI) that would leave a stray daemon on :9090, so
    # forbid service starts for this install unless a policy already exists.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e "$policy" && "$(cat /proc/1/comm 2>/dev/null)" != systemd ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
        trap 'as_root rm -f '"$policy" EXIT
    fi
    log "installing apt packages: ${pkgs[*]} (no recommends)"
    local started=$SECONDS log_file=/tmp/vigil-ops-apt.$$.log
    if ! as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${pkgs[@]}" \
        >"$log_file" 2>&1; then
        # Stale package lists point at versions the mirror no longer has.
        log "apt-get install failed; apt-get update and one more try"
        as_root apt-get -q -o DPkg::Lock::Timeout=300 update >>"$log_file" 2>&1 || true
        if ! as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${pkgs[@]}" \
            >>"$log_file" 2>&1; then
            tail -n 20 "$log_file" >&2
            err "apt-get install ${pkgs[*]} failed (full output in $log_file)"
            exit 1
        fi
    fi
    rm -f "$log_file"
    if ((added_policy)); then
        as_root rm -f "$policy"
        trap - EXIT
    fi
    log "installed ${pkgs[*]} in $((SECONDS - started))s"
}

install_pip() {
    if [[ ! -x "$VENV_PY" ]]; then
        err ".venv is missing: run scripts/bootstrap.sh (or make bootstrap) first"
        exit 2
    fi
    if pip_ok; then
        log "$(pip_versions) present in .venv"
        return 0
    fi
    log "installing into .venv: ${PIP_PACKAGES[*]}"
    "$VENV_PY" -m pip install -q --disable-pip-version-check \
        -c "$REPO_ROOT/requirements.lock" "${PIP_PACKAGES[@]}" \
        || { err "pip could not install ${PIP_CHECKED[*]}"; exit 1; }
}

cmd_check() {
    local missing=() pkgs
    mapfile -t pkgs < <(missing_apt)
    ((${#pkgs[@]})) && missing+=("apt: ${pkgs[*]}")
    pip_ok || missing+=(".venv: $(pip_versions)")
    if ((${#missing[@]})); then
        err "missing $(printf '%s; ' "${missing[@]}")run deploy/ops.sh install"
        exit 2
    fi
    log "all present: prometheus, promtool, docker-compose, chromium, chromedriver, $(pip_versions)"
}

cmd_install() {
    install_apt
    install_pip
    cmd_check
}

main() {
    local cmd=${1:-help}
    case "$cmd" in
    install) cmd_install ;;
    check) cmd_check ;;
    help | -h | --help) usage ;;
    *) err "unknown command: $cmd"; usage >&2; exit 2 ;;
    esac
}

main "$@"
