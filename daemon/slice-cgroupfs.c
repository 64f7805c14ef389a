/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * slice-cgroupfs: slices as plain cgroups, for hosts where prepayd owns a
 * cgroup subtree itself (no systemd as PID 1, or a delegated subtree).
 *
 * A slice is one cgroup in every hierarchy the backend uses, at the same
 * place below the backend's root in that hierarchy:
 *  - the v2 tree, always: identity (the cgroup id the BPF meter counts by),
 *    membership (cgroup.procs, cgroup.events), freeze and kill;
 *  - on a hybrid host, each v1 hierarchy that carries cpu, cpuacct, memory,
 *    pids or blkio: the limits and most counters.
 * On a pure v2 host the v2 tree carries everything. The decision is made per
 * controller: a controller bound to a v1 hierarchy is used there, any other
 * one is used in the v2 tree, so mixed setups work too.
 *
 * libcgroup handles the v1 hierarchies; the v2 tree is handled with direct
 * file I/O, on both layouts. libcgroup 2.0.2 names a hierarchy only by the
 * controllers it carries, and lists the v2 mount under whatever its
 * cgroup.controllers says: on the hybrid development machines that is
 * "hugetlb at /sys/fs/cgroup/unified", a tree carrying none of the
 * controllers prepay uses, so libcgroup has no name for the v2 tree we need.
 * It also has no call for cgroup.freeze, cgroup.kill or cgroup.events. One
 * v2 code path for both layouts also means the code the development
 * machines run is the code pure v2 hosts run.
 *
 * The parsing of the v2 counter files (and the cgroup id) is shared with
 * slice-systemd, in cgroup-v2.c.
 *
 * libcgroup 2.0.2 misbehaviours worked around here (measured, not guessed):
 *  - cgroup_create_cgroup() makes missing parent directories and nothing
 *    removes them later: open() records which directories did not exist
 *    before and close() removes exactly those.
 *  - cgroup_create_cgroup() succeeds on a cgroup that already exists: create()
 *    checks every hierarchy itself to return -EEXIST.
 *  - cgroup_delete_cgroup*() moves the tasks still inside to the parent
 *    before rmdir (CGFLAG_DELETE_IGNORE_MIGRATION only ignores errors
 *    doing so), which would put a slice's leftovers into the root: we only
 *    ever call it with CGFLAG_DELETE_EMPTY_ONLY, after the slice is empty.
 *  - With CGFLAG_DELETE_EMPTY_ONLY it returns 0 when it refused to delete a
 *    group with tasks, and 0 for a group that does not exist: success is
 *    checked by looking at the directory afterwards.
 *  - cgroup_attach_task_pid() writes the v1 "tasks" file, which moves one
 *    thread, not the process: attach() writes cgroup.procs instead.
 *
 * libcgroup keeps global state and is not thread-safe: all calls must come
 * from one thread (prepayd's event loop).
 */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>

#include "cgroup-v2.h"
#include "common/log.h"
#include "common/util.h"
#include "slice.h"

#define CPU_PERIOD_DEFAULT_USEC ((uint64_t) 100000)
#define CPU_PERIOD_MIN_USEC ((uint64_t) 1000) /* kernel limits for cfs_period_us and cpu.max */
#define CPU_PERIOD_MAX_USEC ((uint64_t) 1000000)
#define CPU_QUOTA_MIN_USEC ((uint64_t) 1000)

#define FREEZE_TIMEOUT_USEC (1 * USEC_PER_SEC)
#define DESTROY_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define KILL_FALLBACK_ROUNDS 20
#define KILL_FALLBACK_WAIT_USEC (100 * USEC_PER_MSEC)
#define RMDIR_TRIES 50 /* x RMDIR_WAIT_USEC: an exiting task can keep a cgroup busy briefly */
#define RMDIR_WAIT_USEC (20 * USEC_PER_MSEC)

enum {
        CTRL_CPU,
        CTRL_CPUACCT,
        CTRL_MEMORY,
        CTRL_PIDS,
        CTRL_IO,
        _CTRL_MAX,
};

/* Names as v1 mounts (and libcgroup) know them, and in v2 cgroup.controllers.
 * v2 has no cpuacct: usage comes from the core file cpu.stat. */
static const char *const ctrl_v1_name[_CTRL_MAX] = {
        [CTRL_CPU] = "cpu", [CTRL_CPUACCT] = "cpuacct", [CTRL_MEMORY] = "memory",
        [CTRL_PIDS] = "pids", [CTRL_IO] = "blkio",
};
static const char *const ctrl_v2_name[_CTRL_MAX] = {
        [CTRL_CPU] = "cpu", [CTRL_MEMORY] = "memory", [CTRL_PIDS] = "pids", [CTRL_IO] = "io",
};

/* Where a controller lives: an index into backend->v1[], or one of these. */
#define WHERE_NONE (-1)
#define WHERE_V2 (-2)

/* A v1 hierarchy that carries at least one controller we use. */
struct hierarchy {
        char *mount;      /* "/sys/fs/cgroup/memory" */
        int primary;      /* CTRL_* libcgroup addresses this hierarchy by */
        unsigned ctrls;   /* 1 << CTRL_* carried here */
        char *root;       /* backend root below the mount, libcgroup's name for it */
        char *root_fs;    /* mount + root */
        char **created;   /* directories open() made (fs paths), shallowest first, root last */
        size_t n_created;
};

struct slice_backend {
        struct slice_features features;
        bool has_freeze; /* cgroup.freeze exists (Linux 5.2+) */

        char *v2_mount;      /* "/sys/fs/cgroup/unified" */
        char *v2_mount_root; /* the mount's root in the hierarchy, as /proc/self/cgroup names it */
        char *v2_root;       /* below the mount: "/prepay" */
        char *v2_root_fs;    /* mount + root */
        int v2_root_fd;
        char **v2_created;
        size_t n_v2_created;

        struct hierarchy v1[_CTRL_MAX];
        size_t n_v1;
        int where[_CTRL_MAX];
};

/* Counter files a slice keeps open: read_counters() runs every 100 ms for
 * every slice, so it only preads. -1: not opened yet, -2: absent. */
enum {
        CF_EVENTS,      /* v2 cgroup.events */
        CF_CPU_USAGE,   /* v1 cpuacct.usage (none on v2: CF_CPU_STAT2 has it) */
        CF_CPU_STAT1,   /* v1 cpu.stat */
        CF_CPU_STAT2,   /* v2 cpu.stat */
        CF_MEM_CURRENT, /* v2 memory.current or v1 memory.usage_in_bytes */
        CF_MEM_PEAK,    /* v2 memory.peak or v1 memory.max_usage_in_bytes */
        CF_MEM_OOM,     /* v2 memory.events or v1 memory.oom_control */
        CF_IO,          /* v2 io.stat or v1 blkio.throttle.io_service_bytes */
        CF_PIDS,        /* pids.current */
        _CF_MAX,
};

#define FD_UNOPENED (-1)
#define FD_ABSENT (-2)

struct slice_handle {
        struct slice_backend *b;
        char id[SLICE_ID_MAX];
        char *v2_path; /* below the v2 mount: "/prepay/s-0123abcd" */
        int v2_fd;
        uint64_t cgroup_id;
        char *v1_name[_CTRL_MAX]; /* per hierarchy, libcgroup's name (below the mount) */
        char *v1_fs[_CTRL_MAX];
        int fds[_CF_MAX];
        struct cg2_buf buf;
};

/* Test-only hook: pretends cgroup.kill is missing so that tests can drive
 * the freeze-and-signal fallback of kill() on a kernel that has it. Tests
 * declare it themselves; nothing in prepayd calls it. */
void slice_cgroupfs_test_set_cgroup_kill(struct slice_backend *b, bool enabled);

/* ---------------------------------------------------------------------- */
/* Small helpers */

static void sleep_usec(uint64_t usec) {
        struct timespec ts = {
                .tv_sec = (time_t) (usec / USEC_PER_SEC),
                .tv_nsec = (long) ((usec % USEC_PER_SEC) * NSEC_PER_USEC),
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* "s-" and 8 to 16 lower-case hex digits; the same rule as
 * slice_id_is_valid() in common/, kept here so this backend never builds a
 * path from anything else. */
static bool id_is_valid(const char *s) {
        size_t n;

        if (!s || !strneq(s, "s-", 2))
                return false;
        s += 2;
        n = strlen(s);
        if (n < 8 || n > 16)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

/* CgroupRoot=: relative ("prepay", "a/b") or absolute ("/prepay"); no empty,
 * "." or ".." components, no control characters, not "/" itself. */
static bool cgroup_root_is_valid(const char *s) {
        const char *p;

        if (!s || !*s || strlen(s) >= PATH_MAX / 2)
                return false;
        if (*s == '/')
                s++;
        if (!*s)
                return false;

        for (p = s;;) {
                size_t n = strcspn(p, "/");

                if (n == 0 || n > NAME_MAX)
                        return false;
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                                return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

/* Joins two cgroup paths: ("/", "a/b") -> "/a/b", ("/x/", "/a") -> "/x/a". */
static char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        char *s;

        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        if (asprintf(&s, "%.*s/%s", (int) la, a, b) < 0)
                return NULL;
        return s;
}

/* Is child equal to or below parent? Both absolute cgroup paths. */
static bool path_is_below(const char *parent, const char *child) {
        size_t n = strlen(parent);

        while (n > 0 && parent[n - 1] == '/')
                n--;
        if (!strneq(parent, child, n))
                return false;
        return child[n] == 0 || child[n] == '/';
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int strv_push(char ***v, size_t *n, char *s) {
        char **p = realloc(*v, (*n + 1) * sizeof(char *));

        if (!p)
                return -ENOMEM;
        p[(*n)++] = s;
        *v = p;
        return 0;
}

/* Is word one of the space-separated words of list? */
static bool word_in_list(const char *list, const char *word) {
        size_t n = strlen(word);

        for (const char *p = list; *p;) {
                size_t m;

                p += strspn(p, " \t\n");
                m = strcspn(p, " \t\n");
                if (m == n && strneq(p, word, n))
                        return true;
                p += m;
        }
        return false;
}

/* libcgroup's ECG* codes to -errno. */
static int cg_errno(int r) {
        int e;

        switch (r) {
        case 0:
                return 0;
        case ECGOTHER:
                e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        case ECGROUPNOTEXIST:
        case ECGROUPVALUENOTEXIST:
        case ECGROUPSUBSYSNOTMOUNTED:
        case ECGROUPNOTMOUNTED:
                return -ENOENT;
        case ECGINVAL:
        case ECGCANTSETVALUE:
                return -EINVAL;
        case ECGROUPNOTOWNER:
        case ECGROUPNOTALLOWED:
                return -EPERM;
        case ECGNONEMPTY:
                return -EBUSY;
        default:
                return -EIO;
        }
}

/* ---------------------------------------------------------------------- */
/* Discovery */

/* Undoes mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape_mountinfo(char *s) {
        char *w = s;

        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

static int own_v2_cgroup(char **ret) {
        _cleanup_(freep) char *text = NULL;
        int r;

        r = read_full_file("/proc/self/cgroup", &text, NULL);
        if (r < 0)
                return r;
        for (char *p = text; *p;) {
                char *eol = strchrnul(p, '\n');

                if (strneq(p, "0::", 3)) {
                        char *s = strndup(p + 3, (size_t) (eol - p - 3));

                        if (!s)
                                return -ENOMEM;
                        *ret = s;
                        return 0;
                }
                p = *eol ? eol + 1 : eol;
        }
        return -ENOENT;
}

/* Is one of the comma-separated words of opts a v1 controller we use? */
static bool opts_have_v1_ctrl(const char *opts) {
        for (const char *p = opts; *p;) {
                size_t n = strcspn(p, ",");

                for (int c = 0; c < _CTRL_MAX; c++)
                        if (strlen(ctrl_v1_name[c]) == n && strneq(p, ctrl_v1_name[c], n))
                                return true;
                p += n;
                if (*p)
                        p++;
        }
        return false;
}

/* The cgroup2 mount that shows own_cgroup, its root within the hierarchy,
 * and whether v1 hierarchies with controllers we use are mounted (so that
 * a libcgroup failure is not taken for a pure v2 host). A mount hidden
 * under a later one on the same mount point is skipped.
 * mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SRC SUPER". */
static int find_mounts(const char *own_cgroup, char **ret_mount, char **ret_root, bool *ret_v1_seen) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *line = NULL, *mount = NULL, *root = NULL;
        size_t size = 0;
        bool v1_seen = false;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                char *sep = strstr(line, " - "), *fields[5] = {}, *tail[3] = {}, *save = NULL, *p = line;
                struct statfs sfs;

                if (!sep)
                        continue;
                *sep = 0;
                for (size_t i = 0; i < ARRAY_SIZE(tail); i++, p = NULL)
                        if (!(tail[i] = strtok_r(i == 0 ? sep + 3 : NULL, " \n", &save)))
                                break;
                if (!tail[2])
                        continue;
                if (streq(tail[0], "cgroup")) {
                        v1_seen = v1_seen || opts_have_v1_ctrl(tail[2]);
                        continue;
                }
                if (!streq(tail[0], "cgroup2") || mount)
                        continue;

                p = line;
                for (size_t i = 0; i < ARRAY_SIZE(fields); i++, p = NULL)
                        if (!(fields[i] = strtok_r(p, " ", &save)))
                                break;
                if (!fields[4])
                        continue;
                unescape_mountinfo(fields[3]);
                unescape_mountinfo(fields[4]);
                if (!path_is_below(fields[3], own_cgroup))
                        continue;
                if (statfs(fields[4], &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
                        continue; /* over-mounted */

                mount = strdup(fields[4]);
                root = strdup(fields[3]);
                if (!mount || !root)
                        return -ENOMEM;
        }
        if (!mount)
                return -ENOENT;
        *ret_mount = TAKE_PTR(mount);
        *ret_root = TAKE_PTR(root);
        *ret_v1_seen = v1_seen;
        return 0;
}

static int ctrl_from_v1_name(const char *name) {
        for (int c = 0; c < _CTRL_MAX; c++)
                if (streq(name, ctrl_v1_name[c]))
                        return c;
        return -1;
}

static int hierarchy_add(struct slice_backend *b, const char *mount, int c) {
        struct hierarchy *h;

        for (size_t i = 0; i < b->n_v1; i++)
                if (streq(b->v1[i].mount, mount)) {
                        b->v1[i].ctrls |= 1U << c;
                        return (int) i;
                }
        if (b->n_v1 >= ARRAY_SIZE(b->v1))
                return -E2BIG;
        h = &b->v1[b->n_v1];
        h->mount = strdup(mount);
        if (!h->mount)
                return -ENOMEM;
        h->primary = c;
        h->ctrls = 1U << c;
        return (int) b->n_v1++;
}

/* Lists the v1 hierarchies that carry controllers we use, through
 * libcgroup. A pure v2 host has none, which is fine. */
static int discover_v1(struct slice_backend *b, bool v1_seen) {
        struct cgroup_mount_point mp;
        void *it = NULL;
        int r;

        r = cgroup_init();
        if (r != 0 && v1_seen)
                return log_error_errno(cg_errno(r), "Failed to initialise libcgroup for the cgroup v1 hierarchies: %s",
                                       cgroup_strerror(r));
        if (r != 0) {
                log_debug("libcgroup found no cgroup v1 hierarchy (%s)", cgroup_strerror(r));
                return 0;
        }

        for (r = cgroup_get_controller_begin(&it, &mp); r == 0; r = cgroup_get_controller_next(&it, &mp)) {
                int c = ctrl_from_v1_name(mp.name), i;

                /* Controllers libcgroup lists at the v2 mount are v2 ones:
                 * they are found from cgroup.controllers below. */
                if (c < 0 || streq(mp.path, b->v2_mount) || b->where[c] != WHERE_NONE)
                        continue;
                i = hierarchy_add(b, mp.path, c);
                if (i < 0) {
                        r = i;
                        break;
                }
                b->where[c] = i;
        }
        (void) cgroup_get_controller_end(&it);
        if (r < 0)
                return log_error_errno(r, "Failed to list cgroup v1 hierarchies: %m");
        if (r != ECGEOF)
                return log_error_errno(cg_errno(r), "Failed to list cgroup v1 hierarchies: %s",
                                       cgroup_strerror(r));

        for (size_t i = 0; i < b->n_v1; i++)
                for (int c = 0; c < _CTRL_MAX; c++)
                        if (b->v1[i].ctrls & (1U << c))
                                log_debug("%s: cgroup v1 at %s", ctrl_v1_name[c], b->v1[i].mount);
        return 0;
}

/* Sets each hierarchy's root from prepayd's own cgroup there. */
static int v1_roots(struct slice_backend *b, const char *cgroup_root) {
        for (size_t i = 0; i < b->n_v1; i++) {
                struct hierarchy *h = &b->v1[i];
                const char *name = ctrl_v1_name[h->primary];
                _cleanup_(freep) char *own = NULL;
                int r;

                r = cgroup_get_current_controller_path(getpid(), name, &own);
                if (r != 0)
                        return log_error_errno(cg_errno(r), "Failed to find prepayd's cgroup in the %s hierarchy: %s",
                                               name, cgroup_strerror(r));

                h->root = *cgroup_root == '/' ? strdup(cgroup_root) : path_join(own, cgroup_root);
                if (!h->root)
                        return log_oom();
                if (path_is_below(h->root, own))
                        return log_error_errno(EINVAL,
                                               "CgroupRoot=%s contains prepayd's own cgroup %s in the %s hierarchy",
                                               cgroup_root, own, name);
                h->root_fs = path_join(h->mount, h->root);
                if (!h->root_fs)
                        return log_oom();
        }
        return 0;
}

/* Prefixes of a cgroup path: "/a/b/c" -> "/a", "/a/b", "/a/b/c". */
static int path_prefixes(const char *path, char ***ret, size_t *ret_n) {
        char **v = NULL;
        size_t n = 0;
        int r;

        for (const char *p = path; *p;) {
                char *s;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                p += strcspn(p, "/");
                s = strndup(path, (size_t) (p - path));
                if (!s) {
                        strv_free(v, n);
                        return -ENOMEM;
                }
                r = strv_push(&v, &n, s);
                if (r < 0) {
                        free(s);
                        strv_free(v, n);
                        return r;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---------------------------------------------------------------------- */
/* Backend: open and close */

/* Deletes one v1 cgroup that must be empty, through libcgroup, and checks
 * that it is gone: libcgroup reports success when it refused. */
static int v1_delete(struct slice_backend *b, size_t i, const char *name, const char *fs) {
        for (int t = 0;; t++) {
                struct cgroup *cg;
                struct stat st;
                int r;

                cg = cgroup_new_cgroup(name);
                if (!cg)
                        return -ENOMEM;
                if (!cgroup_add_controller(cg, ctrl_v1_name[b->v1[i].primary])) {
                        cgroup_free(&cg);
                        return -ENOMEM;
                }
                r = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
                cgroup_free(&cg);

                if (stat(fs, &st) < 0) {
                        if (errno == ENOENT)
                                return 0;
                        return -errno;
                }
                if (t + 1 >= RMDIR_TRIES) {
                        /* Still there: get the kernel's reason. */
                        if (rmdir(fs) >= 0 || errno == ENOENT)
                                return 0;
                        return r != 0 && r != ECGOTHER ? cg_errno(r) : -errno;
                }
                sleep_usec(RMDIR_WAIT_USEC);
        }
}

/* Removes the roots and the intermediate directories open() made, deepest
 * first. root_always: the root even if it was there before (close with
 * remove_root); otherwise only what open() made (cleanup after it failed). */
static void remove_dirs(struct slice_backend *b, bool root_always) {
        for (size_t i = 0; i < b->n_v1; i++) {
                struct hierarchy *h = &b->v1[i];
                bool root_created = h->n_created > 0 && streq(h->created[h->n_created - 1], h->root_fs);
                int r;

                if (!h->root_fs)
                        continue;
                if (root_always || root_created) {
                        r = v1_delete(b, i, h->root, h->root_fs);
                        if (r < 0) {
                                log_warning_errno(r, "Failed to remove cgroup %s, ignoring: %m", h->root_fs);
                                continue;
                        }
                }
                /* libcgroup made these when it created the root, and never
                 * removes them: plain rmdir. */
                for (size_t k = h->n_created; k > 0; k--) {
                        const char *d = h->created[k - 1];

                        if (streq(d, h->root_fs))
                                continue;
                        if (rmdir(d) < 0 && errno != ENOENT) {
                                log_warning_errno(errno, "Failed to remove cgroup %s, ignoring: %m", d);
                                break;
                        }
                }
        }

        if (b->v2_root_fs) {
                bool root_created = b->n_v2_created > 0 && streq(b->v2_created[b->n_v2_created - 1], b->v2_root_fs);

                if ((root_always || root_created) && rmdir(b->v2_root_fs) < 0 && errno != ENOENT) {
                        log_warning_errno(errno, "Failed to remove cgroup %s, ignoring: %m", b->v2_root_fs);
                        return;
                }
                for (size_t k = b->n_v2_created; k > 0; k--) {
                        const char *d = b->v2_created[k - 1];

                        if (streq(d, b->v2_root_fs))
                                continue;
                        if (rmdir(d) < 0 && errno != ENOENT) {
                                log_warning_errno(errno, "Failed to remove cgroup %s, ignoring: %m", d);
                                return;
                        }
                }
        }
}

static void backend_free(struct slice_backend *b) {
        if (!b)
                return;
        if (b->v2_root_fd >= 0)
                (void) close(b->v2_root_fd);
        free(b->v2_mount);
        free(b->v2_mount_root);
        free(b->v2_root);
        free(b->v2_root_fs);
        strv_free(b->v2_created, b->n_v2_created);
        for (size_t i = 0; i < b->n_v1; i++) {
                free(b->v1[i].mount);
                free(b->v1[i].root);
                free(b->v1[i].root_fs);
                strv_free(b->v1[i].created, b->v1[i].n_created);
        }
        free(b);
}

static void cgroupfs_close(struct slice_backend *b, bool remove_root) {
        if (!b)
                return;
        if (b->v2_root_fd >= 0) {
                (void) close(b->v2_root_fd);
                b->v2_root_fd = -1;
        }
        if (remove_root)
                remove_dirs(b, true);
        backend_free(b);
}

/* The directory in v2 that gets the controllers for the root: the deepest
 * existing proper ancestor of the root. Also says from which prefix on
 * directories are missing (n if the root exists). */
static int v2_anchor(struct slice_backend *b, char **prefixes, size_t n, char **ret_anchor, size_t *ret_first_missing) {
        size_t k = 0;
        char *a;

        for (; k < n; k++) {
                _cleanup_(freep) char *fs = path_join(b->v2_mount, prefixes[k]);
                struct stat st;

                if (!fs)
                        return -ENOMEM;
                if (stat(fs, &st) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        break;
                }
        }

        /* Root exists: its parent passes the controllers on. */
        if (k == n)
                a = n >= 2 ? strdup(prefixes[n - 2]) : strdup("/");
        else
                a = k >= 1 ? strdup(prefixes[k - 1]) : strdup("/");
        if (!a)
                return -ENOMEM;
        *ret_anchor = a;
        *ret_first_missing = k;
        return 0;
}

/* Decides, per controller, whether v1 or v2 provides it; logs one line per
 * missing controller. */
static int probe_controllers(struct slice_backend *b, const char *anchor) {
        _cleanup_(freep) char *anchor_fs = NULL, *available = NULL, *path = NULL;
        int r;

        anchor_fs = path_join(b->v2_mount, anchor);
        path = anchor_fs ? path_join(anchor_fs, "cgroup.controllers") : NULL;
        if (!path)
                return log_oom();
        r = read_one_line_file(path, &available);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);

        for (int c = 0; c < _CTRL_MAX; c++) {
                if (b->where[c] >= 0 || !ctrl_v2_name[c])
                        continue;
                if (word_in_list(available, ctrl_v2_name[c])) {
                        b->where[c] = WHERE_V2;
                        log_debug("%s: cgroup v2, available in %s", ctrl_v2_name[c], anchor_fs);
                }
        }

        /* v1 cpu without bandwidth control (CONFIG_CFS_BANDWIDTH=n) cannot limit. */
        if (b->where[CTRL_CPU] >= 0) {
                struct hierarchy *h = &b->v1[b->where[CTRL_CPU]];
                _cleanup_(freep) char *mount_root_quota = path_join(h->mount, "cpu.cfs_quota_us");

                if (!mount_root_quota)
                        return log_oom();
                if (access(mount_root_quota, F_OK) < 0) {
                        log_error("The cpu controller at %s has no cpu.cfs_quota_us (kernel without CFS bandwidth control)",
                                  h->mount);
                        b->where[CTRL_CPU] = WHERE_NONE;
                }
        }

        b->features.cpu = b->where[CTRL_CPU] != WHERE_NONE;
        b->features.memory = b->where[CTRL_MEMORY] != WHERE_NONE;
        b->features.pids = b->where[CTRL_PIDS] != WHERE_NONE;
        b->features.io = b->where[CTRL_IO] != WHERE_NONE;
        b->features.hybrid = b->where[CTRL_CPU] >= 0 || b->where[CTRL_MEMORY] >= 0 || b->where[CTRL_PIDS] >= 0;

        return slice_features_require(&b->features, "any mounted cgroup hierarchy");
}

/* The anchor passes controllers on only if it has no processes (the "no
 * internal processes" rule; the hierarchy's root is exempt). Writing
 * subtree_control anyway is worse than failing: the kernel accepts threaded
 * controllers (cpu, pids) there and turns the children into invalid
 * domains. So look before touching anything. */
static int v2_check_anchor(struct slice_backend *b, const char *anchor) {
        _cleanup_(freep) char *anchor_fs = NULL, *enabled = NULL, *procs = NULL;
        bool needed = false;
        int r;

        if (streq(anchor, "/"))
                return 0;
        anchor_fs = path_join(b->v2_mount, anchor);
        if (!anchor_fs)
                return log_oom();
        {
                _cleanup_(freep) char *path = path_join(anchor_fs, "cgroup.subtree_control");

                if (!path)
                        return log_oom();
                r = read_one_line_file(path, &enabled);
                if (r < 0)
                        return log_error_errno(r, "Failed to read %s: %m", path);
        }
        for (int c = 0; c < _CTRL_MAX; c++)
                if (b->where[c] == WHERE_V2 && !word_in_list(enabled, ctrl_v2_name[c]))
                        needed = true;
        if (!needed)
                return 0;
        {
                _cleanup_(freep) char *path = path_join(anchor_fs, "cgroup.procs");

                if (!path)
                        return log_oom();
                r = read_one_line_file(path, &procs);
                if (r < 0)
                        return log_error_errno(r, "Failed to read %s: %m", path);
        }
        if (!*procs)
                return 0;
        return log_error_errno(EBUSY,
                               "Cannot enable controllers in %s for CgroupRoot=: it has processes, and a cgroup with "
                               "processes cannot pass controllers to its children. Run prepayd in a leaf cgroup, such "
                               "as %s/supervisor (systemd: DelegateSubgroup=supervisor), and set CgroupRoot=%s/prepay",
                               anchor_fs, anchor, anchor);
}

static int v2_enable(const char *dir_fs, const char *ctrl) {
        _cleanup_(freep) char *path = NULL, *enabled = NULL;
        char s[32];
        int r;

        path = path_join(dir_fs, "cgroup.subtree_control");
        if (!path)
                return -ENOMEM;
        r = read_one_line_file(path, &enabled);
        if (r < 0)
                return r;
        if (word_in_list(enabled, ctrl))
                return 0;
        (void) snprintf(s, sizeof(s), "+%s", ctrl);
        return write_string_file(path, s);
}

/* Makes the v2 root (and what is missing above it) and, on a host where v2
 * carries controllers, enables them down to the root. */
static int v2_create_root(struct slice_backend *b, char **prefixes, size_t n, const char *anchor, size_t first_missing) {
        _cleanup_(freep) char *anchor_fs = NULL;
        char **chain = NULL;
        size_t n_chain = 0;
        int r = 0;

        for (size_t k = first_missing; k < n; k++) {
                char *fs = path_join(b->v2_mount, prefixes[k]);

                if (!fs)
                        return log_oom();
                if (mkdir(fs, 0755) < 0) {
                        struct stat st;

                        r = -errno;
                        /* Made by someone else meanwhile: not ours. A file
                         * of that name (a component named "cpu.max") is an error. */
                        if (r == -EEXIST && stat(fs, &st) >= 0 && S_ISDIR(st.st_mode)) {
                                free(fs);
                                continue;
                        }
                        if (r == -EEXIST)
                                r = -ENOTDIR;
                        log_error_errno(r, "Failed to create cgroup %s: %m", fs);
                        free(fs);
                        return r;
                }
                r = strv_push(&b->v2_created, &b->n_v2_created, fs);
                if (r < 0) {
                        (void) rmdir(fs);
                        free(fs);
                        return log_oom();
                }
        }

        /* The chain that passes controllers on: the anchor, then every
         * directory from the first one made (or the root) down. */
        anchor_fs = path_join(b->v2_mount, anchor);
        if (!anchor_fs)
                return log_oom();
        chain = calloc(n + 1, sizeof(char *));
        if (!chain)
                return log_oom();
        chain[n_chain++] = anchor_fs;
        for (size_t k = first_missing < n ? first_missing : n - 1; k < n; k++) {
                chain[n_chain] = path_join(b->v2_mount, prefixes[k]);
                if (!chain[n_chain]) {
                        r = log_oom();
                        goto out;
                }
                n_chain++;
        }

        for (int c = 0; c < _CTRL_MAX; c++) {
                if (b->where[c] != WHERE_V2)
                        continue;
                for (size_t k = 0; k < n_chain; k++) {
                        r = v2_enable(chain[k], ctrl_v2_name[c]);
                        if (r >= 0)
                                continue;
                        if (c == CTRL_IO) {
                                log_warning_errno(r, "Failed to enable the io controller in %s, io counters will read 0: %m",
                                                  chain[k]);
                                b->where[c] = WHERE_NONE;
                                b->features.io = false;
                                r = 0;
                                break;
                        }
                        log_error_errno(r, "Failed to enable the %s controller in %s: %m", ctrl_v2_name[c], chain[k]);
                        goto out;
                }
        }
        r = 0;
out:
        /* chain[0] is anchor_fs, freed by its cleanup. */
        for (size_t k = 1; k < n_chain; k++)
                free(chain[k]);
        free(chain);
        return r;
}

static int v1_create_roots(struct slice_backend *b) {
        for (size_t i = 0; i < b->n_v1; i++) {
                struct hierarchy *h = &b->v1[i];
                char **prefixes = NULL;
                size_t n = 0;
                struct cgroup *cg;
                int r;

                r = path_prefixes(h->root, &prefixes, &n);
                if (r < 0)
                        return log_oom();
                /* Note what is missing now: libcgroup makes it all. */
                for (size_t k = 0; k < n && r >= 0; k++) {
                        char *fs = path_join(h->mount, prefixes[k]);
                        struct stat st;

                        if (!fs)
                                r = -ENOMEM;
                        else if (stat(fs, &st) >= 0)
                                free(fs);
                        else if ((r = strv_push(&h->created, &h->n_created, fs)) < 0)
                                free(fs);
                }
                strv_free(prefixes, n);
                if (r < 0)
                        return log_oom();

                cg = cgroup_new_cgroup(h->root);
                if (!cg || !cgroup_add_controller(cg, ctrl_v1_name[h->primary])) {
                        cgroup_free(&cg);
                        return log_oom();
                }
                r = cgroup_create_cgroup(cg, 0);
                cgroup_free(&cg);
                if (r != 0)
                        return log_error_errno(cg_errno(r), "Failed to create cgroup %s: %s", h->root_fs,
                                               cgroup_strerror(r));
        }
        return 0;
}

static int cgroupfs_open(const char *cgroup_root, struct slice_backend **ret) {
        struct slice_backend *b;
        _cleanup_(freep) char *own = NULL, *anchor = NULL;
        char **prefixes = NULL;
        size_t n_prefixes = 0, first_missing = 0;
        bool v1_seen = false;
        int r;

        if (!cgroup_root_is_valid(cgroup_root))
                return log_error_errno(EINVAL,
                                       "CgroupRoot=%s is not a valid cgroup path (no empty, \".\" or \"..\" components)",
                                       strna(cgroup_root));

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();
        b->v2_root_fd = -1;
        for (int c = 0; c < _CTRL_MAX; c++)
                b->where[c] = WHERE_NONE;

        r = own_v2_cgroup(&own);
        if (r == -ENOENT) {
                r = log_error_errno(EOPNOTSUPP, "No cgroup v2 hierarchy mounted");
                goto fail_free;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read /proc/self/cgroup: %m");
                goto fail_free;
        }
        r = find_mounts(own, &b->v2_mount, &b->v2_mount_root, &v1_seen);
        if (r == -ENOENT) {
                r = log_error_errno(EOPNOTSUPP, "No cgroup v2 hierarchy mounted");
                goto fail_free;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read /proc/self/mountinfo: %m");
                goto fail_free;
        }

        /* Paths below the mount: /proc/self/cgroup names them from the
         * hierarchy's (namespace's) root, the mount may show a subtree. */
        {
                const char *rel = own + strlen(b->v2_mount_root);

                if (streq(b->v2_mount_root, "/"))
                        rel = own;
                if (*cgroup_root == '/')
                        b->v2_root = strdup(cgroup_root);
                else
                        b->v2_root = path_join(*rel ? rel : "/", cgroup_root);
                if (!b->v2_root) {
                        r = log_oom();
                        goto fail_free;
                }
                if (path_is_below(b->v2_root, *rel ? rel : "/")) {
                        r = log_error_errno(EINVAL, "CgroupRoot=%s contains prepayd's own cgroup %s",
                                            cgroup_root, own);
                        goto fail_free;
                }
        }
        b->v2_root_fs = path_join(b->v2_mount, b->v2_root);
        if (!b->v2_root_fs) {
                r = log_oom();
                goto fail_free;
        }

        r = discover_v1(b, v1_seen);
        if (r < 0)
                goto fail_free;
        r = v1_roots(b, cgroup_root);
        if (r < 0)
                goto fail_free;

        r = path_prefixes(b->v2_root, &prefixes, &n_prefixes);
        if (r < 0 || n_prefixes == 0) {
                r = r < 0 ? log_oom() : log_error_errno(EINVAL, "CgroupRoot=%s is empty", cgroup_root);
                goto fail_free;
        }
        r = v2_anchor(b, prefixes, n_prefixes, &anchor, &first_missing);
        if (r < 0) {
                log_error_errno(r, "Failed to look at %s: %m", b->v2_root_fs);
                goto fail_free;
        }

        r = probe_controllers(b, anchor);
        if (r < 0)
                goto fail_free;
        r = v2_check_anchor(b, anchor);
        if (r < 0)
                goto fail_free;

        log_info("cgroup layout: %s; v2 at %s, root %s", b->features.hybrid ? "hybrid" : "v2 only", b->v2_mount,
                 b->v2_root);

        /* From here on, things are made: a failure removes them. */
        r = v2_create_root(b, prefixes, n_prefixes, anchor, first_missing);
        if (r < 0)
                goto fail_remove;
        r = v1_create_roots(b);
        if (r < 0)
                goto fail_remove;

        b->v2_root_fd = open(b->v2_root_fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->v2_root_fd < 0) {
                r = log_error_errno(errno, "Failed to open %s: %m", b->v2_root_fs);
                goto fail_remove;
        }

        b->has_freeze = faccessat(b->v2_root_fd, "cgroup.freeze", F_OK, 0) >= 0;
        b->features.cgroup_kill = faccessat(b->v2_root_fd, "cgroup.kill", F_OK, 0) >= 0;
        b->features.memory_peak =
                b->where[CTRL_MEMORY] == WHERE_V2 && faccessat(b->v2_root_fd, "memory.peak", F_OK, 0) >= 0;
        if (!b->has_freeze)
                log_warning("%s has no cgroup.freeze (Linux < 5.2): slices cannot be frozen", b->v2_root_fs);
        if (!b->features.cgroup_kill)
                log_info("%s has no cgroup.kill (Linux < 5.14): slices are killed process by process", b->v2_root_fs);

        strv_free(prefixes, n_prefixes);
        *ret = b;
        return 0;

fail_remove:
        if (b->v2_root_fd >= 0) {
                (void) close(b->v2_root_fd);
                b->v2_root_fd = -1;
        }
        remove_dirs(b, false);
fail_free:
        strv_free(prefixes, n_prefixes);
        backend_free(b);
        return r;
}

static const struct slice_features *cgroupfs_features(struct slice_backend *b) {
        return &b->features;
}

static int cgroupfs_root_fd(struct slice_backend *b) {
        return b->v2_root_fd;
}

static const char *cgroupfs_root_path(struct slice_backend *b) {
        return b->v2_root_fs;
}

void slice_cgroupfs_test_set_cgroup_kill(struct slice_backend *b, bool enabled) {
        b->features.cgroup_kill = enabled;
}

/* ---------------------------------------------------------------------- */
/* Slices */

static void handle_free(struct slice_handle *h) {
        if (!h)
                return;
        if (h->v2_fd >= 0)
                (void) close(h->v2_fd);
        for (size_t i = 0; i < _CF_MAX; i++)
                if (h->fds[i] >= 0)
                        (void) close(h->fds[i]);
        for (size_t i = 0; i < _CTRL_MAX; i++) {
                free(h->v1_name[i]);
                free(h->v1_fs[i]);
        }
        free(h->v2_path);
        cg2_buf_done(&h->buf);
        free(h);
}

static struct slice_handle *handle_new(struct slice_backend *b, const char *id) {
        struct slice_handle *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->b = b;
        h->v2_fd = -1;
        for (size_t i = 0; i < _CF_MAX; i++)
                h->fds[i] = FD_UNOPENED;
        (void) snprintf(h->id, sizeof(h->id), "%s", id);
        h->v2_path = path_join(b->v2_root, id);
        if (!h->v2_path)
                goto fail;
        for (size_t i = 0; i < b->n_v1; i++) {
                h->v1_name[i] = path_join(b->v1[i].root, id);
                h->v1_fs[i] = path_join(b->v1[i].root_fs, id);
                if (!h->v1_name[i] || !h->v1_fs[i])
                        goto fail;
        }
        return h;
fail:
        handle_free(h);
        return NULL;
}

/* Opens the slice's v2 directory and cgroup.events. */
static int handle_open_v2(struct slice_handle *h) {
        h->v2_fd = openat(h->b->v2_root_fd, h->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h->v2_fd < 0)
                return -errno;
        h->cgroup_id = cg2_dir_id(h->v2_fd);
        h->fds[CF_EVENTS] = openat(h->v2_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        if (h->fds[CF_EVENTS] < 0) {
                h->fds[CF_EVENTS] = FD_UNOPENED;
                return -errno;
        }
        return 0;
}

static void cpu_values(const struct slice_limits *l, uint64_t *ret_quota, uint64_t *ret_period) {
        uint64_t period = l->cpu_period_usec ?: CPU_PERIOD_DEFAULT_USEC;
        uint64_t quota = l->cpu_quota_usec;

        /* The kernel refuses a quota under 1 ms; the tiniest throttle is that. */
        if (quota > 0 && quota < CPU_QUOTA_MIN_USEC)
                quota = CPU_QUOTA_MIN_USEC;
        *ret_quota = quota;
        *ret_period = period;
}

static int limits_check(const struct slice_limits *l) {
        uint64_t period = l->cpu_period_usec ?: CPU_PERIOD_DEFAULT_USEC;

        if (period < CPU_PERIOD_MIN_USEC || period > CPU_PERIOD_MAX_USEC)
                return -ERANGE;
        return 0;
}

static int add_value(struct cgroup_controller *cc, const char *name, uint64_t v, const char *none) {
        char s[32];

        if (v == 0)
                (void) snprintf(s, sizeof(s), "%s", none);
        else
                (void) snprintf(s, sizeof(s), "%" PRIu64, v);
        return cgroup_add_value_string(cc, name, s) == 0 ? 0 : -ENOMEM;
}

/* A libcgroup group for the slice in v1 hierarchy i, carrying the limits of
 * the controllers there (none if l is NULL). */
static int v1_group(struct slice_handle *h, size_t i, const struct slice_limits *l, struct cgroup **ret) {
        struct slice_backend *b = h->b;
        struct cgroup *cg;
        int r = 0;

        cg = cgroup_new_cgroup(h->v1_name[i]);
        if (!cg)
                return -ENOMEM;
        if (!cgroup_add_controller(cg, ctrl_v1_name[b->v1[i].primary])) {
                r = -ENOMEM;
                goto fail;
        }
        for (int c = 0; l && c < _CTRL_MAX && r >= 0; c++) {
                struct cgroup_controller *cc;
                uint64_t quota, period;

                if (b->where[c] != (int) i || (c != CTRL_CPU && c != CTRL_MEMORY && c != CTRL_PIDS))
                        continue;
                cc = cgroup_get_controller(cg, ctrl_v1_name[c]) ?: cgroup_add_controller(cg, ctrl_v1_name[c]);
                if (!cc) {
                        r = -ENOMEM;
                        break;
                }
                switch (c) {
                case CTRL_CPU:
                        /* Period first: the quota is checked against it. */
                        cpu_values(l, &quota, &period);
                        r = add_value(cc, "cpu.cfs_period_us", period, "");
                        if (r >= 0)
                                r = add_value(cc, "cpu.cfs_quota_us", quota, "-1");
                        break;
                case CTRL_MEMORY:
                        r = add_value(cc, "memory.limit_in_bytes", l->memory_max, "-1");
                        break;
                case CTRL_PIDS:
                        r = add_value(cc, "pids.max", l->pids_max, "max");
                        break;
                }
        }
        if (r < 0)
                goto fail;
        *ret = cg;
        return 0;
fail:
        cgroup_free(&cg);
        return r;
}

static int v2_set_limits(struct slice_handle *h, const struct slice_limits *l) {
        struct slice_backend *b = h->b;
        int r;

        if (b->where[CTRL_CPU] == WHERE_V2) {
                uint64_t quota, period;
                char s[64];

                cpu_values(l, &quota, &period);
                if (quota > 0)
                        (void) snprintf(s, sizeof(s), "%" PRIu64 " %" PRIu64, quota, period);
                else
                        (void) snprintf(s, sizeof(s), "max %" PRIu64, period);
                r = write_string_file_at(h->v2_fd, "cpu.max", s);
                if (r < 0)
                        return r;
        }
        if (b->where[CTRL_MEMORY] == WHERE_V2) {
                char s[32];

                if (l->memory_max > 0)
                        (void) snprintf(s, sizeof(s), "%" PRIu64, l->memory_max);
                else
                        (void) snprintf(s, sizeof(s), "max");
                r = write_string_file_at(h->v2_fd, "memory.max", s);
                if (r < 0)
                        return r;
        }
        if (b->where[CTRL_PIDS] == WHERE_V2) {
                char s[32];

                if (l->pids_max > 0)
                        (void) snprintf(s, sizeof(s), "%" PRIu64, l->pids_max);
                else
                        (void) snprintf(s, sizeof(s), "max");
                r = write_string_file_at(h->v2_fd, "pids.max", s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cgroupfs_set_limits(struct slice_handle *h, const struct slice_limits *l) {
        struct slice_backend *b = h->b;
        int r;

        r = limits_check(l);
        if (r < 0)
                return log_error_errno(r, "Failed to set limits of slice %s: CPU period %" PRIu64 " us is not within 1 ms and 1 s",
                                       h->id, l->cpu_period_usec);

        for (size_t i = 0; i < b->n_v1; i++) {
                struct cgroup *cg;

                if (!(b->v1[i].ctrls & ((1U << CTRL_CPU) | (1U << CTRL_MEMORY) | (1U << CTRL_PIDS))))
                        continue;
                r = v1_group(h, i, l, &cg);
                if (r < 0)
                        return log_error_errno(r, "Failed to set limits of slice %s: %m", h->id);
                r = cgroup_modify_cgroup(cg);
                cgroup_free(&cg);
                if (r != 0)
                        return log_error_errno(cg_errno(r), "Failed to set limits of slice %s in %s: %s", h->id,
                                               h->v1_fs[i], cgroup_strerror(r));
        }
        r = v2_set_limits(h, l);
        if (r < 0)
                return log_error_errno(r, "Failed to set limits of slice %s in %s%s: %m", h->id, b->v2_mount,
                                       h->v2_path);
        return 0;
}

static int cgroupfs_create(struct slice_backend *b, const char *id, const struct slice_limits *l,
                           struct slice_handle **ret) {
        struct slice_handle *h;
        size_t made_v1 = 0;
        int r;

        if (!id_is_valid(id))
                return log_error_errno(EINVAL, "Refusing to create slice \"%s\": not a slice id",
                                       strna(id));
        r = limits_check(l);
        if (r < 0)
                return log_error_errno(r, "Failed to create slice %s: CPU period %" PRIu64 " us is not within 1 ms and 1 s",
                                       id, l->cpu_period_usec);

        h = handle_new(b, id);
        if (!h)
                return log_oom();

        /* libcgroup happily "creates" an existing group: look first. */
        if (faccessat(b->v2_root_fd, id, F_OK, 0) >= 0) {
                r = log_error_errno(EEXIST, "Failed to create slice %s: %s%s exists", id, b->v2_mount,
                                    h->v2_path);
                goto fail_free;
        }
        for (size_t i = 0; i < b->n_v1; i++)
                if (access(h->v1_fs[i], F_OK) >= 0) {
                        r = log_error_errno(EEXIST, "Failed to create slice %s: %s exists", id,
                                            h->v1_fs[i]);
                        goto fail_free;
                }

        /* v2 first: it is what enumerate() lists, so a half-made slice
         * is found and cleaned up after a crash. */
        if (mkdirat(b->v2_root_fd, id, 0755) < 0) {
                r = log_error_errno(errno, "Failed to create slice %s: %m", id);
                goto fail_free;
        }
        r = handle_open_v2(h);
        if (r < 0) {
                log_error_errno(r, "Failed to open slice %s: %m", id);
                goto fail_remove;
        }

        for (; made_v1 < b->n_v1; made_v1++) {
                struct cgroup *cg;

                r = v1_group(h, made_v1, l, &cg);
                if (r < 0) {
                        log_error_errno(r, "Failed to create slice %s: %m", id);
                        goto fail_remove;
                }
                r = cgroup_create_cgroup(cg, 0);
                cgroup_free(&cg);
                if (r != 0) {
                        r = log_error_errno(cg_errno(r), "Failed to create slice %s in %s: %s", id, h->v1_fs[made_v1],
                                            cgroup_strerror(r));
                        /* It may have made the directory before the value failed. */
                        made_v1++;
                        goto fail_remove;
                }
        }

        r = v2_set_limits(h, l);
        if (r < 0) {
                log_error_errno(r, "Failed to set limits of slice %s in %s%s: %m", id, b->v2_mount, h->v2_path);
                goto fail_remove;
        }

        log_debug("Created slice %s (cgroup id %" PRIu64 ")", id, h->cgroup_id);
        *ret = h;
        return 0;

fail_remove:
        for (size_t i = 0; i < made_v1; i++)
                (void) v1_delete(b, i, h->v1_name[i], h->v1_fs[i]);
        (void) unlinkat(b->v2_root_fd, id, AT_REMOVEDIR);
fail_free:
        handle_free(h);
        return r;
}

static int cgroupfs_adopt(struct slice_backend *b, const char *id, struct slice_handle **ret) {
        struct slice_handle *h;
        int r;

        if (!id_is_valid(id))
                return log_error_errno(EINVAL, "Refusing to adopt slice \"%s\": not a slice id",
                                       strna(id));
        h = handle_new(b, id);
        if (!h)
                return log_oom();

        r = handle_open_v2(h);
        if (r == -ENOENT) {
                log_warning("Slice %s has vanished: no %s%s", id, b->v2_mount, h->v2_path);
                goto fail;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to adopt slice %s: %m", id);
                goto fail;
        }

        /* A crash between mkdir in v2 and in v1 leaves a slice without
         * some v1 groups: make them, so that set_limits() has somewhere
         * to write. */
        for (size_t i = 0; i < b->n_v1; i++) {
                struct cgroup *cg;

                if (access(h->v1_fs[i], F_OK) >= 0)
                        continue;
                r = v1_group(h, i, NULL, &cg);
                if (r < 0) {
                        log_oom();
                        goto fail;
                }
                r = cgroup_create_cgroup(cg, 0);
                cgroup_free(&cg);
                if (r != 0) {
                        r = log_error_errno(cg_errno(r), "Failed to adopt slice %s: cannot create %s: %s", id,
                                            h->v1_fs[i], cgroup_strerror(r));
                        goto fail;
                }
                log_notice("Slice %s had no cgroup %s, made it without limits", id, h->v1_fs[i]);
        }

        *ret = h;
        return 0;
fail:
        handle_free(h);
        return r;
}

static int cgroupfs_enumerate(struct slice_backend *b, int (*cb)(const char *id, void *userdata), void *userdata) {
        DIR *d;
        int fd, r = 0;

        /* A new open file: fdopendir() owns it and the root fd keeps its offset. */
        fd = openat(b->v2_root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to list %s: %m", b->v2_root_fs);
        d = fdopendir(fd);
        if (!d) {
                r = log_error_errno(errno, "Failed to list %s: %m", b->v2_root_fs);
                (void) close(fd);
                return r;
        }
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = log_error_errno(errno, "Failed to list %s: %m", b->v2_root_fs);
                        break;
                }
                if (de->d_type != DT_DIR || !id_is_valid(de->d_name))
                        continue;
                r = cb(de->d_name, userdata);
                if (r < 0)
                        break;
        }
        (void) closedir(d);
        return r < 0 ? r : 0;
}

static void cgroupfs_release(struct slice_handle *h) {
        handle_free(h);
}

/* Opens counter file cf on first use; 0 and *ret = NULL when it is absent. */
static int counter_read(struct slice_handle *h, int cf, int dirfd_or_neg, const char *dir, const char *name, char **ret) {
        if (h->fds[cf] == FD_UNOPENED) {
                int fd;

                if (dirfd_or_neg >= 0)
                        fd = openat(dirfd_or_neg, name, O_RDONLY | O_CLOEXEC);
                else {
                        _cleanup_(freep) char *path = path_join(dir, name);

                        if (!path)
                                return -ENOMEM;
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                }
                if (fd < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        fd = FD_ABSENT;
                }
                h->fds[cf] = fd;
        }
        if (h->fds[cf] == FD_ABSENT) {
                *ret = NULL;
                return 0;
        }
        return cg2_pread_all(&h->buf, h->fds[cf], ret);
}

static int read_events(struct slice_handle *h, bool *ret_populated, bool *ret_frozen) {
        char *text = NULL;
        int r;

        if (h->fds[CF_EVENTS] < 0)
                return -EBADF;
        r = cg2_pread_all(&h->buf, h->fds[CF_EVENTS], &text);
        if (r < 0)
                return r;
        return cg2_parse_events(text, ret_populated, ret_frozen);
}

/* Waits until cgroup.events says key is want, up to timeout. cgroup.events
 * signals every change with POLLPRI to pollers of an fd that has read it. */
static int wait_events(struct slice_handle *h, bool frozen_key, bool want, uint64_t timeout_usec) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;

        for (;;) {
                struct pollfd p = { .fd = h->fds[CF_EVENTS], .events = POLLPRI };
                bool populated, frozen;
                uint64_t now;
                int r;

                r = read_events(h, &populated, &frozen);
                if (r < 0)
                        return r;
                if ((frozen_key ? frozen : populated) == want)
                        return 0;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

static int cgroupfs_populated(struct slice_handle *h) {
        bool populated;
        int r;

        r = read_events(h, &populated, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read cgroup.events of slice %s: %m", h->id);
        return populated;
}

static int freeze_internal(struct slice_handle *h, bool freeze, uint64_t timeout_usec) {
        int r;

        if (!h->b->has_freeze)
                return -EOPNOTSUPP;
        r = write_string_file_at(h->v2_fd, "cgroup.freeze", freeze ? "1" : "0");
        if (r < 0)
                return r;
        return wait_events(h, true, freeze, timeout_usec);
}

static int cgroupfs_freeze(struct slice_handle *h, bool freeze) {
        int r;

        r = freeze_internal(h, freeze, FREEZE_TIMEOUT_USEC);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "Slice %s is not %s after %" PRIu64 " ms, the request stays in place",
                                       h->id, freeze ? "frozen" : "thawed", FREEZE_TIMEOUT_USEC / USEC_PER_MSEC);
        if (r < 0)
                return log_error_errno(r, "Failed to %s slice %s: %m", freeze ? "freeze" : "thaw", h->id);
        log_debug("%s slice %s", freeze ? "Froze" : "Thawed", h->id);
        return 0;
}

/* Is pid in the slice? Checked after pidfd_open() so that a pid reused
 * between reading cgroup.procs and opening it is never signalled. */
static bool pid_in_slice(struct slice_handle *h, pid_t pid) {
        _cleanup_(freep) char *text = NULL, *want = NULL;
        char path[64];

        (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (read_full_file(path, &text, NULL) < 0)
                return false;
        want = path_join(h->b->v2_mount_root, h->v2_path);
        if (!want)
                return false;
        for (char *p = text; *p;) {
                char *eol = strchrnul(p, '\n');

                if (strneq(p, "0::", 3))
                        return (size_t) (eol - p - 3) == strlen(want) && strneq(p + 3, want, strlen(want));
                p = *eol ? eol + 1 : eol;
        }
        return false;
}

static int kill_pid(struct slice_handle *h, pid_t pid) {
        _cleanup_(closep) int pidfd = -1;

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                if (errno == ESRCH)
                        return 0;
                if (errno != ENOSYS)
                        return -errno;
                /* Linux < 5.3: the slice is frozen, its processes cannot
                 * exit on their own, so the pid is still theirs. */
                if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                        return -errno;
                return 0;
        }
        if (!pid_in_slice(h, pid))
                return 0;
        if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                return -errno;
        return 0;
}

/* Without cgroup.kill: freeze (so nothing forks), SIGKILL every pid in
 * cgroup.procs, thaw, until the slice is empty. */
static int kill_fallback(struct slice_handle *h) {
        int r = 0;

        for (int round = 0; round < KILL_FALLBACK_ROUNDS; round++) {
                _cleanup_(freep) char *procs = NULL;
                bool populated;
                int k;

                r = read_events(h, &populated, NULL);
                if (r < 0)
                        return r;
                if (!populated)
                        return 0;

                k = freeze_internal(h, true, KILL_FALLBACK_WAIT_USEC);
                if (k < 0 && k != -ETIMEDOUT && k != -EOPNOTSUPP)
                        return k;

                r = read_full_file_at(h->v2_fd, "cgroup.procs", &procs, NULL);
                if (r >= 0)
                        for (char *p = procs; *p;) {
                                char *end;
                                long pid;

                                errno = 0;
                                pid = strtol(p, &end, 10);
                                if (errno != 0 || end == p || pid <= 0 || pid > INT_MAX)
                                        break;
                                k = kill_pid(h, (pid_t) pid);
                                if (k < 0 && r >= 0)
                                        r = k;
                                p = end + strspn(end, "\n");
                        }

                k = freeze_internal(h, false, KILL_FALLBACK_WAIT_USEC);
                if (k < 0 && k != -ETIMEDOUT && k != -EOPNOTSUPP && r >= 0)
                        r = k;
                if (r < 0)
                        return r;

                r = wait_events(h, false, false, KILL_FALLBACK_WAIT_USEC);
                if (r == 0)
                        return 0;
                if (r != -ETIMEDOUT)
                        return r;
        }
        return -EBUSY;
}

static int cgroupfs_kill(struct slice_handle *h) {
        int r;

        if (h->b->features.cgroup_kill)
                r = write_string_file_at(h->v2_fd, "cgroup.kill", "1");
        else
                r = kill_fallback(h);
        if (r < 0)
                return log_error_errno(r, "Failed to kill slice %s: %m", h->id);
        log_debug("Killed slice %s%s", h->id, h->b->features.cgroup_kill ? "" : " process by process");
        return 0;
}

static int cgroupfs_attach(struct slice_handle *h, pid_t pid) {
        struct slice_backend *b = h->b;
        char s[32];
        int r;

        if (pid <= 0)
                return log_error_errno(EINVAL, "Refusing to attach pid %d to slice %s", (int) pid,
                                       h->id);
        (void) snprintf(s, sizeof(s), "%d", (int) pid);

        /* v2 first: it is where the slice is metered, frozen, killed and
         * seen to be populated. Once the process is there, destroy()
         * finds and kills it whatever happens next; were v1 first and v2
         * then failed, a limited process would sit unmetered where kill
         * cannot reach it, keeping the v1 groups busy. */
        r = write_string_file_at(h->v2_fd, "cgroup.procs", s);
        if (r < 0)
                return log_error_errno(r, "Failed to attach pid %d to slice %s: %m", (int) pid, h->id);

        /* cgroup.procs, not libcgroup's cgroup_attach_task_pid(): that
         * writes "tasks" and moves a single thread. */
        for (size_t i = 0; i < b->n_v1; i++) {
                _cleanup_(freep) char *path = path_join(h->v1_fs[i], "cgroup.procs");

                if (!path)
                        return log_oom();
                r = write_string_file(path, s);
                if (r < 0)
                        return log_error_errno(r, "Failed to attach pid %d to slice %s in %s: %m", (int) pid, h->id,
                                               b->v1[i].mount);
        }
        return 0;
}

static int cgroupfs_destroy(struct slice_backend *b, struct slice_handle *h) {
        bool populated = true;
        int r, ret = 0;

        if (!h)
                return 0;

        /* If cgroup.events cannot be read, kill anyway. */
        if (read_events(h, &populated, NULL) < 0 || populated) {
                (void) cgroupfs_kill(h); /* logs */
                r = wait_events(h, false, false, DESTROY_TIMEOUT_USEC);
                if (r < 0)
                        log_error_errno(r, "Slice %s still has processes after %" PRIu64 " ms: %m", h->id,
                                        DESTROY_TIMEOUT_USEC / USEC_PER_MSEC);
        }
        /* A frozen, empty cgroup can be removed, but thaw in case a
         * process the kill could not see is left. */
        if (b->has_freeze)
                (void) write_string_file_at(h->v2_fd, "cgroup.freeze", "0");

        /* v1 first, v2 last: as long as the v2 group is there, enumerate()
         * finds the slice and a later destroy() can finish the job. */
        for (size_t i = 0; i < b->n_v1; i++) {
                r = v1_delete(b, i, h->v1_name[i], h->v1_fs[i]);
                if (r < 0) {
                        log_error_errno(r, "Failed to remove cgroup %s of slice %s: %m", h->v1_fs[i], h->id);
                        if (ret == 0)
                                ret = r;
                }
        }
        if (ret == 0) {
                for (int t = 0;; t++) {
                        if (unlinkat(b->v2_root_fd, h->id, AT_REMOVEDIR) >= 0 || errno == ENOENT)
                                break;
                        if (errno != EBUSY || t + 1 >= RMDIR_TRIES) {
                                ret = log_error_errno(errno, "Failed to remove cgroup %s%s of slice %s: %m",
                                                      b->v2_mount, h->v2_path, h->id);
                                break;
                        }
                        sleep_usec(RMDIR_WAIT_USEC);
                }
        }
        if (ret == 0)
                log_debug("Destroyed slice %s", h->id);
        handle_free(h);
        return ret;
}

/* v1: "8:0 Read 123" per device and operation, then "Total N". Kernels
 * before about 6.3 count these bytes only for a cgroup that has a throttle
 * rule (measured: 0 after 8 MiB of direct reads on 6.1), so on hybrid
 * hosts io counters may read 0. */
static void parse_blkio(const char *text, uint64_t *rd, uint64_t *wr) {
        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');
                char dev[32], op[16];
                unsigned long long v;

                if (sscanf(p, "%31s %15s %llu", dev, op, &v) == 3 && strchr(dev, ':')) {
                        if (streq(op, "Read"))
                                (void) u64_add(*rd, v, rd);
                        else if (streq(op, "Write"))
                                (void) u64_add(*wr, v, wr);
                }
                p = *eol ? eol + 1 : eol;
        }
}

static int cgroupfs_read_counters(struct slice_handle *h, struct slice_counters *ret) {
        struct slice_backend *b = h->b;
        struct slice_counters c = {};
        char *text = NULL;
        int w, r;

        r = read_events(h, &c.populated, &c.frozen);
        if (r < 0)
                goto fail;

        /* CPU usage: v1 cpuacct where it is bound there, else the v2 core
         * cpu.stat (present in hybrid mode too). Throttling: where cpu is. */
        w = b->where[CTRL_CPUACCT];
        if (w >= 0) {
                r = counter_read(h, CF_CPU_USAGE, -1, h->v1_fs[w], "cpuacct.usage", &text);
                if (r < 0)
                        goto fail;
                if (text && cg2_parse_u64(text, &c.cpu_usage_usec) >= 0)
                        c.cpu_usage_usec /= NSEC_PER_USEC;
        }
        if (w < 0 || b->where[CTRL_CPU] == WHERE_V2) {
                r = counter_read(h, CF_CPU_STAT2, h->v2_fd, NULL, "cpu.stat", &text);
                if (r < 0)
                        goto fail;
                if (text) {
                        if (w < 0)
                                (void) cg2_keyed_get(text, "usage_usec", &c.cpu_usage_usec);
                        if (b->where[CTRL_CPU] == WHERE_V2) {
                                (void) cg2_keyed_get(text, "nr_periods", &c.cpu_nr_periods);
                                (void) cg2_keyed_get(text, "nr_throttled", &c.cpu_nr_throttled);
                                (void) cg2_keyed_get(text, "throttled_usec", &c.cpu_throttled_usec);
                        }
                }
        }
        w = b->where[CTRL_CPU];
        if (w >= 0) {
                r = counter_read(h, CF_CPU_STAT1, -1, h->v1_fs[w], "cpu.stat", &text);
                if (r < 0)
                        goto fail;
                if (text) {
                        (void) cg2_keyed_get(text, "nr_periods", &c.cpu_nr_periods);
                        (void) cg2_keyed_get(text, "nr_throttled", &c.cpu_nr_throttled);
                        if (cg2_keyed_get(text, "throttled_time", &c.cpu_throttled_usec) >= 0)
                                c.cpu_throttled_usec /= NSEC_PER_USEC;
                }
        }

        w = b->where[CTRL_MEMORY];
        if (w != WHERE_NONE) {
                bool v2 = w == WHERE_V2;
                int dfd = v2 ? h->v2_fd : -1;
                const char *dir = v2 ? NULL : h->v1_fs[w];

                r = counter_read(h, CF_MEM_CURRENT, dfd, dir, v2 ? "memory.current" : "memory.usage_in_bytes", &text);
                if (r < 0)
                        goto fail;
                if (text)
                        (void) cg2_parse_u64(text, &c.memory_current);
                r = counter_read(h, CF_MEM_PEAK, dfd, dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes", &text);
                if (r < 0)
                        goto fail;
                if (text)
                        (void) cg2_parse_u64(text, &c.memory_peak);
                r = counter_read(h, CF_MEM_OOM, dfd, dir, v2 ? "memory.events" : "memory.oom_control", &text);
                if (r < 0)
                        goto fail;
                if (text)
                        (void) cg2_keyed_get(text, "oom_kill", &c.oom_kills);
        }

        w = b->where[CTRL_IO];
        if (w != WHERE_NONE) {
                bool v2 = w == WHERE_V2;

                r = counter_read(h, CF_IO, v2 ? h->v2_fd : -1, v2 ? NULL : h->v1_fs[w],
                                 v2 ? "io.stat" : "blkio.throttle.io_service_bytes", &text);
                if (r < 0)
                        goto fail;
                if (text) {
                        if (v2)
                                cg2_parse_io_stat(text, &c.io_read_bytes, &c.io_write_bytes);
                        else
                                parse_blkio(text, &c.io_read_bytes, &c.io_write_bytes);
                }
        }

        w = b->where[CTRL_PIDS];
        if (w != WHERE_NONE) {
                r = counter_read(h, CF_PIDS, w == WHERE_V2 ? h->v2_fd : -1, w == WHERE_V2 ? NULL : h->v1_fs[w],
                                 "pids.current", &text);
                if (r < 0)
                        goto fail;
                if (text)
                        (void) cg2_parse_u64(text, &c.pids_current);
        }

        *ret = c;
        return 0;
fail:
        /* Not logged here: this runs at every meter tick, and the manager
         * logs a failure when it starts and when it ends. A slice whose v2
         * cgroup was removed behind our back is -ENOENT, whatever the read
         * said. */
        if (faccessat(b->v2_root_fd, h->id, F_OK, 0) < 0 && errno == ENOENT)
                return -ENOENT;
        return r;
}

static uint64_t cgroupfs_cgroup_id(struct slice_handle *h) {
        return h->cgroup_id;
}

static const char *cgroupfs_cgroup_path(struct slice_handle *h) {
        return h->v2_path;
}

const struct slice_ops slice_cgroupfs_ops = {
        .name = "cgroupfs",
        .open = cgroupfs_open,
        .close = cgroupfs_close,
        .features = cgroupfs_features,
        .root_fd = cgroupfs_root_fd,
        .root_path = cgroupfs_root_path,
        .create = cgroupfs_create,
        .adopt = cgroupfs_adopt,
        .enumerate = cgroupfs_enumerate,
        .destroy = cgroupfs_destroy,
        .release = cgroupfs_release,
        .set_limits = cgroupfs_set_limits,
        .attach = cgroupfs_attach,
        .freeze = cgroupfs_freeze,
        .kill = cgroupfs_kill,
        .populated = cgroupfs_populated,
        .read_counters = cgroupfs_read_counters,
        .cgroup_id = cgroupfs_cgroup_id,
        .cgroup_path = cgroupfs_cgroup_path,
};
