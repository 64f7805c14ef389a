#!/bin/bash
# run-all-timeout: 1200
# tests/integration/test-vm.sh against a daemon with the systemd backend
# (Backend=systemd): the guest's QEMU is the transient service
# prepay-<id>-vm.service in the slice unit. In the booted guest of
# tests/vm (itself emulated) with the tiny image; skipped where systemd is
# not PID 1 on pure cgroup v2.
export PREPAY_TEST_BACKEND=systemd
exec bash "$(dirname "$0")/../integration/test-vm.sh"
