#!/bin/sh
# harness self-test: crash the guest kernel (sysrq c = NULL dereference -> panic)
echo "TAP version 13"; echo "1..1"
sync
echo c > /proc/sysrq-trigger
sleep 30
echo "ok 1 still_alive"
