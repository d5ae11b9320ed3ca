#!/usr/bin/env bash
# Set up Antiphon on a fresh Debian machine: system packages (apt), a virtualenv in .venv, and the
# package itself (editable). `scripts/setup.sh --dev` adds the test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "usage: scripts/setup.sh [--dev]" >&2; exit 2 ;;
  esac
done

# libportaudio2: sounddevice; jackd2: a real audio server (dummy driver in tests);
# puredata-core: Pd as a real OSC client; fluidsynth + fluid-soundfont-gm: the demo corpus;
# gcc + libc6-dev: the live engine's audio callback is C, compiled on first use;
# python3-venv: `python3 -m venv` below (Debian ships venv separately).
APT_PACKAGES=(libportaudio2 jackd2 puredata-core fluidsynth fluid-soundfont-gm gcc libc6-dev python3-venv)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extra=""
[ "$dev" -eq 1 ] && extra="[dev]"
# torch is pinned to 2.13.0 in pyproject.toml and comes from pip's configured index. From PyPI, on
# Linux, that is the CUDA build (several GB); for the CPU build, install it into .venv first from
# PyTorch's CPU index (README, "Dependencies and why"): this line then keeps it, as it fits the pin.
pip_log="$(mktemp)"
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extra}" >"$pip_log" 2>&1; then
  grep -v "is ignored: it is neither a file nor a directory" "$pip_log" >&2
  echo "setup: pip install failed" >&2
  exit 1
fi
rm -f "$pip_log"
.venv/bin/python -c "import agent, torch, faiss, sounddevice; print('setup: antiphon', agent.__version__, 'with torch', torch.__version__)"
