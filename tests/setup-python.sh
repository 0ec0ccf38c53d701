#!/usr/bin/env bash
# Creates the Python environments the end-to-end tests use as real peers:
#   .venv          moto (S3 + KMS server), boto3, aws cli v1, the Python ESDK
#   .venv-esdk-cli the aws-encryption-cli (kept apart: it pins its own deps)
# Idempotent: an environment whose marker file exists is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

make_venv() {
  local dir=$1; shift
  local marker="$dir/.s3seal-ready"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$*" ]; then
    return 0
  fi
  "$PY" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$marker"
}

make_venv .venv "moto[server]>=5" boto3 awscli "aws-encryption-sdk[MPL]>=4"
make_venv .venv-esdk-cli aws-encryption-sdk-cli
