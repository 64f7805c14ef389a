#!/bin/bash
# run-all-timeout: 300
# tests/integration/test-enforce.sh against a daemon with the systemd
# backend (Backend=systemd): kill, freeze and throttle at the balance edge
# go through systemd (KillUnit, FreezeUnit, SetUnitProperties), and a
# top-up thaws and restores through it. Skipped where systemd is not PID 1
# on pure cgroup v2.
export PREPAY_TEST_BACKEND=systemd
exec bash "$(dirname "$0")/../integration/test-enforce.sh"
