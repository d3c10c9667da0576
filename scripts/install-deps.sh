#!/bin/sh
# Install the Debian 12 packages zonetally builds, tests and demos with.
# Idempotent: installs only what dpkg does not already report as installed.
# Runs as root, or through sudo when that is available.
set -eu

PKGS="build-essential cmake ninja-build pkg-config
libzmq3-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils
libinih-dev libcmocka-dev libsystemd-dev libjson-c-dev
python3 python3-zmq valgrind
libmicrohttpd-dev prometheus clang-format
clang libclang-rt-14-dev
chromium fonts-wqy-microhei"

# The browser test (tests/browser) runs Node.js with npm: Debian's packages unless a node
# and npm are already on the PATH (e.g. a newer Node.js that ships its own npm).
if ! command -v node >/dev/null 2>&1; then
	PKGS="$PKGS nodejs"
fi
if ! command -v npm >/dev/null 2>&1; then
	PKGS="$PKGS npm"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root or install sudo" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
