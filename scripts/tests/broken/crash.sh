#!/bin/sh
# harness self-test: reports one result, then dies of SIGSEGV
echo "TAP version 13"; echo "1..2"; echo "ok 1 before_crash"
kill -SEGV $$
