# bench/report.sh: the one table of `make bench` and its machine line (sourced by run.sh).
# Rows come from the results file lib.sh's result() writes: name, median, min, max, unit,
# ceiling, targets.

# fmt N: thousands separators for integers, two decimals below 100; independent of locale.
fmt() {
	case $1 in
	- | '' | nan) printf '%s' "${1:--}" ;;
	*)
		awk -v v="$1" 'BEGIN { if (v < 100 && v != int(v)) { printf "%.2f", v; exit }
			s = sprintf("%.0f", v); o = ""
			while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
			printf "%s%s", s, o }'
		;;
	esac
}

# print_table RESULTS: figure, value (min..max) [unit], ceiling, ratio, target, met?
print_table() {
	echo
	printf '%-44s %12s %-25s %-10s %12s %6s  %-28s %s\n' figure value "(min .. max)" unit \
		ceiling ratio target "met?"
	while IFS=$'\t' read -r name med min max unit ceil targets; do
		printf '%-44s %12s %-25s %-10s %12s %6s  %-28s %s\n' "$name" "$(fmt "$med")" \
			"($(fmt "$min") .. $(fmt "$max"))" "[$unit]" "$(fmt "$ceil")" \
			"$(ratio "$med" "$ceil")" "$(target_text "$targets")" \
			"$(met "$med" "$ceil" "$targets")"
	done <"$1"
}

ratio() {
	[ "$2" != - ] && [ -n "$2" ] || {
		printf -- -
		return
	}
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}

# target_text "ge:1000000,rge:0.25" -> ">= 1,000,000 & >= 25 % of ceiling"
target_text() {
	local t out=
	[ "$1" != - ] || {
		printf -- -
		return
	}
	for t in ${1//,/ }; do
		[ -z "$out" ] || out="$out & "
		case ${t%%:*} in
		ge) out="$out>= $(fmt "${t#*:}")" ;;
		le) out="$out<= $(fmt "${t#*:}")" ;;
		rge) out="$out>= $(awk -v r="${t#*:}" 'BEGIN { print r * 100 }') % ceil" ;;
		rle) out="$out<= ${t#*:} x ceil" ;;
		esac
	done
	printf '%s' "$out"
}

# met VALUE CEILING TARGETS: yes, no, or - (no target).
met() {
	[ "$3" != - ] || {
		printf -- -
		return
	}
	awk -v v="$1" -v c="$2" -v ts="$3" 'BEGIN {
		n = split(ts, t, ","); ok = 1
		for (i = 1; i <= n; i++) {
			split(t[i], kv, ":"); x = kv[2] + 0
			if (kv[1] == "ge") ok = ok && v >= x
			else if (kv[1] == "le") ok = ok && v <= x
			else if (kv[1] == "rge") ok = ok && c > 0 && v / c >= x
			else if (kv[1] == "rle") ok = ok && c > 0 && v / c <= x
		}
		print ok ? "yes" : "NO" }'
}

# machine_line DIR SECONDS: what the figures were measured on.
machine_line() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo
	printf 'machine: %s, %s cores, %s GiB; state dir %s on %s; load average %s; %s s\n' \
		"${cpu:-unknown CPU}" "$(nproc)" \
		"$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$1" \
		"$(stat -f -c %T "$1")" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "$2"
}
