/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A slice's history folded as its entries are written (schema 10): the
 * chart_summary (common/chart.h) of its balance and what it was charged
 * after each entry, kept in two tables beside the books and folded at
 * the commit of the batch that writes the entries, in its transaction,
 * so that a history request reads at most CHART_SUMMARY_BUCKETS rows
 * however long the slice has lived. A cache of the entries, not books:
 * outside the chain and the export; verify folds the entries again and
 * compares (ledger_history_verify()). daemon/README.md, "A slice's
 * history", says why at commit and not at each entry. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chart.h"
#include "common/log.h"
#include "common/money.h"
#include "ledger-internal.h"

/* A bucket from the row at column i on (idx, then its 3 points). */
static void bucket_from_row(sqlite3_stmt *s, int i, struct chart_summary_bucket *ret) {
        struct chart_point *pts[3] = { &ret->low, &ret->high, &ret->last };

        ret->index = column_u64(s, i++);
        for (size_t k = 0; k < 3; k++) {
                pts[k]->time_usec = column_u64(s, i++);
                pts[k]->balance = column_i64(s, i++);
                pts[k]->spent = column_i64(s, i++);
        }
}

static int bucket_put(struct ledger *l, const char *slice, const struct chart_summary_bucket *bk) {
        struct binder b = ledger_bind(l, STMT_HISTORY_BUCKET_PUT);
        const struct chart_point *pts[3] = { &bk->low, &bk->high, &bk->last };

        bind_text(&b, slice);
        bind_u64(&b, bk->index);
        for (size_t k = 0; k < 3; k++) {
                bind_u64(&b, pts[k]->time_usec);
                bind_i64(&b, pts[k]->balance);
                bind_i64(&b, pts[k]->spent);
        }
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "store a slice's history");
}

static int head_put(struct ledger *l, const char *slice, uint64_t origin, uint64_t width, size_t n) {
        struct binder b = ledger_bind(l, STMT_HISTORY_HEAD_PUT);

        bind_text(&b, slice);
        bind_u64(&b, origin);
        bind_u64(&b, width);
        bind_u64(&b, n);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "store a slice's history");
}

/* The whole of s as slice's stored history, in place of what was. */
static int summary_store(struct ledger *l, const char *slice, const struct chart_summary *s) {
        struct binder b = ledger_bind(l, STMT_HISTORY_BUCKETS_DELETE);
        int r;

        bind_text(&b, slice);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "store a slice's history");
        for (size_t i = 0; r >= 0 && i < s->n; i++)
                r = bucket_put(l, slice, &s->b[i]);
        if (r >= 0 && s->n > 0)
                r = head_put(l, slice, s->origin, s->width, s->n);
        return r;
}

/* Slice's stored history in *ret: n = 0 when none is stored (a slice
 * with no entry). Inside a read transaction or the batch. */
static int summary_load(struct ledger *l, const char *slice, struct chart_summary *ret) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_HISTORY_SUMMARY);
        int r;

        chart_summary_init(ret);
        bind_text(&b, slice);
        while ((r = ledger_bound_row(&b, "read a slice's history")) > 0) {
                struct chart_summary_bucket *bk;

                if (ret->n == CHART_SUMMARY_BUCKETS)
                        return log_error_errno(EUCLEAN, "Ledger %s: slice %s's stored history has too many "
                                               "buckets.", l->path, slice);
                bk = &ret->b[ret->n];
                bucket_from_row(b.s, 3, bk);
                ret->origin = column_u64(b.s, 0);
                ret->width = column_u64(b.s, 1);
                if (ret->width == 0 || (ret->n > 0 && bk->index <= ret->b[ret->n - 1].index))
                        return log_error_errno(EUCLEAN, "Ledger %s: slice %s's stored history is malformed.",
                                               l->path, slice);
                ret->n++;
        }
        return r;
}

/* A point no earlier than the last one folded: an entry written after a
 * step back of the clock is drawn at the time of the one before it,
 * rather than break the slice's chart (the downsampler and the SVG take
 * points in time order only). */
static void point_clamp(struct chart_point *p, const struct chart_summary_bucket *last) {
        if (last && p->time_usec < last->last.time_usec)
                p->time_usec = last->last.time_usec;
}

/* What an entry's postings do to its slice's balance and charges, as
 * STMT_HISTORY sums them. */
static int entry_deltas(const struct entry *e, int64_t *ret_balance, int64_t *ret_spent) {
        char account[ACCOUNT_MAX];
        int64_t balance = 0, spent = 0;

        snprintf(account, sizeof(account), "slice:%s", e->slice);
        for (size_t i = 0; i < e->n_postings; i++) {
                const struct posting *p = &e->postings[i];

                if (streq(p->account, account) && !money_add(balance, p->amount, &balance))
                        return -EOVERFLOW;
                if (strneq(p->account, "charge:", 7) && !money_add(spent, p->amount, &spent))
                        return -EOVERFLOW;
        }
        *ret_balance = balance;
        *ret_spent = spent;
        return 0;
}

int ledger_history_note(struct ledger *l, const struct entry *e) {
        struct history_point *p;
        int r;

        /* As STMT_HISTORY: an entry without postings is no point. */
        if (e->n_postings == 0)
                return 0;
        if (l->n_pending == l->cap_pending) {
                size_t cap = MAX(l->cap_pending * 2, (size_t) 64);
                struct history_point *q = reallocarray(l->pending, cap, sizeof(*q));

                if (!q)
                        return log_oom();
                l->pending = q;
                l->cap_pending = cap;
        }
        p = &l->pending[l->n_pending];
        r = entry_deltas(e, &p->balance, &p->spent);
        if (r < 0)
                return log_error_errno(r, "Ledger %s: slice %s's history overflows.", l->path, e->slice);
        snprintf(p->slice, sizeof(p->slice), "%s", e->slice);
        p->seq = e->seq;
        p->time_usec = e->time_usec;
        l->n_pending++;
        return 0;
}

void ledger_history_trim(struct ledger *l) {
        while (l->n_pending > 0 && l->pending[l->n_pending - 1].seq > l->tip.seq)
                l->n_pending--;
}

static int pending_compare(const void *a, const void *b) {
        const struct history_point *x = a, *y = b;
        int c = strcmp(x->slice, y->slice);

        if (c != 0)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The point of pending entry q after a last point of its slice (NULL:
 * its first). */
static int point_of(struct ledger *l, const struct history_point *q, const struct chart_summary_bucket *last,
                    struct chart_point *ret) {
        struct chart_point p = { q->time_usec, q->balance, q->spent };

        if (last && (!money_add(p.balance, last->last.balance, &p.balance) ||
                     !money_add(p.spent, last->last.spent, &p.spent)))
                return log_error_errno(EOVERFLOW, "Ledger %s: slice %s's history overflows.", l->path, q->slice);
        point_clamp(&p, last);
        *ret = p;
        return 0;
}

static int tail_compare(const void *key, const void *t) {
        return strcmp(key, ((const struct history_tail *) t)->slice);
}

static struct history_tail *tail_find(struct ledger *l, const char *slice) {
        return bsearch(slice, l->tails, l->n_tails, sizeof(l->tails[0]), tail_compare);
}

/* Slice's tail kept as given, in id order; not kept when there are
 * LEDGER_HISTORY_TAILS_MAX already or no memory (the next commit reads
 * it again). */
static void tail_keep(struct ledger *l, const char *slice, uint64_t origin, uint64_t width, size_t n,
                      const struct chart_summary_bucket *last) {
        struct history_tail *t = tail_find(l, slice);
        size_t at = 0;

        if (!t) {
                if (l->n_tails >= LEDGER_HISTORY_TAILS_MAX)
                        return;
                if (l->n_tails == l->cap_tails) {
                        size_t cap = MAX(l->cap_tails * 2, (size_t) 64);
                        struct history_tail *q = reallocarray(l->tails, cap, sizeof(*q));

                        if (!q)
                                return;
                        l->tails = q;
                        l->cap_tails = cap;
                }
                while (at < l->n_tails && strcmp(l->tails[at].slice, slice) < 0)
                        at++;
                memmove(&l->tails[at + 1], &l->tails[at], (l->n_tails - at) * sizeof(l->tails[0]));
                l->n_tails++;
                t = &l->tails[at];
                snprintf(t->slice, sizeof(t->slice), "%s", slice);
        }
        t->origin = origin;
        t->width = width;
        t->n = n;
        t->last = *last;
}

void ledger_history_committed(struct ledger *l, int r) {
        if (r < 0)
                l->n_tails = 0;
        else
                l->tails_seq = l->tip.seq;
}

void ledger_history_begin(struct ledger *l) {
        if (l->tip.seq != l->tails_seq)
                l->n_tails = 0;
}

/* The pending points of one slice, q[0..n), into its stored history: its
 * last bucket read (or kept from this handle's last commit), then as a
 * rule only the buckets they change or open written. */
static int flush_slice(struct ledger *l, const struct history_point *q, size_t n_q) {
        _cleanup_(freep) struct chart_summary *s = NULL;
        struct chart_summary_bucket last, new;
        uint64_t origin = 0, width = CHART_SUMMARY_WIDTH_USEC;
        const char *slice = q[0].slice;
        struct chart_point p;
        size_t n = 0, n_stored, i = 0;
        /* Only what changed is written: a bucket closed by the batch's
         * first point is as it is stored. */
        bool have, last_changed = false;
        const struct history_tail *t = tail_find(l, slice);
        int r;

        if (t) {
                have = true;
                origin = t->origin;
                width = t->width;
                n = t->n;
                last = t->last;
        } else {
                _cleanup_binder_ struct binder b = ledger_bind(l, STMT_HISTORY_TAIL);

                bind_text(&b, slice);
                r = ledger_bound_row(&b, "read a slice's history");
                if (r < 0)
                        return r;
                have = r > 0;
                if (have) {
                        origin = column_u64(b.s, 0);
                        width = column_u64(b.s, 1);
                        n = (size_t) column_u64(b.s, 2);
                        bucket_from_row(b.s, 3, &last);
                }
        }
        n_stored = n;
        for (; i < n_q; i++) {
                r = point_of(l, &q[i], have ? &last : NULL, &p);
                if (r < 0)
                        return r;
                if (!have)
                        origin = p.time_usec;
                r = chart_summary_add_tail(origin, width, n, have ? &last : NULL, &p, &new);
                if (r == -EXFULL)
                        break;
                if (r < 0)
                        return log_error_errno(EUCLEAN, "Ledger %s: slice %s's stored history is malformed.",
                                               l->path, slice);
                if (r > 0) {
                        /* The bucket before is done. */
                        if (last_changed && (r = bucket_put(l, slice, &last)) < 0)
                                return r;
                        last = new;
                        have = true;
                        n++;
                }
                last_changed = true;
        }
        if (last_changed && (r = bucket_put(l, slice, &last)) < 0)
                return r;
        if (n != n_stored && (r = head_put(l, slice, origin, width, n)) < 0)
                return r;
        if (i == n_q) {
                if (have)
                        tail_keep(l, slice, origin, width, n, &last);
                return 0;
        }

        /* The buckets are full: all of them, twice as wide, and the rest
         * folded in memory. Once each time the slice's life doubles. */
        s = malloc(sizeof(*s));
        if (!s)
                return log_oom();
        r = summary_load(l, slice, s);
        if (r < 0)
                return r;
        for (; i < n_q; i++) {
                r = point_of(l, &q[i], &s->b[s->n - 1], &p);
                if (r < 0)
                        return r;
                r = chart_summary_add(s, &p);
                if (r < 0)
                        return log_error_errno(EUCLEAN, "Ledger %s: slice %s's stored history is malformed.",
                                               l->path, slice);
        }
        r = summary_store(l, slice, s);
        if (r >= 0)
                tail_keep(l, slice, s->origin, s->width, s->n, &s->b[s->n - 1]);
        return r;
}

int ledger_history_flush(struct ledger *l) {
        size_t i = 0;
        int r;

        qsort(l->pending, l->n_pending, sizeof(l->pending[0]), pending_compare);
        while (i < l->n_pending) {
                size_t j = i + 1;

                while (j < l->n_pending && streq(l->pending[j].slice, l->pending[i].slice))
                        j++;
                r = flush_slice(l, &l->pending[i], j - i);
                if (r < 0)
                        return r;
                i = j;
        }
        l->n_pending = 0;
        return 0;
}

static int fold_cb(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata) {
        struct chart_summary *s = userdata;
        struct chart_point p = { time_usec, balance, spent };

        point_clamp(&p, s->n > 0 ? &s->b[s->n - 1] : NULL);
        return chart_summary_add(s, &p);
}

/* Slice's entries up to upto folded afresh, as ledger_history_flush()
 * folds them a batch at a time. */
static int summary_from_entries(struct ledger *l, const char *slice, uint64_t upto, struct chart_summary *ret) {
        chart_summary_init(ret);
        return ledger_history_read(l, slice, upto, fold_cb, ret);
}

/* Each slice's id in turn to cb; the statement is held while cb runs. */
static int slices_foreach(struct ledger *l, int (*cb)(struct ledger *l, const char *slice, void *userdata),
                          void *userdata) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_HISTORY_SLICES);
        char id[SLICE_ID_MAX];
        int r;

        while ((r = ledger_bound_row(&b, "read the slices")) > 0) {
                if (!column_text_copy(b.s, 0, id, sizeof(id)))
                        return log_error_errno(EUCLEAN, "Ledger %s: a slice's id is malformed.", l->path);
                r = cb(l, id, userdata);
                if (r < 0)
                        return r;
        }
        return r;
}

static int rebuild_one(struct ledger *l, const char *slice, void *userdata) {
        struct chart_summary *s = userdata;
        int r;

        r = summary_from_entries(l, slice, UINT64_MAX, s);
        return r < 0 ? r : summary_store(l, slice, s);
}

int ledger_slice_history_summary(struct ledger *l, const char *slice, struct chart_summary *ret) {
        bool opened;
        int r;

        if (!l || !ret || !slice_id_is_valid(slice))
                return -EINVAL;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = summary_load(l, slice, ret);
        ledger_read_end(l, opened);
        return r;
}

int ledger_history_rebuild(struct ledger *l) {
        _cleanup_(freep) struct chart_summary *s = malloc(sizeof(*s));

        if (!s)
                return log_oom();
        return slices_foreach(l, rebuild_one, s);
}

struct verify_history {
        struct chart_summary *stored, *folded;
        char **d;
};

static bool bucket_equal(const struct chart_summary_bucket *a, const struct chart_summary_bucket *b) {
        const struct chart_point *pa[3] = { &a->low, &a->high, &a->last }, *pb[3] = { &b->low, &b->high, &b->last };

        if (a->index != b->index)
                return false;
        for (size_t k = 0; k < 3; k++)
                if (pa[k]->time_usec != pb[k]->time_usec || pa[k]->balance != pb[k]->balance ||
                    pa[k]->spent != pb[k]->spent)
                        return false;
        return true;
}

static int verify_one(struct ledger *l, const char *slice, void *userdata) {
        struct verify_history *v = userdata;
        int r;

        /* The open batch's entries are folded at its commit. */
        r = summary_from_entries(l, slice, l->in_batch ? l->batch_tip.seq : UINT64_MAX, v->folded);
        if (r < 0)
                return r;
        r = summary_load(l, slice, v->stored);
        if (r == -EUCLEAN)
                return ledger_discrepancy(v->d, "Slice %s: its stored history is malformed.", slice);
        if (r < 0)
                return r;
        if (v->stored->n != v->folded->n ||
            (v->stored->n > 0 && (v->stored->origin != v->folded->origin || v->stored->width != v->folded->width)))
                return ledger_discrepancy(v->d, "Slice %s: its stored history (%zu buckets) is not the fold of its "
                                          "entries (%zu buckets).", slice, v->stored->n, v->folded->n);
        for (size_t i = 0; i < v->stored->n; i++)
                if (!bucket_equal(&v->stored->b[i], &v->folded->b[i]))
                        return ledger_discrepancy(v->d, "Slice %s: bucket %zu of its stored history is not the "
                                                  "fold of its entries.", slice, i);
        return 0;
}

int ledger_history_verify(struct ledger *l, char **d) {
        _cleanup_(freep) struct chart_summary *stored = malloc(sizeof(*stored)), *folded = malloc(sizeof(*folded));
        struct verify_history v = { stored, folded, d };
        char id[SLICE_ID_MAX];
        int r;

        if (!stored || !folded)
                return log_oom();
        {
                _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_HISTORY_STRAYS);

                r = ledger_bound_row(&b, "match stored histories to their slices");
                if (r < 0)
                        return r;
                if (r > 0) {
                        if (!column_text_copy(b.s, 0, id, sizeof(id)))
                                snprintf(id, sizeof(id), "?");
                        return ledger_discrepancy(d, "Stored history of %s: of no slice, or its buckets are not "
                                                  "as many as it says.", id);
                }
        }
        return slices_foreach(l, verify_one, &v);
}
