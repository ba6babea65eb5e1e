#!/usr/bin/env bash
# A script with inputs: labtui passes each as INPUT_<NAME> (lists comma-joined).
set -euo pipefail
echo "Hello, ${INPUT_NAME}!"
echo "Mood: ${INPUT_MOOD:-unset}"
echo "Tags: ${INPUT_TAGS:-none}"
if [[ -n "${INPUT_TAGS:-}" ]]; then
  IFS=',' read -ra tags <<< "${INPUT_TAGS}"
  echo "Tag count: ${#tags[@]}"
fi
