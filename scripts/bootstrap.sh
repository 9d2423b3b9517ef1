#!/usr/bin/env bash
# Install everything Vigil needs on a fresh machine: the Python environment
# (locked versions), Apache Kafka from Maven Central, and the chain tools (anvil,
# solc) from npm. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }
need() {
    command -v "$1" >/dev/null 2>&1 || {
        printf 'bootstrap: error: %s is missing. %s\n' "$1" "$2" >&2
        exit 2
    }
}

need python3.11 "Install Python 3.11 (e.g. pyenv install 3.11, or apt-get install python3.11 python3.11-venv)." 2>/dev/null \
    || need python3 "Install Python 3.11."
PY=$(command -v python3.11 || command -v python3)
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
    echo "bootstrap: error: Vigil needs Python 3.11, $PY is $("$PY" --version)" >&2; exit 2; }

stamp=.venv/.vigil-installed
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $("$PY" --version)"
    "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    say "installing Python dependencies (locked in requirements.lock)"
    .venv/bin/pip install -q --disable-pip-version-check -U pip wheel
    .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
    touch "$stamp"
else
    say "Python environment up to date"
fi

bash deploy/kafka/kafka.sh install
bash deploy/ops.sh install
if [ -f deploy/chain/chain.sh ]; then
    bash deploy/chain/chain.sh install
fi
say "done"
