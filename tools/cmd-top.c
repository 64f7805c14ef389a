/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay top: the slices, live, one line each, in the manner of
 * systemd-cgtop: state, CPU now, memory, network, balance, burn rate,
 * time left and a sparkline of the balance, sorted by burn or time left.
 *
 * Each refresh is one brief list (the rows `prepay list` reads, with the
 * daemon's enforcement state, burn rate, time left and the time of each
 * slice's read): prepayd reads no slice for it. The rates (CPU now,
 * traffic) are the counters' change between two reads of the same slice
 * divided by the time between those reads, the daemon's times, not this
 * client's: a list shows each slice as of its last read. The sparkline is
 * the balances this client saw, oldest first; nothing of it is stored.
 *
 * Plain ANSI escapes and termios, as systemd-cgtop does: a screen that is
 * redrawn whole from the top needs no curses, and no terminfo beyond the
 * VT100 sequences every terminal emulator speaks. */
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

#define TOP_SPARK_MAX 64 /* samples of the balance kept per slice */
#define TOP_DELAY_DEFAULT_USEC (1 * USEC_PER_SEC)
#define TOP_DELAY_MIN_USEC (100 * USEC_PER_MSEC)

enum top_sort {
        SORT_BURN, /* the fastest burning first */
        SORT_LEFT, /* the nearest to spent first */
};

struct top_slice {
        char id[SLICE_ID_MAX];
        char state[16];       /* running, empty, frozen */
        char enforcement[16]; /* ok, low, throttled, frozen, killed; "" when unfunded */
        char currency[CURRENCY_SIZE];
        bool funded;
        int64_t balance, burn_rate;
        uint64_t time_left_usec;
        uint64_t cpu_usec, memory, net_bytes, read_usec;
        /* From two reads of this slice; known once there were two. */
        bool rates;
        uint64_t cpu_milli;     /* thousandths of one CPU */
        uint64_t net_per_sec;   /* bytes in and out */
        int64_t spark[TOP_SPARK_MAX];
        unsigned n_spark;
};

struct top {
        struct top_slice *v;
        size_t n, size;
        enum top_sort sort;
        bool color, utf8;
        unsigned rows, cols;
        uint64_t refreshes;
};

static volatile sig_atomic_t got_quit, got_winch;

static void on_quit(int sig _unused_) {
        got_quit = 1;
}

static void on_winch(int sig _unused_) {
        got_winch = 1;
}

static int slice_cmp_id(const void *a, const void *b) {
        return strcmp(((const struct top_slice *) a)->id, ((const struct top_slice *) b)->id);
}

/* A list_page_fn: each row appended to the new sample (userdata). */
static int take_page(json_object *page, void *userdata) {
        struct top *t = userdata;
        int r = 0;

        for (size_t i = 0; i < json_object_array_length(page); i++) {
                struct slice_info info;
                struct top_slice *s;
                const char *err = NULL;

                if (slice_row_from_json(json_object_array_get_idx(page, i), &info, &err) < 0) {
                        r = log_error_errno(EPROTO, "Malformed slice in prepayd's reply: %s", strna(err));
                        continue;
                }
                if (t->n == t->size) {
                        size_t size = t->size ? t->size * 2 : 64;
                        struct top_slice *v = reallocarray(t->v, size, sizeof(*v));

                        if (!v)
                                return log_oom();
                        t->v = v;
                        t->size = size;
                }
                s = &t->v[t->n++];
                *s = (struct top_slice) {
                        .funded = info.account.funded,
                        .balance = info.account.balance,
                        .burn_rate = info.account.burn_rate,
                        .time_left_usec = info.account.time_left_usec,
                        .cpu_usec = info.usage.cpu_usec,
                        .memory = info.usage.memory_current,
                        .read_usec = info.read_usec,
                };
                /* Counters of one slice only grow; a wrap is not a rate. */
                if (__builtin_add_overflow(info.usage.net_rx_bytes, info.usage.net_tx_bytes, &s->net_bytes))
                        s->net_bytes = UINT64_MAX;
                snprintf(s->id, sizeof(s->id), "%s", info.id);
                snprintf(s->state, sizeof(s->state), "%s", info.state);
                snprintf(s->enforcement, sizeof(s->enforcement), "%s", info.account.enforcement);
                snprintf(s->currency, sizeof(s->currency), "%s", info.account.currency);
        }
        return r;
}

/* The rates and the sparkline of s from its previous sample. */
static void carry(struct top_slice *s, const struct top_slice *old) {
        unsigned keep;

        /* The daemon turns its monotonic read times into wall-clock ones
         * as it answers, a few microseconds apart from one answer to the
         * next: the same read, not a new one, unless a millisecond apart. */
        if (old->read_usec > 0 && s->read_usec > old->read_usec + USEC_PER_MSEC) {
                uint64_t dt = s->read_usec - old->read_usec;

                s->rates = true;
                s->cpu_milli = s->cpu_usec >= old->cpu_usec ? (s->cpu_usec - old->cpu_usec) * 1000 / dt : 0;
                s->net_per_sec = s->net_bytes >= old->net_bytes && s->net_bytes - old->net_bytes < UINT64_MAX / USEC_PER_SEC
                                         ? (s->net_bytes - old->net_bytes) * USEC_PER_SEC / dt
                                         : 0;
        } else {
                /* Not read again since: the rates of the last two reads. */
                s->rates = old->rates;
                s->cpu_milli = old->cpu_milli;
                s->net_per_sec = old->net_per_sec;
        }
        keep = old->n_spark == TOP_SPARK_MAX ? TOP_SPARK_MAX - 1 : old->n_spark;
        memcpy(s->spark, old->spark + (old->n_spark - keep), keep * sizeof(s->spark[0]));
        s->n_spark = keep;
}

static int sort_cmp(const struct top_slice *a, const struct top_slice *b, enum top_sort sort) {
        if (a->funded != b->funded)
                return a->funded ? -1 : 1;
        if (sort == SORT_LEFT) {
                /* Not burning (no time left to tell) after the burning. */
                bool ab = a->burn_rate > 0, bb = b->burn_rate > 0;

                if (ab != bb)
                        return ab ? -1 : 1;
                if (ab && a->time_left_usec != b->time_left_usec)
                        return a->time_left_usec < b->time_left_usec ? -1 : 1;
        }
        if (a->burn_rate != b->burn_rate)
                return a->burn_rate > b->burn_rate ? -1 : 1;
        return strcmp(a->id, b->id);
}

static enum top_sort sort_by;

static int sort_qcmp(const void *a, const void *b) {
        return sort_cmp(a, b, sort_by);
}

/* A new sample of every slice: rates and sparklines carried over from the
 * previous one, which it replaces. */
static int top_refresh(struct top *t) {
        struct top *old = &(struct top) { .v = t->v, .n = t->n };
        int r;

        /* Shown in the order of the sort: found by id. */
        if (old->n > 0)
                qsort(old->v, old->n, sizeof(old->v[0]), slice_cmp_id);
        t->v = NULL;
        t->n = t->size = 0;
        r = list_fetch(true, true, take_page, t);
        if (r < 0) {
                free(t->v);
                t->v = old->v;
                t->n = old->n;
                t->size = old->n;
                return r;
        }
        qsort(t->v, t->n, sizeof(t->v[0]), slice_cmp_id);
        for (size_t i = 0; i < t->n; i++) {
                struct top_slice *s = &t->v[i];
                const struct top_slice *o = old->n ? bsearch(s, old->v, old->n, sizeof(old->v[0]), slice_cmp_id)
                                                   : NULL;

                if (o)
                        carry(s, o);
                if (s->funded)
                        s->spark[s->n_spark++] = s->balance;
        }
        free(old->v);
        t->refreshes++;
        return 0;
}

static void top_sort(struct top *t) {
        sort_by = t->sort;
        qsort(t->v, t->n, sizeof(t->v[0]), sort_qcmp);
}

/* The balances seen, scaled between their least and most: a falling
 * balance is a falling line. */
static void format_spark(char *buf, size_t n, const struct top_slice *s, unsigned width, bool utf8) {
        static const char *const blocks[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
        static const char ascii[] = "_.-:=+*#";
        unsigned first = s->n_spark > width ? s->n_spark - width : 0;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        size_t len = 0;

        buf[0] = 0;
        for (unsigned i = first; i < s->n_spark; i++) {
                lo = s->spark[i] < lo ? s->spark[i] : lo;
                hi = s->spark[i] > hi ? s->spark[i] : hi;
        }
        for (unsigned i = first; i < s->n_spark; i++) {
                /* In 128-bit: hi - lo may be any int64_t span. */
                unsigned level = hi == lo ? 7 : (unsigned) ((__int128) (s->spark[i] - (__int128) lo) * 7 / ((__int128) hi - lo));
                const char *c = utf8 ? blocks[level] : (char[]) { ascii[level], 0 };
                size_t l = strlen(c);

                if (len + l + 1 > n)
                        break;
                memcpy(buf + len, c, l + 1);
                len += l;
        }
}

static const char *state_of(const struct top_slice *s) {
        /* The money's state tells more than the cgroup's, except "ok". */
        if (s->funded && s->enforcement[0] && !streq(s->enforcement, "ok"))
                return s->enforcement;
        return s->state;
}

static const char *color_of(const struct top_slice *s) {
        const char *st = state_of(s);

        if (streq(st, "frozen") || streq(st, "killed"))
                return "\033[1;31m";
        if (streq(st, "low") || streq(st, "throttled"))
                return "\033[1;33m";
        return NULL;
}

#define TOP_LINE_MAX 1024

/* One slice's line, cut to cols (the sparkline takes what is left). */
static void format_line(char *buf, size_t n, const struct top *t, const struct top_slice *s) {
        char cpu[48], mem[FORMAT_SIZE_MAX], net[FORMAT_SIZE_MAX + 2], bal[MONEY_FORMAT_MAX + CURRENCY_SIZE + 1],
                burn[MONEY_FORMAT_MAX + 2], left[FORMAT_DURATION_MAX], m[MONEY_FORMAT_MAX],
                spark[TOP_SPARK_MAX * 4 + 1];
        int len;

        if (s->rates)
                snprintf(cpu, sizeof(cpu), "%" PRIu64 ".%" PRIu64 "%%", s->cpu_milli / 10, s->cpu_milli % 10);
        else
                snprintf(cpu, sizeof(cpu), "-");
        format_size(mem, sizeof(mem), s->memory);
        if (s->rates) {
                format_size(net, sizeof(net), s->net_per_sec);
                strcat(net, "/s");
        } else
                snprintf(net, sizeof(net), "-");
        if (s->funded) {
                snprintf(bal, sizeof(bal), "%s %s", money_format(m, sizeof(m), s->balance), s->currency);
                snprintf(burn, sizeof(burn), "%s/s", money_format(m, sizeof(m), s->burn_rate));
                if (s->burn_rate > 0)
                        format_duration(left, sizeof(left), s->time_left_usec);
                else
                        snprintf(left, sizeof(left), "-");
        } else {
                snprintf(bal, sizeof(bal), "-");
                snprintf(burn, sizeof(burn), "-");
                snprintf(left, sizeof(left), "-");
        }
        len = snprintf(buf, n, "%-18s %-9s %6s %8s %10s %16s %12s %9s ", s->id, state_of(s), cpu, mem, net, bal, burn,
                       left);
        if (len < 0 || (size_t) len >= n)
                return;
        /* The columns are ASCII: cut by bytes. The sparkline (UTF-8
         * blocks, three bytes a column) gets the columns left, never a
         * wrapped line. */
        if ((unsigned) len >= t->cols) {
                buf[t->cols] = 0;
                return;
        }
        format_spark(spark, sizeof(spark), s, t->cols - (unsigned) len, t->utf8);
        snprintf(buf + len, n - (size_t) len, "%s", spark);
}

static const char *sort_name(enum top_sort s) {
        return s == SORT_LEFT ? "time left" : "burn";
}

/* A frame into f: a header, the slices that fit rows (all when rows is
 * 0), a footer with the keys when interactive. */
static void top_print(FILE *f, const struct top *t, bool screen) {
        const char *bold = t->color ? "\033[1m" : "", *rev = t->color ? "\033[7m" : "", *off = t->color ? "\033[0m" : "";
        const char *eol = screen ? "\033[K\n" : "\n";
        char line[TOP_LINE_MAX], head[TOP_LINE_MAX], m[MONEY_FORMAT_MAX];
        size_t shown = t->n;
        int64_t burn = 0;

        for (size_t i = 0; i < t->n; i++)
                (void) money_add(burn, t->v[i].burn_rate > 0 ? t->v[i].burn_rate : 0, &burn);
        snprintf(head, sizeof(head), "%zu slices, burning %s/s together, sorted by %s", t->n,
                 money_format(m, sizeof(m), burn),
                 sort_name(t->sort));
        if (screen && strlen(head) > t->cols)
                head[t->cols] = 0;
        fprintf(f, "%s%s%s%s", bold, head, off, eol);
        snprintf(line, sizeof(line), "%-18s %-9s %6s %8s %10s %16s %12s %9s %s", "SLICE", "STATE", "CPU", "MEMORY",
                 "NET", "BALANCE", "BURN", "LEFT", "BALANCE SEEN");
        if (screen && strlen(line) > t->cols)
                line[t->cols] = 0;
        fprintf(f, "%s%-*s%s%s", rev, screen ? (int) t->cols : 0, line, off, eol);
        if (screen)
                shown = t->rows > 3 ? t->rows - 3 : 0;
        for (size_t i = 0; i < t->n && i < shown; i++) {
                const char *c = t->color ? color_of(&t->v[i]) : NULL;

                format_line(line, sizeof(line), t, &t->v[i]);
                fprintf(f, "%s%s%s%s", c ?: "", line, c ? off : "", eol);
        }
        if (screen) {
                /* Blank lines down to the footer, which stays at the bottom. */
                for (size_t i = t->n < shown ? t->n : shown; i < shown; i++)
                        fputs(eol, f);
                snprintf(line, sizeof(line), "b: sort by burn  t: sort by time left  q: quit%s",
                         t->n > shown ? "  (more slices than fit)" : "");
                if (strlen(line) > t->cols)
                        line[t->cols] = 0;
                fprintf(f, "%s%s%s\033[K", rev, line, off);
        }
}

static json_object *top_json(const struct top *t) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < t->n; i++) {
                const struct top_slice *s = &t->v[i];
                json_object *o = json_object_new_object();

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        json_object_put(a);
                        return NULL;
                }
                json_object_object_add(o, "id", json_object_new_string(s->id));
                json_object_object_add(o, "state", json_object_new_string(s->state));
                json_object_object_add(o, "cpu_milli", s->rates ? json_object_new_int64((int64_t) s->cpu_milli) : NULL);
                json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t) (s->memory & INT64_MAX)));
                json_object_object_add(o, "net_bytes_per_sec",
                                       s->rates ? json_object_new_int64((int64_t) (s->net_per_sec & INT64_MAX)) : NULL);
                if (!s->funded)
                        continue;
                json_object_object_add(o, "enforcement", json_object_new_string(s->enforcement));
                json_object_object_add(o, "balance", json_object_new_int64(s->balance));
                json_object_object_add(o, "currency", json_object_new_string(s->currency));
                json_object_object_add(o, "burn_rate", json_object_new_int64(s->burn_rate));
                json_object_object_add(o, "time_left_usec",
                                       json_object_new_int64((int64_t) (s->time_left_usec & INT64_MAX)));
        }
        return a;
}

static void top_size(struct top *t) {
        struct winsize w;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) >= 0 && w.ws_row > 0 && w.ws_col > 0) {
                t->rows = w.ws_row;
                t->cols = w.ws_col < TOP_LINE_MAX - 1 ? w.ws_col : TOP_LINE_MAX - 1;
        } else {
                t->rows = 24;
                t->cols = 80;
        }
}

/* One frame, written at once: no half-drawn screen between two writes. */
static int top_draw(const struct top *t, bool screen) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return log_oom();
        if (screen)
                fputs("\033[H", f);
        top_print(f, t, screen);
        if (fclose(f) != 0)
                return log_oom();
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
                return -EIO;
        return 0;
}

static struct termios saved_termios;
static bool termios_saved;

static void screen_leave(void) {
        /* Cursor shown, the main screen back, the line discipline as found. */
        fputs("\033[?25h\033[?1049l", stdout);
        fflush(stdout);
        if (termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
}

static int screen_enter(void) {
        struct termios raw;

        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) >= 0) {
                termios_saved = true;
                raw = saved_termios;
                /* Keys one at a time, unechoed; ^C stays a signal. */
                raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
                raw.c_cc[VMIN] = 0;
                raw.c_cc[VTIME] = 0;
                if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
                        return log_error_errno(errno, "Failed to set the terminal's mode: %m");
        }
        fputs("\033[?1049h\033[?25l\033[2J", stdout);
        return 0;
}

/* The keys read; false to quit. */
static bool top_keys(struct top *t) {
        char keys[32];
        ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));

        for (ssize_t i = 0; i < n; i++)
                switch (keys[i]) {
                case 'q':
                case 'Q':
                        return false;
                case 'b':
                        t->sort = SORT_BURN;
                        break;
                case 't':
                case 'l':
                        t->sort = SORT_LEFT;
                        break;
                }
        return true;
}

static int arg_sort(const char *s, void *data) {
        enum top_sort *ret = data;

        if (streq(s, "burn"))
                *ret = SORT_BURN;
        else if (streq(s, "left") || streq(s, "time-left"))
                *ret = SORT_LEFT;
        else
                return arg_invalid("--sort value", s, "burn or left");
        return 0;
}

static void top_help(void) {
        printf("Usage: prepay top [--once | --json | -n N] [-d SECONDS] [--sort burn|left]\n"
               "\n"
               "Shows the slices live, one line each, in the manner of systemd-cgtop:\n"
               "state, CPU now, memory, network, balance, burn rate, time left and a line\n"
               "of the balances seen since it started. Keys: b sorts by burn rate, t by\n"
               "time left, q quits. An operator sees every slice, others their own.\n"
               "Not on a terminal it prints a frame each refresh, without colour.\n"
               "\n"
               "  --once             Print one frame and exit (rates need two reads: \"-\")\n"
               "  --json             Print the slices as a JSON array and exit\n"
               "  -n, --iterations=N Exit after N refreshes\n"
               "  -d, --delay=TIME   Time between refreshes (default 1s; \"0.5\", \"2s\")\n"
               "  --sort=KEY         burn (default) or left\n"
               "  -h, --help         Show this help\n"
               "\n"
               "Colour only on a terminal, and not when $NO_COLOR is set.\n");
}

int top_main(int argc, char *argv[]) {
        bool once = false, json = false, screen;
        uint64_t delay = TOP_DELAY_DEFAULT_USEC, iterations = 0;
        struct top t = { .sort = SORT_BURN };
        const struct arg_option options[] = {
                OPT_FLAG("once", &once),
                OPT_FLAG("json", &json),
                { .name = "iterations", .short_name = 'n', .type = ARG_U64, .parse = parse_u64, .data = &iterations,
                  .expected = "a number of refreshes" },
                { .name = "delay", .short_name = 'd', .type = ARG_U64, .parse = parse_duration, .data = &delay,
                  .expected = "a time such as 1, 0.5 or 2s" },
                OPT_CALL("sort", arg_sort, &t.sort),
                {}
        };
        struct sigaction quit = { .sa_handler = on_quit }, winch = { .sa_handler = on_winch };
        sigset_t block, wait_mask;
        const char *nc;
        int r, ret = 0;

        r = args_parse_no_operands(argc, argv, options, top_help,
                                   "Usage: prepay top [--once | --json | -n N] [-d SECONDS] [--sort burn|left]");
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (delay < TOP_DELAY_MIN_USEC) {
                log_error("A delay of less than 100ms would be prepayd's work more than a view.");
                return 2;
        }
        if (client_remote(NULL) != 0) {
                if (client_remote(NULL) > 0)
                        log_error("prepay top shows a host's own prepayd, not a gateway's (--host).");
                return 2;
        }

        (void) setlocale(LC_CTYPE, "");
        t.utf8 = streq(nl_langinfo(CODESET), "UTF-8");
        screen = !once && !json && isatty(STDOUT_FILENO);
        nc = getenv("NO_COLOR");
        t.color = isatty(STDOUT_FILENO) && !(nc && nc[0]);
        top_size(&t);

        if (once || json) {
                if (top_refresh(&t) < 0)
                        return 1;
                top_sort(&t);
                if (json) {
                        json_object *a = top_json(&t);

                        if (!a)
                                ret = log_oom();
                        else {
                                client_print_json(a);
                                json_object_put(a);
                        }
                } else {
                        t.cols = TOP_LINE_MAX - 1;
                        ret = top_draw(&t, false);
                }
                free(t.v);
                return ret < 0 ? 1 : 0;
        }

        /* The signals arrive only in ppoll(): none is lost between a check
         * and the wait, and the terminal is restored on the way out. */
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGWINCH);
        sigaddset(&block, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &block, &wait_mask);
        (void) sigaction(SIGINT, &quit, NULL);
        (void) sigaction(SIGTERM, &quit, NULL);
        (void) sigaction(SIGHUP, &quit, NULL);
        (void) sigaction(SIGWINCH, &winch, NULL);
        if (screen && screen_enter() < 0)
                return 1;

        for (;;) {
                uint64_t due;

                r = top_refresh(&t);
                if (r < 0) {
                        ret = r;
                        break;
                }
                top_sort(&t);
                if (!screen && t.refreshes > 1)
                        fputc('\n', stdout);
                if (top_draw(&t, screen) < 0)
                        break;
                if (iterations > 0 && t.refreshes >= iterations)
                        break;

                due = now_usec(CLOCK_MONOTONIC) + delay;
                for (;;) {
                        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
                        uint64_t now = now_usec(CLOCK_MONOTONIC);
                        struct timespec ts;

                        if (got_quit || now >= due)
                                break;
                        ts = (struct timespec) { .tv_sec = (time_t) ((due - now) / USEC_PER_SEC),
                                                 .tv_nsec = (long) ((due - now) % USEC_PER_SEC * 1000) };
                        r = ppoll(&p, screen ? 1 : 0, &ts, &wait_mask);
                        if (got_winch) {
                                got_winch = 0;
                                top_size(&t);
                                if (screen)
                                        (void) top_draw(&t, true);
                        }
                        if (r > 0 && (p.revents & POLLIN)) {
                                enum top_sort was = t.sort;

                                if (!top_keys(&t))
                                        got_quit = 1;
                                else if (t.sort != was) {
                                        top_sort(&t);
                                        (void) top_draw(&t, true);
                                }
                        } else if (r > 0)
                                got_quit = 1; /* the terminal hung up */
                }
                if (got_quit)
                        break;
        }
        if (screen)
                screen_leave();
        free(t.v);
        return ret < 0 ? 1 : 0;
}
