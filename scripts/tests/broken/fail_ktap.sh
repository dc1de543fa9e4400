#!/bin/sh
# harness self-test: one passing and one failing test, exit 1 (like a kselftest harness program)
echo "TAP version 13"; echo "1..2"
echo "ok 1 selftest_passes"
echo "# expected failure for the harness self-test"; echo "not ok 2 selftest_must_fail"
exit 1
