#!/usr/bin/env bash
# Prints 100,000 numbered lines one by one: a load test for live log streaming.
set -euo pipefail
for ((i = 1; i <= 100000; i++)); do
  printf 'noisy line %06d of 100000\n' "$i"
done
echo "noisy done"
