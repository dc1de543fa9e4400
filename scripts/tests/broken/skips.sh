#!/bin/sh
# harness self-test, with the scenario's IVM_SKIPS file (skips.list): a listed skip (counted as a skip), an unlisted
# skip and a listed test that passes (both must fail); the list also names a test that does not exist (must fail)
echo "TAP version 13"; echo "1..3"
echo "ok 1 listed_skip # SKIP feature not offered here"
echo "ok 2 unlisted_skip # SKIP feature not offered here"
echo "ok 3 listed_but_passes"
exit 0
