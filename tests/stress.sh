#!/usr/bin/env bash
# 실행 방법: make test-stress
# Runs the command it is given (the test suite, from `make test-stress`) while one busy loop per CPU competes with it,
# unpinned at normal priority: a test that relies on timing fails here rather than now and then on a busy machine.
# The loops are stopped however the command ends; the exit status is the command's.
set -u

busy_loops=()
stop_busy_loops() {
    kill "${busy_loops[@]}" 2>/dev/null
    wait "${busy_loops[@]}" 2>/dev/null
}
trap stop_busy_loops EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpus=$(nproc)
for _ in $(seq "$cpus"); do
    bash -c 'while :; do :; done' &
    busy_loops+=("$!")
done

start=$SECONDS
"$@"
status=$?
echo "test-stress: exit status $status after $((SECONDS - start)) s beside $cpus busy loops"
exit "$status"
