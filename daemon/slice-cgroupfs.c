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
 * The parsing of the counter files, v2 and v1 (and the cgroup id), is
 * shared with slice-systemd, in cgroup-v2.c; that of /proc/self/mountinfo
 * is mountinfo.c's.
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
#include "mountinfo.h"
#include "slice.h"

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

/* Directories open() made (fs paths), shallowest first, the root last if
 * it made the root: close() removes exactly these. */
struct made_dirs {
        char **path;
        size_t n;
};

/* A v1 hierarchy that carries at least one controller we use. */
struct hierarchy {
        char *mount;      /* "/sys/fs/cgroup/memory" */
        int primary;      /* CTRL_* libcgroup addresses this hierarchy by */
        unsigned ctrls;   /* 1 << CTRL_* carried here */
        char *root;       /* backend root below the mount, libcgroup's name for it */
        char *root_fs;    /* mount + root */
        struct made_dirs made;
};

struct slice_backend {
        struct slice_features features;
        bool has_freeze; /* cgroup.freeze exists (Linux 5.2+) */

        char *v2_mount;      /* "/sys/fs/cgroup/unified" */
        char *v2_mount_root; /* the mount's root in the hierarchy, as /proc/self/cgroup names it */
        char *v2_root;       /* below the mount: "/prepay" */
        char *v2_root_fs;    /* mount + root */
        int v2_root_fd;
        struct made_dirs v2_made;

        struct hierarchy v1[_CTRL_MAX];
        size_t n_v1;
        int where[_CTRL_MAX];
};

/* The v1 counter files a slice keeps open on a hybrid host (the v2 ones
 * are cg2_files'): read_counters() runs every 100 ms for every slice, so
 * it only preads. */
enum {
        V1_CPUACCT_USAGE,      /* cpuacct.usage (v2 has it in cpu.stat) */
        V1_CPU_STAT,           /* cpu.stat, throttling only */
        V1_MEMORY_USAGE,       /* memory.usage_in_bytes, v2 memory.current */
        V1_MEMORY_MAX_USAGE,   /* memory.max_usage_in_bytes, v2 memory.peak */
        V1_MEMORY_OOM_CONTROL, /* memory.oom_control, v2 memory.events */
        V1_BLKIO_BYTES,        /* blkio.throttle.io_service_bytes, v2 io.stat */
        V1_PIDS_CURRENT,       /* pids.current */
        _V1_FILE_MAX,
};

#define FD_UNOPENED (-1)
#define FD_ABSENT (-2)

struct slice_handle {
        struct slice_backend *b;
        char id[SLICE_ID_MAX];
        char *v2_path; /* below the v2 mount: "/prepay/s-0123abcd" */
        int v2_fd;
        uint64_t cgroup_id;
        struct cg2_files v2; /* cgroup.events and the v2 counter files */
        char *v1_name[_CTRL_MAX]; /* per hierarchy, libcgroup's name (below the mount) */
        char *v1_fs[_CTRL_MAX];
        int v1_fds[_V1_FILE_MAX]; /* FD_UNOPENED or FD_ABSENT (never open for long: v1_read()) */
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

/* The v2 cgroup of a process (0: prepayd), as /proc/PID/cgroup names it:
 * from the root of its hierarchy (or cgroup namespace). */
static int proc_v2_cgroup(pid_t pid, char **ret) {
        _cleanup_(freep) char *text = NULL;
        char path[64];
        int r;

        if (pid == 0)
                (void) snprintf(path, sizeof(path), "/proc/self/cgroup");
        else
                (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        return cg2_proc_cgroup_path(text, ret);
}

static bool is_cgroup2(const char *path) {
        struct statfs sfs;

        return statfs(path, &sfs) >= 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* The cgroup2 mount that shows own_cgroup and its root within the
 * hierarchy (b->v2_mount, b->v2_mount_root), and whether v1 hierarchies
 * with controllers we use are mounted (so that a libcgroup failure is not
 * taken for a pure v2 host). Read a line at a time: mountinfo has no size
 * limit. */
static int find_mounts(struct slice_backend *b, const char *own_cgroup, bool *ret_v1_seen) {
        const struct mountinfo_query q = {
                .own_cgroup = own_cgroup,
                .v1_controllers = ctrl_v1_name,
                .n_v1_controllers = _CTRL_MAX,
                .visible = is_cgroup2,
        };
        _cleanup_(mountinfo_cgroups_done) struct mountinfo_cgroups found = {};
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *line = NULL;
        size_t size = 0;
        int r;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        while (getline(&line, &size, f) > 0) {
                r = mountinfo_cgroups_add_line(&found, line, &q);
                if (r < 0)
                        return r;
        }
        if (!found.v2_mount)
                return -ENOENT;
        b->v2_mount = TAKE_PTR(found.v2_mount);
        b->v2_mount_root = TAKE_PTR(found.v2_root);
        *ret_v1_seen = found.v1_mask != 0;
        return 0;
}

/* The v2 mount that shows prepayd's cgroup, and the backend's root in it. */
static int find_v2(struct slice_backend *b, const char *cgroup_root, bool *ret_v1_seen) {
        _cleanup_(freep) char *own = NULL;
        const char *rel;
        int r;

        r = proc_v2_cgroup(0, &own);
        if (r == -ENOENT)
                return log_error_errno(EOPNOTSUPP, "No cgroup v2 hierarchy mounted");
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/cgroup: %m");
        r = find_mounts(b, own, ret_v1_seen);
        if (r == -ENOENT)
                return log_error_errno(EOPNOTSUPP, "No cgroup v2 hierarchy mounted");
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/mountinfo: %m");

        /* Paths below the mount: /proc/self/cgroup names them from the
         * hierarchy's (namespace's) root, the mount may show a subtree. */
        rel = streq(b->v2_mount_root, "/") ? own : own + strlen(b->v2_mount_root);
        if (!*rel)
                rel = "/";
        b->v2_root = *cgroup_root == '/' ? strdup(cgroup_root) : path_join(rel, cgroup_root);
        if (!b->v2_root)
                return log_oom();
        if (cg_path_is_below(b->v2_root, rel))
                return log_error_errno(EINVAL, "CgroupRoot=%s contains prepayd's own cgroup %s", cgroup_root, own);
        b->v2_root_fs = path_join(b->v2_mount, b->v2_root);
        if (!b->v2_root_fs)
                return log_oom();
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
                if (cg_path_is_below(h->root, own))
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

static void made_done(struct made_dirs *m) {
        strv_free(m->path, m->n);
        *m = (struct made_dirs) {};
}

/* Did open() make the root itself? */
static bool made_root(const struct made_dirs *m, const char *root_fs) {
        return m->n > 0 && streq(m->path[m->n - 1], root_fs);
}

/* Removes what open() made above the root, deepest first, with a plain
 * rmdir: libcgroup made these when it created a v1 root, and never
 * removes them. Stops at the first that cannot go. */
static void made_remove_above_root(const struct made_dirs *m, const char *root_fs) {
        for (size_t k = m->n; k > 0; k--) {
                const char *d = m->path[k - 1];

                if (streq(d, root_fs))
                        continue;
                if (rmdir(d) < 0 && errno != ENOENT) {
                        log_warning_errno(errno, "Failed to remove cgroup %s, ignoring: %m", d);
                        return;
                }
        }
}

/* Removes the roots and the intermediate directories open() made, deepest
 * first. root_always: the root even if it was there before (close with
 * remove_root); otherwise only what open() made (cleanup after it failed). */
static void remove_dirs(struct slice_backend *b, bool root_always) {
        for (size_t i = 0; i < b->n_v1; i++) {
                struct hierarchy *h = &b->v1[i];
                int r;

                if (!h->root_fs)
                        continue;
                if (root_always || made_root(&h->made, h->root_fs)) {
                        r = v1_delete(b, i, h->root, h->root_fs);
                        if (r < 0) {
                                log_warning_errno(r, "Failed to remove cgroup %s, ignoring: %m", h->root_fs);
                                continue;
                        }
                }
                made_remove_above_root(&h->made, h->root_fs);
        }

        if (!b->v2_root_fs)
                return;
        if ((root_always || made_root(&b->v2_made, b->v2_root_fs)) && rmdir(b->v2_root_fs) < 0 && errno != ENOENT) {
                log_warning_errno(errno, "Failed to remove cgroup %s, ignoring: %m", b->v2_root_fs);
                return;
        }
        made_remove_above_root(&b->v2_made, b->v2_root_fs);
}

static struct slice_backend *backend_new(void) {
        struct slice_backend *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        b->v2_root_fd = -1;
        for (int c = 0; c < _CTRL_MAX; c++)
                b->where[c] = WHERE_NONE;
        return b;
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
        made_done(&b->v2_made);
        for (size_t i = 0; i < b->n_v1; i++) {
                free(b->v1[i].mount);
                free(b->v1[i].root);
                free(b->v1[i].root_fs);
                made_done(&b->v1[i].made);
        }
        free(b);
}

static void backend_freep(struct slice_backend **b) {
        backend_free(*b);
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

/* How the v2 root is to be made: the directories of its path, from which
 * of them on they are missing, and the anchor, the deepest existing
 * proper ancestor of the root, which gets the controllers for it. */
struct v2_plan {
        char **prefixes; /* "/a", "/a/b", ..., the root, below the mount */
        size_t n;
        size_t first_missing; /* n if the root exists */
        char *anchor;
        char *anchor_fs; /* mount + anchor */
};

static void v2_plan_done(struct v2_plan *p) {
        strv_free(p->prefixes, p->n);
        free(p->anchor);
        free(p->anchor_fs);
        *p = (struct v2_plan) {};
}

/* Looks at which directories of the plan's path exist and sets the anchor. */
static int v2_anchor(struct slice_backend *b, struct v2_plan *plan) {
        size_t k = 0, n = plan->n;

        for (; k < n; k++) {
                _cleanup_(freep) char *fs = path_join(b->v2_mount, plan->prefixes[k]);
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
                plan->anchor = n >= 2 ? strdup(plan->prefixes[n - 2]) : strdup("/");
        else
                plan->anchor = k >= 1 ? strdup(plan->prefixes[k - 1]) : strdup("/");
        if (!plan->anchor)
                return -ENOMEM;
        plan->anchor_fs = path_join(b->v2_mount, plan->anchor);
        if (!plan->anchor_fs)
                return -ENOMEM;
        plan->first_missing = k;
        return 0;
}

static int v2_plan_root(struct slice_backend *b, const char *cgroup_root, struct v2_plan *ret) {
        int r;

        r = path_prefixes(b->v2_root, &ret->prefixes, &ret->n);
        if (r < 0)
                return log_oom();
        if (ret->n == 0)
                return log_error_errno(EINVAL, "CgroupRoot=%s is empty", cgroup_root);
        r = v2_anchor(b, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to look at %s: %m", b->v2_root_fs);
        return 0;
}

/* The first line of file name in directory dir_fs; logs a failure. */
static int read_line_in(const char *dir_fs, const char *name, char **ret) {
        _cleanup_(freep) char *path = path_join(dir_fs, name);
        int r;

        if (!path)
                return log_oom();
        r = read_one_line_file(path, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        return 0;
}

/* Decides, per controller, whether v1 or v2 provides it; logs one line per
 * missing controller. */
static int probe_controllers(struct slice_backend *b, const struct v2_plan *plan) {
        _cleanup_(freep) char *available = NULL;
        int r;

        r = read_line_in(plan->anchor_fs, "cgroup.controllers", &available);
        if (r < 0)
                return r;

        for (int c = 0; c < _CTRL_MAX; c++) {
                if (b->where[c] >= 0 || !ctrl_v2_name[c])
                        continue;
                if (cg2_controllers_have(available, ctrl_v2_name[c])) {
                        b->where[c] = WHERE_V2;
                        log_debug("%s: cgroup v2, available in %s", ctrl_v2_name[c], plan->anchor_fs);
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
static int v2_check_anchor(struct slice_backend *b, const struct v2_plan *plan) {
        _cleanup_(freep) char *enabled = NULL, *procs = NULL;
        bool needed = false;
        int r;

        if (streq(plan->anchor, "/"))
                return 0;
        r = read_line_in(plan->anchor_fs, "cgroup.subtree_control", &enabled);
        if (r < 0)
                return r;
        for (int c = 0; c < _CTRL_MAX; c++)
                if (b->where[c] == WHERE_V2 && !cg2_controllers_have(enabled, ctrl_v2_name[c]))
                        needed = true;
        if (!needed)
                return 0;
        r = read_line_in(plan->anchor_fs, "cgroup.procs", &procs);
        if (r < 0)
                return r;
        if (!*procs)
                return 0;
        return log_error_errno(EBUSY,
                               "Cannot enable controllers in %s for CgroupRoot=: it has processes, and a cgroup with "
                               "processes cannot pass controllers to its children. Run prepayd in a leaf cgroup, such "
                               "as %s/supervisor (systemd: DelegateSubgroup=supervisor), and set CgroupRoot=%s/prepay",
                               plan->anchor_fs, plan->anchor, plan->anchor);
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
        if (cg2_controllers_have(enabled, ctrl))
                return 0;
        (void) snprintf(s, sizeof(s), "+%s", ctrl);
        return write_string_file(path, s);
}

/* Makes what is missing of the v2 root's path, noting what it made. */
static int v2_make_dirs(struct slice_backend *b, const struct v2_plan *plan) {
        for (size_t k = plan->first_missing; k < plan->n; k++) {
                char *fs = path_join(b->v2_mount, plan->prefixes[k]);
                int r;

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
                r = strv_push(&b->v2_made.path, &b->v2_made.n, fs);
                if (r < 0) {
                        (void) rmdir(fs);
                        free(fs);
                        return log_oom();
                }
        }
        return 0;
}

/* Appends a + b to v. */
static int strv_push_join(char ***v, size_t *n, const char *a, const char *b) {
        char *s = path_join(a, b);
        int r;

        if (!s)
                return -ENOMEM;
        r = strv_push(v, n, s);
        if (r < 0)
                free(s);
        return r;
}

/* The v2 directories (fs paths) that pass the controllers on to the root:
 * the anchor, then every directory from the first one made (or the root)
 * down. */
static int v2_chain(struct slice_backend *b, const struct v2_plan *plan, char ***ret, size_t *ret_n) {
        char **chain = NULL;
        size_t n = 0;
        int r;

        r = strv_push_join(&chain, &n, b->v2_mount, plan->anchor);
        for (size_t k = MIN(plan->first_missing, plan->n - 1); r >= 0 && k < plan->n; k++)
                r = strv_push_join(&chain, &n, b->v2_mount, plan->prefixes[k]);
        if (r < 0) {
                strv_free(chain, n);
                return r;
        }
        *ret = chain;
        *ret_n = n;
        return 0;
}

/* Enables controller c along the chain. The io controller is optional:
 * without it io counters read 0. */
static int v2_enable_along(struct slice_backend *b, char **chain, size_t n, int c) {
        for (size_t k = 0; k < n; k++) {
                int r = v2_enable(chain[k], ctrl_v2_name[c]);

                if (r >= 0)
                        continue;
                if (c != CTRL_IO)
                        return log_error_errno(r, "Failed to enable the %s controller in %s: %m", ctrl_v2_name[c],
                                               chain[k]);
                log_warning_errno(r, "Failed to enable the io controller in %s, io counters will read 0: %m", chain[k]);
                b->where[c] = WHERE_NONE;
                b->features.io = false;
                return 0;
        }
        return 0;
}

/* Makes the v2 root (and what is missing above it) and, on a host where v2
 * carries controllers, enables them down to the root. */
static int v2_create_root(struct slice_backend *b, const struct v2_plan *plan) {
        char **chain = NULL;
        size_t n = 0;
        int r;

        r = v2_make_dirs(b, plan);
        if (r < 0)
                return r;
        r = v2_chain(b, plan, &chain, &n);
        if (r < 0)
                return log_oom();
        for (int c = 0; c < _CTRL_MAX && r >= 0; c++)
                if (b->where[c] == WHERE_V2)
                        r = v2_enable_along(b, chain, n, c);
        strv_free(chain, n);
        return r;
}

/* Notes which directories of h's root path are missing (libcgroup makes
 * them all), then makes the root. */
static int v1_create_root(struct hierarchy *h) {
        char **prefixes = NULL;
        size_t n = 0;
        struct cgroup *cg;
        int r;

        r = path_prefixes(h->root, &prefixes, &n);
        if (r < 0)
                return log_oom();
        for (size_t k = 0; k < n; k++) {
                _cleanup_(freep) char *fs = path_join(h->mount, prefixes[k]);
                struct stat st;

                if (!fs) {
                        r = -ENOMEM;
                        break;
                }
                if (stat(fs, &st) >= 0)
                        continue;
                r = strv_push(&h->made.path, &h->made.n, fs);
                if (r < 0)
                        break;
                fs = NULL; /* h->made has it */
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
                return log_error_errno(cg_errno(r), "Failed to create cgroup %s: %s", h->root_fs, cgroup_strerror(r));
        return 0;
}

/* Opens the v2 root and looks at what its kernel offers. */
static int open_root(struct slice_backend *b) {
        b->v2_root_fd = open(b->v2_root_fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->v2_root_fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", b->v2_root_fs);

        b->has_freeze = faccessat(b->v2_root_fd, "cgroup.freeze", F_OK, 0) >= 0;
        b->features.cgroup_kill = faccessat(b->v2_root_fd, "cgroup.kill", F_OK, 0) >= 0;
        b->features.memory_peak =
                b->where[CTRL_MEMORY] == WHERE_V2 && faccessat(b->v2_root_fd, "memory.peak", F_OK, 0) >= 0;
        if (!b->has_freeze)
                log_warning("%s has no cgroup.freeze (Linux < 5.2): slices cannot be frozen", b->v2_root_fs);
        if (!b->features.cgroup_kill)
                log_info("%s has no cgroup.kill (Linux < 5.14): slices are killed process by process", b->v2_root_fs);
        return 0;
}

/* Finds the hierarchies, decides where the roots go and which controllers
 * come from where, and checks that the v2 root can get them: nothing is
 * changed yet. */
static int backend_look(struct slice_backend *b, const char *cgroup_root, struct v2_plan *plan) {
        bool v1_seen = false;
        int r;

        r = find_v2(b, cgroup_root, &v1_seen);
        if (r < 0)
                return r;
        r = discover_v1(b, v1_seen);
        if (r < 0)
                return r;
        r = v1_roots(b, cgroup_root);
        if (r < 0)
                return r;
        r = v2_plan_root(b, cgroup_root, plan);
        if (r < 0)
                return r;
        r = probe_controllers(b, plan);
        if (r < 0)
                return r;
        return v2_check_anchor(b, plan);
}

/* Makes the roots and opens the v2 one; a failure removes what was made. */
static int backend_make(struct slice_backend *b, const struct v2_plan *plan) {
        int r;

        r = v2_create_root(b, plan);
        for (size_t i = 0; r >= 0 && i < b->n_v1; i++)
                r = v1_create_root(&b->v1[i]);
        if (r >= 0)
                r = open_root(b);
        if (r < 0)
                remove_dirs(b, false);
        return r;
}

static int cgroupfs_open(const char *cgroup_root, struct slice_backend **ret) {
        _cleanup_(backend_freep) struct slice_backend *b = NULL;
        _cleanup_(v2_plan_done) struct v2_plan plan = {};
        int r;

        if (!cgroup_root_is_valid(cgroup_root))
                return log_error_errno(EINVAL,
                                       "CgroupRoot=%s is not a valid cgroup path (no empty, \".\" or \"..\" components)",
                                       strna(cgroup_root));
        b = backend_new();
        if (!b)
                return log_oom();

        r = backend_look(b, cgroup_root, &plan);
        if (r < 0)
                return r;
        log_info("cgroup layout: %s; v2 at %s, root %s", b->features.hybrid ? "hybrid" : "v2 only", b->v2_mount,
                 b->v2_root);
        r = backend_make(b, &plan);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
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
        cg2_files_done(&h->v2);
        if (h->v2_fd >= 0)
                (void) close(h->v2_fd);
        for (size_t i = 0; i < _V1_FILE_MAX; i++)
                if (h->v1_fds[i] >= 0)
                        (void) close(h->v1_fds[i]);
        for (size_t i = 0; i < _CTRL_MAX; i++) {
                free(h->v1_name[i]);
                free(h->v1_fs[i]);
        }
        free(h->v2_path);
        free(h);
}

static struct slice_handle *handle_new(struct slice_backend *b, const char *id) {
        struct slice_handle *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->b = b;
        h->v2_fd = -1;
        cg2_files_init(&h->v2, -1);
        for (size_t i = 0; i < _V1_FILE_MAX; i++)
                h->v1_fds[i] = FD_UNOPENED;
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

/* Opens the slice's v2 directory (the one file a slice keeps open), and
 * checks it is a cgroup: it has cgroup.events. */
static int handle_open_v2(struct slice_handle *h) {
        h->v2_fd = openat(h->b->v2_root_fd, h->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h->v2_fd < 0)
                return -errno;
        h->cgroup_id = cg2_dir_id(h->v2_fd);
        cg2_files_init(&h->v2, h->v2_fd);
        return faccessat(h->v2_fd, "cgroup.events", F_OK, 0) < 0 ? -errno : 0;
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
                        slice_limits_cpu(l, &quota, &period);
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

/* Writes one limit into the cgroup directory dir (open as dfd): v, or
 * none for 0 (no limit). */
static int v1_write_value(const char *dir, int dfd, const char *file, uint64_t v, const char *none) {
        char s[32];
        int r;

        if (v == 0)
                (void) snprintf(s, sizeof(s), "%s", none);
        else
                (void) snprintf(s, sizeof(s), "%" PRIu64, v);
        r = write_string_file_at(dfd, file, s);
        if (r < 0)
                return log_error_errno(r, "Failed to write \"%s\" to %s/%s: %m", s, dir, file);
        return 0;
}

/* The slice's cgroup in v1 hierarchy i, made with its limits: mkdir and
 * the limit files written, as v1_group() and cgroup_create_cgroup()
 * would, without libcgroup's extras: it chowns each of the cgroup's files
 * to the uid that owns them already and reads /proc/mounts again for each
 * value it writes, about a hundred system calls a hierarchy, most of a
 * create's time (daemon/README.md). The parent is the backend's root,
 * made by open(): a missing one is an error here, not made again.
 *
 * Only what differs from a new cgroup's is written (no limit, the
 * kernel's 100ms period): each write of a CPU bandwidth file walks every
 * task group of the host under one mutex (tg_set_bandwidth()), so with
 * 10,000 slices alive the two writes of an unlimited slice were most of
 * its create (tests/bench/latency). */
static int v1_make(struct slice_handle *h, size_t i, const struct slice_limits *l) {
        struct slice_backend *b = h->b;
        _cleanup_(closep) int dfd = -1;
        int r = 0;

        if (mkdir(h->v1_fs[i], 0755) < 0)
                return log_error_errno(errno, "Failed to create slice %s: %s: %m", h->id, h->v1_fs[i]);
        dfd = open(h->v1_fs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", h->v1_fs[i]);
        for (int c = 0; c < _CTRL_MAX && r >= 0; c++) {
                uint64_t quota, period;

                if (b->where[c] != (int) i)
                        continue;
                switch (c) {
                case CTRL_CPU:
                        /* Period first: the quota is checked against it. */
                        slice_limits_cpu(l, &quota, &period);
                        if (quota == 0)
                                break;
                        if (period != CPU_PERIOD_DEFAULT_USEC)
                                r = v1_write_value(h->v1_fs[i], dfd, "cpu.cfs_period_us", period, "");
                        if (r >= 0)
                                r = v1_write_value(h->v1_fs[i], dfd, "cpu.cfs_quota_us", quota, "-1");
                        break;
                case CTRL_MEMORY:
                        if (l->memory_max > 0)
                                r = v1_write_value(h->v1_fs[i], dfd, "memory.limit_in_bytes", l->memory_max, "-1");
                        break;
                case CTRL_PIDS:
                        if (l->pids_max > 0)
                                r = v1_write_value(h->v1_fs[i], dfd, "pids.max", l->pids_max, "max");
                        break;
                }
        }
        return r;
}

/* memory.max, pids.max: the value, or "max" for 0 (no limit). */
static int v2_write_max(struct slice_handle *h, const char *file, uint64_t v) {
        char s[32];

        if (v > 0)
                (void) snprintf(s, sizeof(s), "%" PRIu64, v);
        else
                (void) snprintf(s, sizeof(s), "max");
        return write_string_file_at(h->v2_fd, file, s);
}

/* With fresh (a cgroup just made), only what differs from a new
 * cgroup's, as v1_make(). */
static int v2_set_limits(struct slice_handle *h, const struct slice_limits *l, bool fresh) {
        struct slice_backend *b = h->b;
        int r;

        if (b->where[CTRL_CPU] == WHERE_V2) {
                uint64_t quota, period;
                char s[64];

                slice_limits_cpu(l, &quota, &period);
                if (quota > 0)
                        (void) snprintf(s, sizeof(s), "%" PRIu64 " %" PRIu64, quota, period);
                else
                        (void) snprintf(s, sizeof(s), "max %" PRIu64, period);
                r = fresh && quota == 0 ? 0 : write_string_file_at(h->v2_fd, "cpu.max", s);
                if (r < 0)
                        return r;
        }
        if (b->where[CTRL_MEMORY] == WHERE_V2 && !(fresh && l->memory_max == 0)) {
                r = v2_write_max(h, "memory.max", l->memory_max);
                if (r < 0)
                        return r;
        }
        if (b->where[CTRL_PIDS] == WHERE_V2 && !(fresh && l->pids_max == 0)) {
                r = v2_write_max(h, "pids.max", l->pids_max);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cgroupfs_set_limits(struct slice_handle *h, const struct slice_limits *l) {
        struct slice_backend *b = h->b;
        int r;

        r = slice_limits_check(l, "set limits of", h->id);
        if (r < 0)
                return r;

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
        r = v2_set_limits(h, l, false);
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
        r = slice_limits_check(l, "create", id);
        if (r < 0)
                return r;

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
                r = v1_make(h, made_v1, l);
                if (r < 0) {
                        /* It may have made the directory before a value failed. */
                        if (access(h->v1_fs[made_v1], F_OK) >= 0)
                                made_v1++;
                        goto fail_remove;
                }
        }

        r = v2_set_limits(h, l, true);
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

static int cgroupfs_populated(struct slice_handle *h) {
        return cg2_populated(&h->v2, h->id);
}

static int freeze_internal(struct slice_handle *h, bool freeze, uint64_t timeout_usec) {
        int r;

        if (!h->b->has_freeze)
                return -EOPNOTSUPP;
        r = write_string_file_at(h->v2_fd, "cgroup.freeze", freeze ? "1" : "0");
        if (r < 0)
                return r;
        return cg2_wait_events(&h->v2, true, freeze, timeout_usec);
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
        _cleanup_(freep) char *cgroup = NULL, *want = NULL;

        if (proc_v2_cgroup(pid, &cgroup) < 0)
                return false;
        want = path_join(h->b->v2_mount_root, h->v2_path);
        return want && streq(cgroup, want);
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

                r = cg2_read_events(&h->v2, &populated, NULL);
                if (r < 0)
                        return r;
                if (!populated)
                        return 0;

                k = freeze_internal(h, true, KILL_FALLBACK_WAIT_USEC);
                if (k < 0 && k != -ETIMEDOUT && k != -EOPNOTSUPP)
                        return k;

                r = read_full_file_at(h->v2_fd, "cgroup.procs", &procs, NULL);
                if (r >= 0) {
                        const char *p = procs;
                        pid_t pid;

                        while (cg2_procs_next(&p, &pid) > 0) {
                                k = kill_pid(h, pid);
                                if (k < 0 && r >= 0)
                                        r = k;
                        }
                }

                k = freeze_internal(h, false, KILL_FALLBACK_WAIT_USEC);
                if (k < 0 && k != -ETIMEDOUT && k != -EOPNOTSUPP && r >= 0)
                        r = k;
                if (r < 0)
                        return r;

                r = cg2_wait_events(&h->v2, false, false, KILL_FALLBACK_WAIT_USEC);
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
        if (cg2_read_events(&h->v2, &populated, NULL) < 0 || populated) {
                (void) cgroupfs_kill(h); /* logs */
                r = cg2_wait_events(&h->v2, false, false, DESTROY_TIMEOUT_USEC);
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

/* Reads v1 counter file which, called name, of the slice in hierarchy w
 * (opened for the read: see cg2_files_read()). 0 and *ret = NULL when it
 * is absent, which it stays: a v1 hierarchy's files do not come and go,
 * so it is not looked for again. */
static int v1_read(struct slice_handle *h, int which, const char *name, int w, char **ret) {
        _cleanup_(freep) char *path = NULL;
        int r;

        if (h->v1_fds[which] == FD_ABSENT) {
                *ret = NULL;
                return 0;
        }
        path = path_join(h->v1_fs[w], name);
        if (!path)
                return -ENOMEM;
        r = cg_read_file_at(AT_FDCWD, path, ret);
        if (r >= 0 && !*ret)
                h->v1_fds[which] = FD_ABSENT;
        return r;
}

/* The counters of one file of controller c into counters: v2 file which
 * where c is in v2, else v1 file v1_file (called v1_name) where c is bound
 * to a v1 hierarchy. The v1 files have the format of their v2 peers but
 * blkio's. Nothing where the file is absent or c is nowhere. */
static int read_counter(struct slice_handle *h, int c, int which, int v1_file, const char *v1_name,
                        struct slice_counters *counters) {
        int w = h->b->where[c], r;
        char *text;

        if (w == WHERE_V2)
                r = cg2_files_read(&h->v2, which, &text);
        else if (w >= 0)
                r = v1_read(h, v1_file, v1_name, w, &text);
        else
                return 0;
        if (r < 0 || !text)
                return r;
        if (w >= 0 && which == CG2_IO_STAT)
                cg1_parse_blkio(text, &counters->io_read_bytes, &counters->io_write_bytes);
        else
                cg2_parse_file(which, text, counters);
        return 0;
}

/* Usage: v1 cpuacct where it is bound there, else the v2 core cpu.stat
 * (present in hybrid mode too). Throttling: where cpu is. */
static int read_cpu(struct slice_handle *h, struct slice_counters *c) {
        struct slice_backend *b = h->b;
        bool usage_v1 = b->where[CTRL_CPUACCT] >= 0, cpu_v2 = b->where[CTRL_CPU] == WHERE_V2;
        char *text;
        int r;

        if (usage_v1) {
                r = v1_read(h, V1_CPUACCT_USAGE, "cpuacct.usage", b->where[CTRL_CPUACCT], &text);
                if (r < 0)
                        return r;
                if (text)
                        (void) cg1_parse_cpuacct_usage(text, &c->cpu_usage_usec);
        }
        if (!usage_v1 || cpu_v2) {
                r = cg2_files_read(&h->v2, CG2_CPU_STAT, &text);
                if (r < 0)
                        return r;
                if (text)
                        cg2_parse_cpu_stat(text, !usage_v1, cpu_v2, c);
        }
        if (b->where[CTRL_CPU] >= 0) {
                r = v1_read(h, V1_CPU_STAT, "cpu.stat", b->where[CTRL_CPU], &text);
                if (r < 0)
                        return r;
                if (text)
                        cg1_parse_cpu_stat(text, c);
        }
        return 0;
}

static int cgroupfs_read_counters(struct slice_handle *h, struct slice_counters *ret) {
        struct slice_counters c = {};
        int r;

        r = cg2_read_events(&h->v2, &c.populated, &c.frozen);
        if (r >= 0)
                r = read_cpu(h, &c);
        if (r >= 0)
                r = read_counter(h, CTRL_MEMORY, CG2_MEMORY_CURRENT, V1_MEMORY_USAGE, "memory.usage_in_bytes", &c);
        if (r >= 0)
                r = read_counter(h, CTRL_MEMORY, CG2_MEMORY_PEAK, V1_MEMORY_MAX_USAGE, "memory.max_usage_in_bytes", &c);
        if (r >= 0)
                r = read_counter(h, CTRL_MEMORY, CG2_MEMORY_EVENTS, V1_MEMORY_OOM_CONTROL, "memory.oom_control", &c);
        if (r >= 0)
                r = read_counter(h, CTRL_IO, CG2_IO_STAT, V1_BLKIO_BYTES, "blkio.throttle.io_service_bytes", &c);
        if (r >= 0)
                r = read_counter(h, CTRL_PIDS, CG2_PIDS_CURRENT, V1_PIDS_CURRENT, "pids.current", &c);
        if (r < 0) {
                /* Not logged here: this runs at every meter tick, and the
                 * manager logs a failure when it starts and when it ends.
                 * A slice whose v2 cgroup was removed behind our back is
                 * -ENOENT, whatever the read said. */
                if (faccessat(h->b->v2_root_fd, h->id, F_OK, 0) < 0 && errno == ENOENT)
                        return -ENOENT;
                return r;
        }
        *ret = c;
        return 0;
}

static uint64_t cgroupfs_cgroup_id(struct slice_handle *h) {
        return h->cgroup_id;
}

static const char *cgroupfs_cgroup_path(struct slice_handle *h) {
        return h->v2_path;
}

/* The process the daemon forked into the slice is in its cgroup.procs
 * (it was moved there before it exec'd and never leaves by itself). */
static int cgroupfs_owns_pid(struct slice_handle *h, const char *name, pid_t pid) {
        _cleanup_(freep) char *text = NULL;
        const char *p;
        pid_t q;
        int r;

        r = read_full_file_at(h->v2_fd, "cgroup.procs", &text, NULL);
        if (r < 0)
                return r;
        p = text;
        while ((r = cg2_procs_next(&p, &q)) > 0)
                if (q == pid)
                        return 1;
        return r < 0 ? r : 0;
}

const struct slice_ops slice_cgroupfs_ops = {
        .owns_pid = cgroupfs_owns_pid,
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
