/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "common/money.h"

/* The rate card and everything computed from it: charges for metered
 * usage, quotes for a size, sizing a slice to its funding. Pure code, no
 * syscalls; unit-tested in tests/unit/test-pricing.c. Money in micro-units
 * (common/money.h); arithmetic in 128 bits, results checked. */

enum resource {
        RESOURCE_CPU,     /* counter: CPU time, usec;          price per CPU-second */
        RESOURCE_MEMORY,  /* counter: memory.current, byte-sec; price per GiB-hour */
        RESOURCE_NET_OUT, /* counter: bytes sent;               price per GiB */
        RESOURCE_NET_IN,  /* counter: bytes received;           price per GiB */
        RESOURCE_IO,      /* counter: disk bytes read+written;  price per GiB */
        RESOURCE_BASE,    /* counter: slice lifetime, usec;     price per slice-hour */
        _RESOURCE_MAX,
};

/* "cpu", "memory", "net_out", "net_in", "io", "base"; NULL when out of range. */
const char *resource_to_string(enum resource r);
int resource_from_string(const char *s); /* -EINVAL if unknown */

struct rate_card {
        char currency[CURRENCY_SIZE];
        int64_t price[_RESOURCE_MAX]; /* micro-units per the unit above, 0..MONEY_AMOUNT_MAX */
};

/* What counter units of r cost, rounded down to a micro-unit. Charges are
 * made as cost(now) - cost(billed), so rounding never accumulates: the
 * charges for a counter sum to cost(final counter) exactly. -ERANGE if it
 * does not fit an int64_t. Every function here returns -EINVAL for a NULL
 * rate card, an unknown resource or a price outside 0..MONEY_AMOUNT_MAX. */
int pricing_cost(const struct rate_card *rc, enum resource r, uint64_t counter, int64_t *ret);
/* cost(to) - cost(from); 0 when to <= from (a counter that went back, as
 * after a restart, charges nothing). Taken in 128 bits: -ERANGE only when
 * the charge itself does not fit an int64_t. */
int pricing_charge(const struct rate_card *rc, enum resource r, uint64_t from, uint64_t to, int64_t *ret);

/* A VM slice's rate card: rc with its disk's hourly price added to the
 * base fee (per slice-hour): disk_gib_hour for each GiB (2^30 bytes) of
 * disk_bytes, rounded up. The disk is held whether used or not, like the
 * slice itself, so it is charged by time under "base", and the books need
 * no new account. -ERANGE when the price passes MONEY_AMOUNT_MAX, -EINVAL
 * for a price outside 0..MONEY_AMOUNT_MAX. */
int pricing_with_disk(const struct rate_card *rc, int64_t disk_gib_hour, uint64_t disk_bytes,
                      struct rate_card *ret);

/* A size to quote: CPUs in milli-CPUs, memory in bytes (0: not priced). */
struct pricing_size {
        uint64_t cpus_milli;
        uint64_t memory_bytes;
};

/* Cost of running size at full use for duration_usec, itemised; items
 * that depend on traffic (net, io) are 0: a quote cannot bound them.
 * Each item is rounded up (a quote never promises less than will be
 * charged). ret_items or ret_total may be NULL. -ERANGE if an item or the
 * total does not fit an int64_t. */
int pricing_quote(const struct rate_card *rc, const struct pricing_size *size, uint64_t duration_usec,
                  int64_t ret_items[_RESOURCE_MAX], int64_t *ret_total);

/* The largest CPU size, in milli-CPUs and at most max_cpus_milli, that
 * funds pays for at full use for duration_usec, with memory_bytes of
 * memory and the base fee also paid: the largest size whose
 * pricing_quote() total is <= funds. -ENOSPC when funds do not cover even
 * min_cpus_milli: *ret_shortfall (if not NULL) is then how much more is
 * needed for it (quote total at min_cpus_milli - funds). -EDOM when the
 * CPU price is 0 (any size is free: the caller picks max_cpus_milli).
 * -EINVAL unless 1 <= min_cpus_milli <= max_cpus_milli; -ERANGE when the
 * quote at min_cpus_milli does not fit an int64_t. Either output may be
 * NULL. */
int pricing_size_to_funds(const struct rate_card *rc, int64_t funds, uint64_t duration_usec, uint64_t memory_bytes,
                          uint64_t min_cpus_milli, uint64_t max_cpus_milli, uint64_t *ret_cpus_milli,
                          int64_t *ret_shortfall);

/* CPU sizes: a quota of quota_usec in every period_usec is quota * 1000 /
 * period milli-CPUs. A quota arrives from a request, so every product is
 * checked: -EINVAL for a period of 0, -ERANGE when the result does not fit
 * 64 bits (never a wrapped value: 18446744073709552 us x 1000 wraps to
 * 384, which would read as no CPU at all). *ret is written only on success. */
/* The milli-CPUs a quota allows, rounded up: what the slice may use, so
 * what is held against MaxCPUs= and priced. */
int pricing_cpus_of_quota(uint64_t quota_usec, uint64_t period_usec, uint64_t *ret_cpus_milli);
/* The quota per period for cpus_milli, rounded down. */
int pricing_quota_of_cpus(uint64_t cpus_milli, uint64_t period_usec, uint64_t *ret_quota_usec);
/* The quota per second (systemd's CPUQuotaPerSecUSec), rounded up so that
 * per_sec x period / 1 s, rounded down, gives quota_usec back. -ERANGE also
 * for UINT64_MAX, which systemd reads as no limit. */
int pricing_quota_per_sec(uint64_t quota_usec, uint64_t period_usec, uint64_t *ret_per_sec_usec);
