#!/bin/bash
# run-all-timeout: 300
# tests/integration/test-money-flow.sh as it is, against a daemon with the systemd
# backend (Backend=systemd): the same figures must hold when slices are
# transient units. Skipped where systemd is not PID 1 on pure cgroup v2.
export PREPAY_TEST_BACKEND=systemd
exec bash "$(dirname "$0")/../integration/test-money-flow.sh"
