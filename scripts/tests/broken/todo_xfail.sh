#!/bin/sh
# harness self-test: TODO and XFAIL results are not passes (must fail)
echo "TAP version 13"; echo "1..2"
echo "not ok 1 flaky # TODO fix later"; echo "ok 2 known_bad # XFAIL known to fail"
exit 0
