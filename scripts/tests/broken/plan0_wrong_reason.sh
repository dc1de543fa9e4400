#!/bin/sh
# harness self-test: skips as a whole, but not for the reason its entry in the scenario's IVM_SKIPS file declares
# (a QEMU that does not start must not pass for one that cannot migrate): must fail
echo "TAP version 13"; echo "1..0 # SKIP QEMU exited at start-up (status 1)"
exit 4
