#!/bin/sh
# CI: build the .deb, install it with dpkg -i, and check what landed: the unit verifies from
# its installed path, its security exposure is 1.5 or better (printed), the shipped sample
# configuration passes check-config, the static user exists.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

make package
deb=$(ls build-deb/zonetally_*.deb)
echo "== dpkg -i $deb"
$SUDO dpkg -i "$deb"

unit=/usr/lib/systemd/system/zonetallyd.service
echo "== systemd-analyze verify $unit"
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi

exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "== systemd-analyze security zonetallyd.service: exposure $exposure (limit 1.5)"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.5) }'

echo "== installed configuration and user"
/usr/bin/zonetally check-config /etc/zonetally/zonetallyd.conf
getent passwd zonetally >/dev/null
/usr/sbin/zonetallyd --help 2>&1 | grep -q metrics-listen

echo "== the dashboard's files (issue 8)"
for f in index.html dashboard.js dashboard.css; do
	test -s "/usr/share/zonetally/dashboard/$f"
done

echo "== the contract, the man pages, the copyright file; no internal static library (issue 19)"
test -s /usr/share/zonetally/proto/zonetally.proto
for page in man1/zonetally.1 man1/zonetally-pub.1 man5/zonetallyd.conf.5 man8/zonetallyd.8; do
	test -s "/usr/share/man/$page"
	man -l "/usr/share/man/$page" >/dev/null
done
grep -q "zones.csv" /usr/share/doc/zonetally/copyright
if dpkg -L zonetally | grep -E '/lib(zonetally|zt_[a-z]+)\.a$'; then
	echo "internal static libraries are in the package"
	exit 1
fi
for prog in /usr/bin/zonetally /usr/bin/zonetally-pub /usr/sbin/zonetallyd; do
	"$prog" --version
	"$prog" --help >/dev/null
done

echo "== the backup directory of the README's example belongs to zonetally"
test "$(stat -c %U:%G /var/backups/zonetally)" = zonetally:zonetally
