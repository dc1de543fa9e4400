#!/bin/sh
# harness self-test: as many results as planned, but a number twice and one beyond the plan (must fail)
echo "TAP version 13"; echo "1..3"
echo "ok 1 first"; echo "ok 1 again"; echo "ok 4 beyond"
exit 0
