#!/usr/bin/env bash
# `make bench`: every bench/*.py at its default size, then every goal line of each (a line ending
# in PASS or FAIL; a bench's last line is its `name: ratio (spread) goal PASS|FAIL`) gathered at
# the end, so a regression shows at a glance.
# A bench that crashes is reported as such and the others still run; the exit status is 1 if
# any bench crashed or printed FAIL on its last line.
set -u
python=${1:-.venv/bin/python}
summary=()
status=0
for script in bench/bench_*.py; do
    echo "=== $script"
    out=$(mktemp)
    if "$python" "$script" | tee "$out"; then
        while IFS= read -r line; do
            summary+=("$line")
            case $line in *FAIL) status=1 ;; esac
        done < <(grep -E ' (PASS|FAIL)$' "$out")
    else
        summary+=("$(basename "$script" .py): crashed")
        status=1
    fi
    rm -f "$out"
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $status
