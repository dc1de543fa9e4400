#!/bin/sh
# harness self-test: every reported test passes, but the program exits with 3
echo "TAP version 13"; echo "1..1"; echo "ok 1 looks_fine"
exit 3
