#!/usr/bin/env bash
# One member's CI job: a throw-away venv with shared-utils and that member alone (installed, not editable), then its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then echo "usage: ci/test-member.sh <alias>" >&2; exit 2; fi
exec python3 ci/workspace.py isolated-test "$1"
