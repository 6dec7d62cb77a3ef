# Shared by the benchmark scripts (bash; sourced, not run): paired timing and formatting.

# paired N A B: runs functions A and B alternately N times; sets $ma and $mb to the median
# seconds of each (timestamps are kept raw and subtracted once at the end).
paired() {
    local n=$1 fa=$2 fb=$3 stamps=() t0 t1 t2
    for _ in $(seq "$n"); do
        t0=$EPOCHREALTIME; "$fa"; t1=$EPOCHREALTIME; "$fb"; t2=$EPOCHREALTIME
        stamps+=("$t0 $t1 $t2")
    done
    read -r ma mb < <(printf '%s\n' "${stamps[@]}" | python3 -c '
import statistics, sys
rows = [[float(x) for x in l.split()] for l in sys.stdin]
print(statistics.median(r[1] - r[0] for r in rows), statistics.median(r[2] - r[1] for r in rows))')
}

# ms SECONDS -> "1.23 ms"; ratio A B -> "1.23"
ms() { python3 -c "print(f'{$1 * 1000:.2f} ms')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
