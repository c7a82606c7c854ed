#!/usr/bin/env bash
# Run a command as root: directly when we are root, else through sudo.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then
	exec "$@"
fi
exec sudo env "PATH=$PATH" "$@"
