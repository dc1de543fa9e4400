#!/bin/bash
# harness self-test: works silently (CPU time only) for longer than the stall time, then passes: slow is not stalled
echo "TAP version 13"; echo "1..1"
end=$((SECONDS + ${IVM_SELFTEST_BUSY:-40}))
while [ "$SECONDS" -lt "$end" ]; do :; done
echo "ok 1 silent_but_busy"
