# bench/report.sh: the one table of `make bench` and its machine line (sourced by run.sh).
# Rows come from the results file lib.sh's result() writes: table, name, median, min, max,
# unit, ceiling, targets, side figures (tab-separated "median min max" each).

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

# print_table RESULTS [TABLES]: the main table, then each table of TABLES (table_begin's
# file) under its title: figure, value (min..max) [unit], ceiling, ratio, target, met?,
# then the table's side columns, each "median (min..max)".
print_table() {
	! grep -q '^main'$'\t' "$1" || table_rows "$1" main
	[ -r "${2:-}" ] || return 0
	while IFS=$'\t' read -r t title heads; do
		echo
		echo "$title"
		table_rows "$1" "$t" "$heads"
	done <"$2"
}

# table_rows RESULTS TABLE [SIDE_HEADERS]: the header and the rows of one table.
table_rows() {
	local heads=${3:-} h t name med min max unit ceil targets sides s
	echo
	printf '%-44s %12s %-25s %-10s %12s %6s  %-28s %-4s' figure value "(min .. max)" unit \
		ceiling ratio target "met?"
	IFS=$'\t' read -r -a h <<<"$heads"
	for s in "${h[@]}"; do
		printf '  %-26s' "$s"
	done
	echo
	while IFS=$'\t' read -r t name med min max unit ceil targets sides; do
		[ "$t" = "$2" ] || continue
		printf '%-44s %12s %-25s %-10s %12s %6s  %-28s %-4s' "$name" "$(fmt "$med")" \
			"($(fmt "$min") .. $(fmt "$max"))" "[$unit]" "$(fmt "$ceil")" \
			"$(ratio "$med" "$ceil")" "$(target_text "$targets")" \
			"$(met "$med" "$ceil" "$targets")"
		IFS=$'\t' read -r -a h <<<"$sides"
		for s in "${h[@]}"; do
			printf '  %-26s' "$(side_text "$s")"
		done
		echo
	done <"$1"
}

# side_text "MED MIN MAX" -> "12.5 (12.1 .. 13.0)"; "-" stays.
side_text() {
	local med min max
	read -r med min max <<<"$1"
	[ -n "$min" ] || {
		printf '%s' "${med:--}"
		return
	}
	printf '%s (%s .. %s)' "$(fmt "$med")" "$(fmt "$min")" "$(fmt "$max")"
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
