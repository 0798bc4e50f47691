#!/usr/bin/env bash
# Wait until a file exists (the venv's install stamp), at most $2 seconds.
for _ in $(seq "${2:-600}"); do [ -e "$1" ] && exit 0; sleep 1; done
echo "timed out waiting for $1" >&2; exit 1
