#!/usr/bin/env bash
# Benchmark: `s3seal encrypt` / `s3seal decrypt` on a 1 GiB file against the
# aws-encryption-cli (Python ESDK) and age, on the same machine.
#
#   tests/bench/cli_bench.sh [SIZE_MIB]      (default 1024)
#
# Environment: RUNS (timed runs per command, default 3), BENCH_DIR (where the
# files go, default a fresh directory under target/), S3SEAL (a prebuilt
# binary; default: cargo build --release -p s3seal-cli).
#
# All tools use local keys, so only crypto and I/O are measured: s3seal a raw
# AES-256 key (suite 0x0478 by default, and 0x0578), the aws-encryption-cli
# the same key through tests/python/esdk_cli_plugin with the same suites,
# age an X25519 identity. The input is in the page cache (the machine has the
# RAM); outputs go to the same file system. Uses hyperfine when installed
# (Debian package `hyperfine`), else a timing loop that prints medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MIB=${1:-1024}
RUNS=${RUNS:-3}

if [ -z "${S3SEAL:-}" ]; then
  cargo build --release -q -p s3seal-cli
  S3SEAL=$ROOT/target/release/s3seal
fi
ESDK=$ROOT/.venv-esdk-cli/bin/aws-encryption-cli
[ -x "$ESDK" ] || { echo "aws-encryption-cli missing: run tests/setup-python.sh" >&2; exit 1; }
command -v age >/dev/null || { echo "age missing: apt-get install age" >&2; exit 1; }
export PYTHONPATH=$ROOT/tests/python/esdk_cli_plugin PYTHONDONTWRITEBYTECODE=1

DIR=${BENCH_DIR:-$ROOT/target/cli-bench}
mkdir -p "$DIR"
cd "$DIR"
rm -f ./*.enc ./*.out
if [ ! -f plain ] || [ "$(stat -c %s plain)" -ne $((SIZE_MIB * 1024 * 1024)) ]; then
  echo "making a ${SIZE_MIB} MiB random file in $DIR"
  head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > plain
fi
rm -f k.key age.key
"$S3SEAL" keygen aes -o k.key 2>/dev/null
age-keygen -o age.key 2>/dev/null
AGE_RECIPIENT=$(age-keygen -y age.key)
KEY=aes:bench:k:k.key
WRAP="provider=s3seal-raw key=k namespace=bench keyfile=k.key"
cat plain > /dev/null   # into the page cache

echo "== $(nproc) cores; $("$S3SEAL" --version); $(age --version 2>&1 | head -1) (age); aws-encryption-cli $("$ESDK" --version 2>&1 | tr '\n' ' ')"

ENC_NAMES=(
  "s3seal encrypt (0478)"
  "s3seal encrypt (0578, signed)"
  "s3seal encrypt (stdin to stdout)"
  "aws-encryption-cli encrypt (0478)"
  "aws-encryption-cli encrypt (0578, signed)"
  "age encrypt"
)
ENC_CMDS=(
  "$S3SEAL encrypt -i plain -o s.enc --key $KEY"
  "$S3SEAL encrypt -i plain -o s5.enc --key $KEY --suite 0578"
  "$S3SEAL encrypt --key $KEY < plain > p.enc"
  "$ESDK --encrypt -i plain -o e.enc --wrapping-keys $WRAP --algorithm AES_256_GCM_HKDF_SHA512_COMMIT_KEY -S"
  "$ESDK --encrypt -i plain -o e5.enc --wrapping-keys $WRAP -S"
  "age -e -r $AGE_RECIPIENT -o a.enc plain"
)
ENC_PREP=("rm -f s.enc" "rm -f s5.enc" "rm -f p.enc" "rm -f e.enc" "rm -f e5.enc" "rm -f a.enc")
DEC_NAMES=(
  "s3seal decrypt (0478)"
  "s3seal decrypt (0578, signed)"
  "s3seal decrypt (stdin to stdout)"
  "aws-encryption-cli decrypt (0478)"
  "aws-encryption-cli decrypt (0578, signed)"
  "age decrypt"
)
DEC_CMDS=(
  "$S3SEAL decrypt -i s.enc -o s.out --key $KEY"
  "$S3SEAL decrypt -i s5.enc -o s5.out --key $KEY"
  "$S3SEAL decrypt --key $KEY < p.enc > p.out"
  "$ESDK --decrypt -i e.enc -o e.out --wrapping-keys $WRAP -S"
  "$ESDK --decrypt -i e5.enc -o e5.out --wrapping-keys $WRAP -S"
  "age -d -i age.key -o a.out a.enc"
)
DEC_PREP=("rm -f s.out" "rm -f s5.out" "rm -f p.out" "rm -f e.out" "rm -f e5.out" "rm -f a.out")

run_group() {  # run_group TITLE NAMES[@] CMDS[@] PREP[@]
  local title=$1; local -n names=$2 cmds=$3 preps=$4
  echo; echo "== $title (${SIZE_MIB} MiB, $RUNS runs each)"
  if command -v hyperfine >/dev/null; then
    local args=() i
    for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}"); done
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    hyperfine --style basic --warmup 0 --runs "$RUNS" --export-markdown "$DIR/$title.md" "${args[@]}"
    echo; cat "$DIR/$title.md"
  else
    local i r t0 times
    for i in "${!cmds[@]}"; do
      times=()
      for ((r = 0; r < RUNS; r++)); do
        bash -c "${preps[$i]}"
        t0=$(date +%s.%N)
        bash -c "${cmds[$i]}"
        times+=("$(echo "$(date +%s.%N) - $t0" | bc)")
      done
      printf '%-45s median %8.3f s   (runs: %s)\n' "${names[$i]}" \
        "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')" "${times[*]}"
    done
  fi
}

run_group encrypt ENC_NAMES ENC_CMDS ENC_PREP
run_group decrypt DEC_NAMES DEC_CMDS DEC_PREP

echo; echo "== checks"
for f in s.out s5.out p.out e.out e5.out a.out; do
  cmp -s plain "$f" && echo "$f: identical to the input" || { echo "$f: DIFFERS"; exit 1; }
done
ls -l plain ./*.enc | awk '{print $5, $9}'
rm -f ./*.out ./*.enc
