#!/usr/bin/env bash
# Install the Debian 12 packages strata needs to build, run and test
# (tools/deps.txt), skipping the update when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(grep -v '^#' "$here/deps.txt")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "strata: all build and test dependencies are installed"
	exit 0
fi
echo "strata: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -eq 0 ]; then
	apt-get update
	apt-get install -y "${missing[@]}"
else
	sudo apt-get update
	sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
