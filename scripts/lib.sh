# Shared set-up for scripts/build, scripts/test and scripts/lab: each installs what it needs.
# Sourced, not run. Everything goes into the repository (.venv/, node_modules/); nothing global
# except Chromium for the browser test, which comes from the system's package manager.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

say() { printf '\n== %s\n' "$*"; }

ensure_venv() {  # ensure_venv EXTRA: a virtual environment with lilbook installed (editable) and its EXTRA
    local python="${PYTHON:-python3}"
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
        say "creating $VENV"
        "$python" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    say "installing lilbook[$1] into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$1]"
    # matplotlib builds its font cache on first import and says so on stderr; do it here, once,
    # so that no chapter's first figure cell prints that message (stderr fails the strict build)
    "$VENV/bin/python" -c "import matplotlib.font_manager" 2>/dev/null
}

ensure_node_modules() {  # the pinned MathJax, require.js and widget manager that the site serves itself
    if cmp -s package-lock.json node_modules/.lilbook-installed-lock 2>/dev/null; then
        return
    fi
    command -v npm >/dev/null || { echo "npm is needed for the book's offline web assets (install Node.js)" >&2; exit 1; }
    say "npm ci (offline web assets)"
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
    cp package-lock.json node_modules/.lilbook-installed-lock
}

ensure_live_files() {  # the pinned wheels of the live mode (pyproject.toml [tool.lilbook.live]), hash-checked
    local req=".cache/live/requirements.txt"
    mkdir -p .cache/live
    "$VENV/bin/python" - "$req" <<'PY'
import sys, tomllib
pins = tomllib.load(open("pyproject.toml", "rb"))["tool"]["lilbook"]["live"]["wheels"]
open(sys.argv[1] + ".new", "w").write("\n".join(pins) + "\n")
PY
    if cmp -s "$req.new" "$req" 2>/dev/null; then
        rm "$req.new"
        return
    fi
    say "downloading the live mode's pinned wheels into .cache/live (pip checks each sha256)"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r "$req.new" -d .cache/live || {
        echo "could not download the live mode's wheels: the book builds without the live mode" >&2
        rm -f "$req.new"
        return 0
    }
    mv "$req.new" "$req"
}

ensure_chromium() {  # headless Chromium for the rendering test
    if command -v chromium >/dev/null; then
        return
    fi
    say "installing Chromium (Debian package) for the browser test"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
