/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The eBPF meter (see meter.h and bpf/README.md): the only file that
 * includes the BPF skeleton. */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "../bpf/meter.h"
#include "bpf/meter.skel.h"
#include "common/log.h"
#include "meter.h"

_Static_assert(METER_GRANT_MAX == METER_GRANT_UNLIMITED, "the programs and the daemon agree on \"no limit\"");

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", seen by user space */
#endif

/* Names under pin_path. Maps are pinned by their names in meter.bpf.c. */
enum {
        PIN_CPU_NS,
        PIN_NET,
        PIN_NET_GRANT,
        PIN_LINK_INGRESS,
        PIN_LINK_EGRESS,
        _PIN_MAX,
};

static const char *const pin_name[_PIN_MAX] = {
        [PIN_CPU_NS] = "cpu_ns",
        [PIN_NET] = "net",
        [PIN_NET_GRANT] = "net_grant",
        [PIN_LINK_INGRESS] = "link_ingress",
        [PIN_LINK_EGRESS] = "link_egress",
};

struct meter {
        struct meter_bpf *skel;
        enum meter_cpu_mode cpu_mode;
        struct bpf_link *iter_link;
        struct bpf_link *read_link;    /* meter_read()'s, NULL: reads walk every slice */
        struct bpf_link *sched_link;
        struct bpf_link *net_link[2]; /* ingress, egress */

        char *pin_path;
        char *pin[_PIN_MAX];           /* full paths; NULL when not pinning */
        bool pin_created[_PIN_MAX];    /* by this meter_open(): undone if it fails */
        bool pin_dir_created;

        int cpu_fd, net_fd, grant_fd;
        bool no_batch;                 /* kernel without BPF_MAP_LOOKUP_BATCH */

        /* Scratch for meter_sample(), sized to the maps: never reallocated. */
        uint32_t capacity;
        uint64_t *cpu_keys, *cpu_vals, *net_keys;
        struct meter_net *net_vals;
        uint32_t *cpu_order, *net_order;
};

static int meter_oom(void) {
        return log_error_errno(ENOMEM, "Out of memory.");
}

static int meter_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
        _cleanup_(freep) char *s = NULL;
        int prio = level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG;
        size_t n;

        /* libbpf's debug output (every CO-RE relocation) drowns the daemon's
         * own debug log: only with PREPAY_LIBBPF_DEBUG=1. */
        if (level == LIBBPF_DEBUG && !getenv("PREPAY_LIBBPF_DEBUG"))
                return 0;
        if (prio > log_get_max_level())
                return 0;
        if (vasprintf(&s, fmt, ap) < 0)
                return 0;
        n = strlen(s);
        while (n > 0 && s[n - 1] == '\n')
                s[--n] = 0;
        log_full_errno(prio, 0, "%s", s); /* libbpf says "libbpf: " itself */
        return 0;
}

/* Level of a cgroup v2 directory, by walking ".." up to the top of the
 * mount. Wrong where the mount's top is not the hierarchy's root (a
 * cgroup namespace, a bind mount): meter_open() checks the result against
 * the kernel's own figure, seen by the iterator. */
static int cgroup_fd_level(int fd, uint32_t *ret) {
        _cleanup_(closep) int cur = -1;
        struct stat st, up;
        uint32_t level = 0;
        ino_t ino;

        if (fstat(fd, &st) < 0)
                return -errno;
        cur = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        ino = st.st_ino;

        for (;;) {
                int p;

                p = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (p < 0)
                        return -errno;
                if (fstat(p, &up) < 0) {
                        int r = -errno;
                        close(p);
                        return r;
                }
                if (up.st_dev != st.st_dev || up.st_ino == ino) {
                        close(p);
                        break;
                }
                if (++level > 4096) {
                        close(p);
                        return -ELOOP;
                }
                close(cur);
                cur = p;
                ino = up.st_ino;
        }

        *ret = level;
        return 0;
}

/* Makes sure pin_path is a directory on bpffs. A missing bpffs otherwise
 * shows up as a baffling EPERM from mkdir in sysfs. */
static int meter_prepare_pin_dir(struct meter *m, const char *path) {
        _cleanup_(freep) char *parent = NULL;
        struct statfs sfs;
        char *slash;

        if (statfs(path, &sfs) == 0) {
                if (sfs.f_type != BPF_FS_MAGIC)
                        return log_error_errno(ENOTDIR, "BPF pin path %s is not on a BPF filesystem (bpffs): %m", path);
                return 0;
        }
        if (errno != ENOENT)
                return log_error_errno(errno, "Failed to check BPF pin path %s: %m", path);

        parent = strdup(path);
        if (!parent)
                return meter_oom();
        slash = strrchr(parent, '/');
        if (slash && slash != parent)
                *slash = 0;
        else if (slash)
                slash[1] = 0;
        if (statfs(parent, &sfs) == 0 && sfs.f_type != BPF_FS_MAGIC)
                return log_error_errno(ENOTDIR, "Failed to create BPF pin directory %s: %s is not on a BPF filesystem (is bpffs mounted?)",
                                       path, parent);

        if (mkdir(path, 0700) < 0) {
                if (errno != EEXIST)
                        return log_error_errno(errno, "Failed to create BPF pin directory %s: %m", path);
        } else
                m->pin_dir_created = true;
        return 0;
}

/* The pins steer the meter: a map someone else pinned under a name the
 * meter reuses would be theirs to write (CPU figures, network grants), and
 * whoever may write the directory may unlink root's links. On a bpffs
 * mounted 1777 a tenant made the directory first, the daemon used it,
 * and the tenant removed root's link_egress pin. So the directory must be
 * root's and private, with no one else's way to swap it above, and every
 * pin already in it root's. Refused, not fixed: what is in it cannot be
 * trusted once someone else could write there. */
static int meter_check_pin_dir(struct meter *m, const char *path) {
        _cleanup_(freep) char *error = NULL;
        struct stat st;
        int r;

        r = dir_check_private(path, &error);
        if (r < 0)
                return log_error_errno(r, "Refusing BpfPinPath=%s: %s. It and every directory above it must be "
                                          "root's and writable by no one else (above it, a sticky directory such "
                                          "as a 1777 /sys/fs/bpf may be).",
                                       path, error ?: strerror(-r));
        for (size_t i = 0; i < _PIN_MAX; i++) {
                if (lstat(m->pin[i], &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return log_error_errno(errno, "Failed to check BPF pin %s: %m", m->pin[i]);
                }
                if (st.st_uid != 0 && st.st_uid != geteuid())
                        return log_error_errno(EPERM, "Refusing BpfPinPath=%s: %s is owned by uid %u, not by root.",
                                               path, m->pin[i], (unsigned) st.st_uid);
        }
        return 0;
}

static int vmlinux_has_func(const struct btf *vmlinux, const char *name) {
        return btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) > 0;
}

/* bcc libbpf-tools style: probe what the running kernel offers and switch
 * off the programs it cannot load, rather than compare versions. */
static int meter_select_programs(struct meter *m, const struct meter_options *o) {
        struct meter_bpf *s = m->skel;
        struct btf *vmlinux;
        bool css, cgrp, by_id;
        int r;

        vmlinux = btf__load_vmlinux_btf();
        if (!vmlinux) {
                r = -errno;
                return log_error_errno(r, "Failed to load the kernel's BTF (/sys/kernel/btf/vmlinux): %m");
        }
        css = vmlinux_has_func(vmlinux, "css_rstat_flush");
        cgrp = vmlinux_has_func(vmlinux, "cgroup_rstat_flush");
        by_id = vmlinux_has_func(vmlinux, "bpf_cgroup_from_id") && vmlinux_has_func(vmlinux, "bpf_cgroup_release");
        btf__free(vmlinux);

        bpf_program__set_autoload(s->progs.meter_cpu_css, false);
        bpf_program__set_autoload(s->progs.meter_cpu_cgroup, false);
        /* Reads of chosen slices need a cgroup by its id (6.2); without
         * it, meter_read() falls back to the walk of every slice. */
        bpf_program__set_autoload(s->progs.meter_read_css, by_id && css && o->cpu_mode == METER_CPU_ITER);
        bpf_program__set_autoload(s->progs.meter_read_cgroup, by_id && !css && cgrp && o->cpu_mode == METER_CPU_ITER);

        switch (o->cpu_mode) {
        case METER_CPU_ITER:
                if (css)
                        bpf_program__set_autoload(s->progs.meter_cpu_css, true);
                else if (cgrp)
                        bpf_program__set_autoload(s->progs.meter_cpu_cgroup, true);
                else
                        return log_error_errno(EOPNOTSUPP,
                                               "Kernel offers neither kfunc css_rstat_flush nor cgroup_rstat_flush (Linux 6.1 or later needed): %m");
                bpf_program__set_autoload(s->progs.meter_sched_switch, false);
                bpf_program__set_autoload(s->progs.meter_cpu_sched, false);
                /* BPF_MAP_TYPE_CGRP_STORAGE does not exist before 6.2. */
                bpf_map__set_autocreate(s->maps.sched_cpu, false);
                bpf_map__set_autocreate(s->maps.sched_last, false);
                break;
        case METER_CPU_SCHED_SWITCH:
                break;
        default:
                return log_error_errno(EINVAL, "Unknown meter CPU mode %d: %m", (int) o->cpu_mode);
        }

        if (!o->attach_net) {
                bpf_program__set_autoload(s->progs.meter_net_ingress, false);
                bpf_program__set_autoload(s->progs.meter_net_egress, false);
        }
        return 0;
}

static struct bpf_program *meter_iter_program(struct meter *m) {
        if (m->cpu_mode == METER_CPU_SCHED_SWITCH)
                return m->skel->progs.meter_cpu_sched;
        if (bpf_program__autoload(m->skel->progs.meter_cpu_css))
                return m->skel->progs.meter_cpu_css;
        return m->skel->progs.meter_cpu_cgroup;
}

/* Runs an iterator program: one read() to EOF. */
static int meter_run_link(struct bpf_link *link) {
        _cleanup_(closep) int fd = -1;
        char buf[512];

        fd = bpf_iter_create(bpf_link__fd(link));
        if (fd < 0)
                return log_error_errno(fd, "Failed to create the cgroup iterator: %m");

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "Failed to run the cgroup iterator: %m");
                }
                /* The programs print nothing; ignore anything a future one
                 * might print. */
        }
}

/* The walk over the root's subtree. */
static int meter_run_iter(struct meter *m) {
        return meter_run_link(m->iter_link);
}

/* Opens the pinned link for one direction if there is one that still
 * belongs to our root and hook, and moves it to the new program: attaching
 * a second link would count every packet twice. */
static int meter_reuse_net_link(struct meter *m, int pin, struct bpf_program *prog,
                                enum bpf_attach_type type, uint64_t root_id, struct bpf_link **ret) {
        struct bpf_link_info info = {};
        uint32_t len = sizeof(info);
        struct bpf_link *link;
        int r;

        /* libbpf would warn about a missing pin: the first start has none. */
        if (access(m->pin[pin], F_OK) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Failed to access pinned BPF link %s: %m", m->pin[pin]);
        }
        link = bpf_link__open(m->pin[pin]);
        if (!link)
                return log_error_errno(errno, "Failed to open pinned BPF link %s: %m", m->pin[pin]);

        r = bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len);
        if (r < 0) {
                log_error_errno(r, "Failed to query pinned BPF link %s: %m", m->pin[pin]);
                goto out;
        }
        if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != root_id ||
            info.cgroup.attach_type != type) {
                /* Another root (CgroupRoot= changed) or a cgroup since
                 * removed: drop it, a fresh link is attached instead. */
                log_notice("Pinned BPF link %s belongs to another cgroup (id %" PRIu64 ", meter root %" PRIu64 "), replacing it.",
                           m->pin[pin], (uint64_t) info.cgroup.cgroup_id, root_id);
                if (unlink(m->pin[pin]) < 0 && errno != ENOENT) {
                        r = log_error_errno(errno, "Failed to remove stale pinned BPF link %s: %m", m->pin[pin]);
                        goto out;
                }
                r = 0;
                goto out;
        }

        r = bpf_link__update_program(link, prog);
        if (r < 0) {
                log_error_errno(r, "Failed to move pinned BPF link %s to the new program: %m", m->pin[pin]);
                goto out;
        }
        *ret = TAKE_PTR(link);
        r = 1;
out:
        bpf_link__destroy(link); /* closes our fd; the pin keeps the link */
        return r;
}

static int meter_attach_net(struct meter *m, int root_fd, uint64_t root_id) {
        static const struct {
                int pin;
                enum bpf_attach_type type;
        } dirs[2] = {
                { PIN_LINK_INGRESS, BPF_CGROUP_INET_INGRESS },
                { PIN_LINK_EGRESS, BPF_CGROUP_INET_EGRESS },
        };
        struct bpf_program *progs[2] = { m->skel->progs.meter_net_ingress, m->skel->progs.meter_net_egress };
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                struct bpf_link *link = NULL;
                int pin = dirs[i].pin;

                if (m->pin_path) {
                        r = meter_reuse_net_link(m, pin, progs[i], dirs[i].type, root_id, &link);
                        if (r < 0)
                                return r;
                }

                if (!link) {
                        link = bpf_program__attach_cgroup(progs[i], root_fd);
                        if (!link)
                                return log_error_errno(errno, "Failed to attach %s to the meter's root cgroup: %m",
                                                       bpf_program__section_name(progs[i]));
                        if (m->pin_path) {
                                r = bpf_link__pin(link, m->pin[pin]);
                                if (r < 0) {
                                        bpf_link__destroy(link);
                                        return log_error_errno(r, "Failed to pin BPF link %s: %m", m->pin[pin]);
                                }
                                m->pin_created[pin] = true;
                        }
                }
                m->net_link[i] = link;
        }
        return 0;
}

static int meter_attach_cpu(struct meter *m, int root_fd, uint32_t root_level) {
        union bpf_iter_link_info linfo = {};
        LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo, .link_info_len = sizeof(linfo));
        struct bpf_program *prog = meter_iter_program(m);
        int r;

        linfo.cgroup.cgroup_fd = (uint32_t) root_fd;
        linfo.cgroup.order = BPF_CGROUP_ITER_DESCENDANTS_PRE;
        m->iter_link = bpf_program__attach_iter(prog, &opts);
        if (!m->iter_link)
                return log_error_errno(errno, "Failed to attach the cgroup iterator %s to the meter's root cgroup: %m",
                                       bpf_program__name(prog));

        prog = bpf_program__autoload(m->skel->progs.meter_read_css) ? m->skel->progs.meter_read_css
               : bpf_program__autoload(m->skel->progs.meter_read_cgroup) ? m->skel->progs.meter_read_cgroup
                                                                          : NULL;
        if (prog) {
                linfo.cgroup.order = BPF_CGROUP_ITER_SELF_ONLY;
                m->read_link = bpf_program__attach_iter(prog, &opts);
                if (!m->read_link)
                        return log_error_errno(errno, "Failed to attach the cgroup iterator %s to the meter's root cgroup: %m",
                                               bpf_program__name(prog));
        }

        if (m->cpu_mode == METER_CPU_SCHED_SWITCH) {
                m->sched_link = bpf_program__attach(m->skel->progs.meter_sched_switch);
                if (!m->sched_link)
                        return log_error_errno(errno, "Failed to attach tp_btf/sched_switch: %m");
        }

        /* The network programs count at slice_level, computed from the
         * root's path: check it against what the kernel says. */
        r = meter_run_iter(m);
        if (r < 0)
                return r;
        if (m->skel->data->root_level != (int32_t) root_level)
                return log_error_errno(EXDEV,
                                       "Meter root cgroup is at level %d, its path says %" PRIu32 " (cgroup namespace or bind mount?): %m",
                                       (int) m->skel->data->root_level, root_level);
        return 0;
}

static int meter_alloc_scratch(struct meter *m) {
        uint32_t n = bpf_map__max_entries(m->skel->maps.cpu_ns);

        if (bpf_map__max_entries(m->skel->maps.net) > n)
                n = bpf_map__max_entries(m->skel->maps.net);
        m->capacity = n;
        m->cpu_keys = calloc(n, sizeof(*m->cpu_keys));
        m->cpu_vals = calloc(n, sizeof(*m->cpu_vals));
        m->net_keys = calloc(n, sizeof(*m->net_keys));
        m->net_vals = calloc(n, sizeof(*m->net_vals));
        m->cpu_order = calloc(n, sizeof(*m->cpu_order));
        m->net_order = calloc(n, sizeof(*m->net_order));
        if (!m->cpu_keys || !m->cpu_vals || !m->net_keys || !m->net_vals || !m->cpu_order || !m->net_order)
                return meter_oom();
        return 0;
}

static void meter_free(struct meter *m) {
        if (!m)
                return;
        bpf_link__destroy(m->iter_link);
        bpf_link__destroy(m->read_link);
        bpf_link__destroy(m->sched_link);
        for (size_t i = 0; i < ARRAY_SIZE(m->net_link); i++)
                bpf_link__destroy(m->net_link[i]);
        meter_bpf__destroy(m->skel);
        for (size_t i = 0; i < _PIN_MAX; i++)
                free(m->pin[i]);
        free(m->pin_path);
        free(m->cpu_keys);
        free(m->cpu_vals);
        free(m->net_keys);
        free(m->net_vals);
        free(m->cpu_order);
        free(m->net_order);
        free(m);
}

/* A failed meter_open() leaves the pin directory as it found it: what it
 * pinned itself goes, what an earlier daemon pinned stays. */
static void meter_undo_pins(struct meter *m) {
        if (!m)
                return;
        for (size_t i = 0; i < _PIN_MAX; i++)
                if (m->pin_created[i] && unlink(m->pin[i]) < 0 && errno != ENOENT)
                        log_warning_errno(errno, "Failed to remove %s, ignoring: %m", m->pin[i]);
        if (m->pin_dir_created && rmdir(m->pin_path) < 0 && errno != ENOENT && errno != ENOTEMPTY)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", m->pin_path);
}

int meter_open(const struct meter_options *o, struct meter **ret) {
        struct meter *m = NULL;
        struct statfs sfs;
        struct stat st;
        uint32_t level = 0;
        int r;

        if (!o || !ret || o->root_cgroup_fd < 0)
                return -EINVAL;

        libbpf_set_print(meter_libbpf_print);

        m = calloc(1, sizeof(*m));
        if (!m)
                return meter_oom();
        m->cpu_mode = o->cpu_mode;
        m->cpu_fd = m->net_fd = m->grant_fd = -1;

        if (fstatfs(o->root_cgroup_fd, &sfs) < 0 || fstat(o->root_cgroup_fd, &st) < 0) {
                r = log_error_errno(errno, "Failed to check the meter's root cgroup: %m");
                goto out;
        }
        if (sfs.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode)) {
                r = log_error_errno(ENOTDIR, "Meter root is not a cgroup v2 directory: %m");
                goto out;
        }
        r = cgroup_fd_level(o->root_cgroup_fd, &level);
        if (r < 0) {
                log_error_errno(r, "Failed to find the level of the meter's root cgroup: %m");
                goto out;
        }

        if (o->pin_path) {
                m->pin_path = strdup(o->pin_path);
                if (!m->pin_path) {
                        r = meter_oom();
                        goto out;
                }
                for (size_t i = 0; i < _PIN_MAX; i++)
                        if (asprintf(&m->pin[i], "%s/%s", o->pin_path, pin_name[i]) < 0) {
                                m->pin[i] = NULL;
                                r = meter_oom();
                                goto out;
                        }
                r = meter_prepare_pin_dir(m, o->pin_path);
                if (r < 0)
                        goto out;
                r = meter_check_pin_dir(m, o->pin_path);
                if (r < 0)
                        goto out;
        }

        m->skel = meter_bpf__open();
        if (!m->skel) {
                r = log_error_errno(errno, "Failed to open the BPF meter object: %m");
                goto out;
        }
        m->skel->rodata->slice_level = level + 1;

        r = meter_select_programs(m, o);
        if (r < 0)
                goto out;

        if (m->pin_path) {
                /* libbpf reuses a pinned map of the same definition, so a
                 * restarted daemon keeps the figures. */
                const int map_pins[] = { PIN_CPU_NS, PIN_NET, PIN_NET_GRANT };
                struct bpf_map *maps[] = { m->skel->maps.cpu_ns, m->skel->maps.net, m->skel->maps.net_grant };

                for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
                        m->pin_created[map_pins[i]] = access(m->pin[map_pins[i]], F_OK) < 0;
                        r = bpf_map__set_pin_path(maps[i], m->pin[map_pins[i]]);
                        if (r < 0) {
                                log_error_errno(r, "Failed to set pin path of BPF map %s: %m", bpf_map__name(maps[i]));
                                goto out;
                        }
                }
        }

        r = meter_bpf__load(m->skel);
        if (r < 0) {
                /* libbpf has logged the verifier's or the map's complaint. */
                log_error_errno(r, "Failed to load the BPF meter (programs or pinned maps %s%s): %m",
                                strna(m->pin_path), m->pin_path ? "/{cpu_ns,net,net_grant}" : "");
                goto out;
        }
        m->cpu_fd = bpf_map__fd(m->skel->maps.cpu_ns);
        m->net_fd = bpf_map__fd(m->skel->maps.net);
        m->grant_fd = bpf_map__fd(m->skel->maps.net_grant);

        r = meter_attach_cpu(m, o->root_cgroup_fd, level);
        if (r < 0)
                goto out;
        if (o->attach_net) {
                r = meter_attach_net(m, o->root_cgroup_fd, (uint64_t) st.st_ino);
                if (r < 0)
                        goto out;
        }

        r = meter_alloc_scratch(m);
        if (r < 0)
                goto out;

        *ret = TAKE_PTR(m);
        r = 0;
out:
        if (m) {
                meter_undo_pins(m);
                meter_free(m);
        }
        return r;
}

void meter_close(struct meter *m, bool unpin) {
        if (!m)
                return;

        if (unpin && m->pin_path) {
                for (size_t i = 0; i < _PIN_MAX; i++)
                        if (unlink(m->pin[i]) < 0 && errno != ENOENT)
                                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", m->pin[i]);
                if (rmdir(m->pin_path) < 0 && errno != ENOENT)
                        log_warning_errno(errno, "Failed to remove BPF pin directory %s, ignoring: %m", m->pin_path);
        }
        /* Unpinned links detach as their last fd closes here; pinned ones
         * go on counting for the next daemon. */
        meter_free(m);
}

static int meter_update_both(struct meter *m, uint64_t id, uint64_t flags) {
        const struct meter_net zero_net = {};
        const uint64_t zero = 0;
        bool cpu_added;
        int r;

        r = bpf_map_update_elem(m->cpu_fd, &id, &zero, flags);
        if (r < 0 && r != -EEXIST)
                goto fail;
        cpu_added = r == 0;

        r = bpf_map_update_elem(m->net_fd, &id, &zero_net, flags);
        if (r < 0 && r != -EEXIST) {
                if (cpu_added)
                        (void) bpf_map_delete_elem(m->cpu_fd, &id);
                goto fail;
        }
        return 0;

fail:
        if (r == -E2BIG)
                return log_error_errno(r, "Failed to watch cgroup %" PRIu64 ": the meter's maps are full (%u cgroups)",
                                       id, (unsigned) METER_MAX_CGROUPS);
        return log_error_errno(r, "Failed to watch cgroup %" PRIu64 " (BPF map update): %m", id);
}

int meter_watch(struct meter *m, uint64_t cgroup_id) {
        int r;

        if (!m || cgroup_id == 0)
                return -EINVAL;

        r = meter_update_both(m, cgroup_id, BPF_NOEXIST);
        if (r < 0)
                return r;
        /* sched_switch mode: the iterator gives the cgroup its storage, so
         * counting starts now rather than at the next sample. */
        if (m->cpu_mode == METER_CPU_SCHED_SWITCH)
                return meter_run_iter(m);
        return 0;
}

/* Not watched is not an error: unwatching is idempotent. */
int meter_unwatch(struct meter *m, uint64_t cgroup_id) {
        int r, ret = 0;

        if (!m)
                return -EINVAL;

        r = bpf_map_delete_elem(m->cpu_fd, &cgroup_id);
        if (r < 0 && r != -ENOENT)
                ret = log_error_errno(r, "Failed to unwatch cgroup %" PRIu64 " (cpu_ns map): %m", cgroup_id);
        r = bpf_map_delete_elem(m->net_fd, &cgroup_id);
        if (r < 0 && r != -ENOENT && ret == 0)
                ret = log_error_errno(r, "Failed to unwatch cgroup %" PRIu64 " (net map): %m", cgroup_id);
        /* A grant left behind would hold a map entry for good. */
        r = bpf_map_delete_elem(m->grant_fd, &cgroup_id);
        if (r < 0 && r != -ENOENT && ret == 0)
                ret = log_error_errno(r, "Failed to unwatch cgroup %" PRIu64 " (net_grant map): %m", cgroup_id);
        if (ret == 0 && m->cpu_mode == METER_CPU_SCHED_SWITCH)
                ret = meter_run_iter(m); /* drops the cgroup's storage */
        return ret;
}

/* One syscall, called for every funded slice at every meter pass. It
 * cannot run out of room while only watched cgroups have grants
 * (net_grant has as many entries as net). The kernel swaps in a new
 * element rather than writing in place: a packet being counted on another
 * CPU at that instant takes its length off the old one, so not off the
 * new grant (it is still counted in tx_bytes/rx_bytes, and billed). */
int meter_set_net_grant(struct meter *m, uint64_t cgroup_id, int64_t tx_bytes, int64_t rx_bytes) {
        const struct meter_grant g = { .tx_left = tx_bytes, .rx_left = rx_bytes };
        int r;

        if (!m || cgroup_id == 0)
                return -EINVAL;

        /* No limit either way: no entry, so the programs take nothing off. */
        if (tx_bytes == METER_GRANT_UNLIMITED && rx_bytes == METER_GRANT_UNLIMITED) {
                r = bpf_map_delete_elem(m->grant_fd, &cgroup_id);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to lift the network grant of cgroup %" PRIu64 ": %m", cgroup_id);
                return 0;
        }

        r = bpf_map_update_elem(m->grant_fd, &cgroup_id, &g, BPF_ANY);
        if (r < 0)
                return log_error_errno(r, "Failed to set the network grant of cgroup %" PRIu64 " (tx %" PRId64 ", rx %" PRId64 " bytes): %m",
                                       cgroup_id, tx_bytes, rx_bytes);
        return 0;
}

int meter_get_net_grant(struct meter *m, uint64_t cgroup_id, int64_t *ret_tx, int64_t *ret_rx) {
        struct meter_grant g;
        int r;

        if (!m || cgroup_id == 0)
                return -EINVAL;

        r = bpf_map_lookup_elem(m->grant_fd, &cgroup_id, &g);
        if (r == -ENOENT)
                g = (struct meter_grant) { .tx_left = METER_GRANT_UNLIMITED, .rx_left = METER_GRANT_UNLIMITED };
        else if (r < 0)
                return log_error_errno(r, "Failed to read the network grant of cgroup %" PRIu64 ": %m", cgroup_id);

        if (ret_tx)
                *ret_tx = g.tx_left;
        if (ret_rx)
                *ret_rx = g.rx_left;
        return 0;
}

static int map_read_slow(struct meter *m, int fd, size_t value_size, uint64_t *keys, void *values, uint32_t *ret_n) {
        uint64_t key = 0, next;
        bool first = true;
        uint32_t n = 0;
        int r;

        while (n < m->capacity) {
                r = bpf_map_get_next_key(fd, first ? NULL : &key, &next);
                if (r == -ENOENT)
                        break;
                if (r < 0)
                        return r;
                first = false;
                key = next;
                r = bpf_map_lookup_elem(fd, &next, (char *) values + (size_t) n * value_size);
                if (r == -ENOENT) /* unwatched meanwhile */
                        continue;
                if (r < 0)
                        return r;
                keys[n++] = next;
        }
        *ret_n = n;
        return 0;
}

/* Reads a whole map into keys/values (capacity entries). */
static int map_read(struct meter *m, int fd, size_t value_size, uint64_t *keys, void *values, uint32_t *ret_n) {
        /* A hash map's batch token is a bucket index (u32); 8 bytes is room
         * enough for any map type's. */
        uint64_t in = 0, out = 0;
        uint32_t n = 0;
        int r;

        if (m->no_batch)
                return map_read_slow(m, fd, value_size, keys, values, ret_n);

        for (;;) {
                uint32_t count = m->capacity - n;

                if (count == 0)
                        break;
                r = bpf_map_lookup_batch(fd, n == 0 ? NULL : &in, &out, keys + n,
                                         (char *) values + (size_t) n * value_size, &count, NULL);
                if (r < 0 && r != -ENOENT) {
                        if (n == 0 && (r == -EINVAL || r == -ENOTSUPP || r == -EOPNOTSUPP)) {
                                /* Before 5.6: no batch operations. */
                                log_debug("BPF map batch lookup unsupported, using per-element lookups.");
                                m->no_batch = true;
                                return map_read_slow(m, fd, value_size, keys, values, ret_n);
                        }
                        return r;
                }
                n += count;
                if (r == -ENOENT || count == 0) /* the end of the map */
                        break;
                in = out;
        }
        *ret_n = n;
        return 0;
}

static int cmp_by_key(const void *a, const void *b, void *keys) {
        uint64_t ka = ((const uint64_t *) keys)[*(const uint32_t *) a];
        uint64_t kb = ((const uint64_t *) keys)[*(const uint32_t *) b];

        return ka < kb ? -1 : ka > kb;
}

static void sort_by_key(uint32_t *order, const uint64_t *keys, uint32_t n) {
        for (uint32_t i = 0; i < n; i++)
                order[i] = i;
        qsort_r(order, n, sizeof(*order), cmp_by_key, (void *) keys);
}

static void counters_of_net(const struct meter_net *v, struct meter_counters *c) {
        c->rx_bytes = v->rx_bytes;
        c->rx_packets = v->rx_packets;
        c->tx_bytes = v->tx_bytes;
        c->tx_packets = v->tx_packets;
        c->rx_dropped = v->rx_dropped;
        c->tx_dropped = v->tx_dropped;
}

int meter_sample(struct meter *m,
                 void (*cb)(uint64_t cgroup_id, const struct meter_counters *c, void *userdata),
                 void *userdata) {
        uint32_t ncpu = 0, nnet = 0, i = 0, j = 0;
        int r;

        if (!m || !cb)
                return -EINVAL;

        r = meter_run_iter(m);
        if (r < 0)
                return r;

        r = map_read(m, m->cpu_fd, sizeof(*m->cpu_vals), m->cpu_keys, m->cpu_vals, &ncpu);
        if (r < 0)
                return log_error_errno(r, "Failed to read BPF map cpu_ns: %m");
        r = map_read(m, m->net_fd, sizeof(*m->net_vals), m->net_keys, m->net_vals, &nnet);
        if (r < 0)
                return log_error_errno(r, "Failed to read BPF map net: %m");

        /* The two hash maps hold the same keys in different orders: merge
         * them sorted. A key in only one (a watch or unwatch racing this
         * read) reports zeros for the other. */
        sort_by_key(m->cpu_order, m->cpu_keys, ncpu);
        sort_by_key(m->net_order, m->net_keys, nnet);

        while (i < ncpu || j < nnet) {
                struct meter_counters c = {};
                uint64_t kc = i < ncpu ? m->cpu_keys[m->cpu_order[i]] : UINT64_MAX;
                uint64_t kn = j < nnet ? m->net_keys[m->net_order[j]] : UINT64_MAX;
                uint64_t id = kc < kn ? kc : kn;

                if (i < ncpu && kc == id)
                        c.cpu_ns = m->cpu_vals[m->cpu_order[i++]];
                if (j < nnet && kn == id)
                        counters_of_net(&m->net_vals[m->net_order[j++]], &c);
                cb(id, &c, userdata);
        }
        return 0;
}

/* Without the read program: one walk for all, then a lookup of each. */
static int meter_read_walk(struct meter *m, const uint64_t *ids, size_t n, struct meter_counters *ret,
                           bool *ret_gone) {
        int r;

        r = meter_run_iter(m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct meter_net v = {};
                uint64_t cpu = 0;

                ret[i] = (struct meter_counters) {};
                r = bpf_map_lookup_elem(m->cpu_fd, &ids[i], &cpu);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to read BPF map cpu_ns: %m");
                ret[i].cpu_ns = cpu;
                r = bpf_map_lookup_elem(m->net_fd, &ids[i], &v);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to read BPF map net: %m");
                counters_of_net(&v, &ret[i]);
                /* The walk cannot tell a removed cgroup from an idle one. */
                if (ret_gone)
                        ret_gone[i] = false;
        }
        return 0;
}

int meter_read(struct meter *m, const uint64_t *ids, size_t n, struct meter_counters *ret, bool *ret_gone) {
        int r;

        if (!m || (n > 0 && (!ids || !ret)))
                return -EINVAL;
        if (n == 0)
                return 0;
        if (!m->read_link)
                return meter_read_walk(m, ids, n, ret, ret_gone);

        for (size_t off = 0; off < n; off += METER_READ_BATCH) {
                size_t k = MIN(n - off, (size_t) METER_READ_BATCH);

                memcpy(m->skel->bss->read_ids, ids + off, k * sizeof(*ids));
                m->skel->bss->read_n = (uint32_t) k;
                r = meter_run_link(m->read_link);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < k; i++) {
                        const struct meter_read_out *o = &m->skel->bss->read_out[i];

                        ret[off + i] = (struct meter_counters) { .cpu_ns = o->cpu_ns };
                        if (o->flags & METER_READ_NET)
                                counters_of_net(&o->net, &ret[off + i]);
                        if (ret_gone)
                                ret_gone[off + i] = o->flags & METER_READ_GONE;
                }
        }
        return 0;
}

bool meter_reads_by_id(const struct meter *m) {
        return m && m->read_link;
}
