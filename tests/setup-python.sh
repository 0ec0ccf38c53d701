#!/usr/bin/env bash
# Creates the Python environments the end-to-end tests use as real peers:
#   .venv          moto (S3 + KMS server), boto3, aws cli v1, the Python ESDK
#   .venv-esdk-cli the aws-encryption-cli (kept apart: it pins its own deps)
#   .venv-s3ec     the Amazon S3 Encryption Client for Python (needs a newer
#                  boto3 and cryptography than the aws cli v1 allows)
# Idempotent: an environment whose marker file exists is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python 3.11 (the version the peers are tested with); any python3 otherwise.
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
  local dir=$1; shift
  local marker="$dir/.s3seal-ready"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$*" ] && venv_ok "$dir"; then
    echo "$dir: ready ($*)"
    return 0
  fi
  echo "$dir: creating ($*)"
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$marker"
}

make_venv .venv "moto[server]>=5" boto3 awscli "aws-encryption-sdk[MPL]>=4"
make_venv .venv-esdk-cli aws-encryption-sdk-cli
make_venv .venv-s3ec "amazon-s3-encryption-client-python>=4"
