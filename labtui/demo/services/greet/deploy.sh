#!/usr/bin/env bash
# greet's deploy: a plain bash service in CloudLab's style (deploy.sh = the service).
set -euo pipefail
echo "greet deployed on $(hostname)"
echo "DEPLOYMENT_ID=greet-$(date +%s)"
