#!/usr/bin/env bash
# Creates the Python environments the end-to-end tests use as real peers,
# each from a pinned, hashed requirements file (tests/requirements/*.txt,
# made from the short *.in lists by tests/requirements/update):
#   .venv          peers.txt: moto (S3 + KMS server), boto3, aws cli v1,
#                  the Python ESDK
#   .venv-esdk-cli esdk-cli.txt: the aws-encryption-cli (kept apart: it pins
#                  its own dependencies)
#   .venv-s3ec     s3ec.txt: the Amazon S3 Encryption Client for Python
#                  (needs a newer boto3 and cryptography than the aws cli v1)
# Installs with --require-hashes and wheels only, so a venv holds exactly the
# files that were pinned. Idempotent: a venv whose marker (the hash of its
# requirements file and the interpreter's version) matches is left alone;
# changing the pins rebuilds it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python 3.11 (the version the pins were resolved for); any python3 otherwise.
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
echo "python for the venvs: $PY ($("$PY" --version 2>&1))"

# A venv is only valid where it was made (its scripts name their interpreter
# by absolute path) and while its interpreter runs: a copy found elsewhere
# (e.g. one committed by mistake and cloned) is rebuilt from scratch.
venv_ok() {
  local dir=$1
  "$dir/bin/python" -c 'import sys' 2>/dev/null || return 1
  case "$(head -n1 "$dir/bin/pip" 2>/dev/null)" in
    "#!$PWD/$dir/bin/python"*) return 0 ;;
    *) return 1 ;;
  esac
}

make_venv() {
  local dir=$1 req=tests/requirements/$2
  local marker="$dir/.s3seal-ready" want
  want="$(sha256sum "$req" | cut -d' ' -f1) $("$PY" --version 2>&1)"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && venv_ok "$dir"; then
    echo "$dir: ready ($req)"
    return 0
  fi
  echo "$dir: creating from $req"
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/pip" install --quiet --no-deps --require-hashes --only-binary :all: -r "$req"
  "$dir/bin/pip" check
  echo "$want" > "$marker"
}

make_venv .venv peers.txt
make_venv .venv-esdk-cli esdk-cli.txt
make_venv .venv-s3ec s3ec.txt
