/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/sshkey.h"
#include "common/util.h"
#include "config.h"
#include "qmp.h"
#include "vm-seed.h"
#include "vm.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* A helper (qemu-img, ssh-keygen, genisoimage) that takes longer than
 * this is hung: they take 5-100 ms here. */
#define TOOL_TIMEOUT_MSEC 30000
/* How often the forwarded port is tried while the guest boots, and how
 * long one try may wait for the banner. */
#define PROBE_INTERVAL_USEC (1 * USEC_PER_SEC)
#define PROBE_PATIENCE_USEC (3 * USEC_PER_SEC)
/* A QMP command is answered in microseconds by a QEMU that runs. */
#define QMP_TIMEOUT_USEC (2 * USEC_PER_SEC)

struct vms {
        const struct config *config;
        sd_event *event;
        const struct vm_callbacks *cb;
        void *userdata;
        char accel[8];
        uint16_t port_first, port_last;
        uint8_t *ports;         /* one per port of the range: in use by a guest */
        struct vm *list;
};

struct vm {
        struct vms *vms;
        struct vm *next;
        char id[SLICE_ID_MAX];
        char *dir;              /* Directory=/<id> */
        char image[VM_IMAGE_NAME_MAX + 1];
        char user[33];
        char kernel[PATH_MAX], initrd[PATH_MAX], cmdline[512];
        char base[PATH_MAX], format[8];
        char accel[8];
        char host_key[128];
        uint64_t vcpus, guest_memory, disk_size;
        uint16_t port;
        enum vm_state state;
        pid_t pid;
        uint64_t start_time;    /* /proc/PID/stat field 22: the pid is this QEMU */
        bool answered;          /* from the record: sshd had answered */
        int pidfd;
        sd_event_source *exit_source;
        sd_event_source *probe_timer;
        sd_event_source *probe_source;
        int probe_fd;
        uint64_t probe_started;
        sd_event_source *kill_timer;
        void (*stop_done)(void *userdata);
        void *stop_userdata;
        char *meta;             /* what the guest is to be told (vm_set_meta()) */
        bool meta_pending;      /* not sent to this QEMU yet */
        int meta_fd;            /* to QEMU's metadata port, while it runs */
};

/* Closes fd if open; returns -1, for "fd = safe_close(fd)". */
static int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -1;
}

static const char *const state_names[] = {
        [VM_STOPPED] = "stopped",
        [VM_BOOTING] = "booting",
        [VM_RUNNING] = "running",
        [VM_STOPPING] = "stopping",
};

const char *vm_state_to_string(enum vm_state s) {
        return (size_t) s < ARRAY_SIZE(state_names) ? state_names[s] : NULL;
}

void vm_argv_free(char **argv) {
        if (!argv)
                return;
        for (char **a = argv; *a; a++)
                free(*a);
        free(argv);
}

void vm_plan_done(struct vm_plan *p) {
        free(p->ssh_key);
        p->ssh_key = NULL;
}

static int set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return 0;
}

/* ---- the host ---- */

/* KVM only where it runs a stock kernel: the CPU has vmx or svm and
 * /dev/kvm is there. The development machines' /dev/kvm is a paravirtual
 * module without either flag that opens, then crawls or fails in the
 * guest's decompressor (../shared/notes/vmtest.md). Asked of the CPU
 * itself: the packaged unit hides /proc/cpuinfo (ProcSubset=pid), and
 * binds /dev/kvm in only to be seen (QEMU opens it, in a unit of its own). */
static bool kvm_usable(void) {
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        bool vmx = false, svm = false;

        if (__get_cpuid(1, &a, &b, &c, &d))
                vmx = c & (1u << 5);
        if (__get_cpuid(0x80000001, &a, &b, &c, &d))
                svm = c & (1u << 2);
        return (vmx || svm) && access("/dev/kvm", F_OK) == 0;
#else
        return access("/dev/kvm", F_OK) == 0;
#endif
}

static void choose_accel(struct vms *v) {
        const char *a = v->config->accelerator;

        if (streq(a, "auto"))
                a = kvm_usable() ? "kvm" : "tcg";
        snprintf(v->accel, sizeof(v->accel), "%s", a);
        log_info("VM slices: accelerator %s (Accelerator=%s)", v->accel, v->config->accelerator);
}

int vms_new(const struct config *config, sd_event *event, struct vms **ret) {
        _cleanup_(freep) struct vms *v = NULL;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return log_oom();
        v->config = config;
        v->event = event;
        r = config_parse_port_range(config->vm_port_range, &v->port_first, &v->port_last);
        if (r < 0)
                return log_error_errno(r, "Bad PortRange=%s", config->vm_port_range);
        v->ports = calloc((size_t) (v->port_last - v->port_first) + 1, 1);
        if (!v->ports)
                return log_oom();
        choose_accel(v);
        *ret = TAKE_PTR(v);
        return 0;
}

void vms_free(struct vms *v) {
        if (!v)
                return;
        while (v->list)
                vm_free(v->list);
        free(v->ports);
        free(v);
}

void vms_set_callbacks(struct vms *v, const struct vm_callbacks *cb, void *userdata) {
        v->cb = cb;
        v->userdata = userdata;
}

const char *vms_accelerator(struct vms *v) {
        return v->accel;
}

/* User= (and kvm, where that group exists, for /dev/kvm). Looked up at
 * each use: the user may be made after the daemon started. */
int vms_user(struct vms *v, uid_t *ret_uid, gid_t *ret_gid, gid_t *ret_groups, size_t *ret_n_groups) {
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;
        char buf[4096];
        size_t n = 0;

        if (getpwnam_r(v->config->vm_user, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
                return -ENOENT;
        if (pw.pw_uid == 0)
                return -EPERM;
        *ret_uid = pw.pw_uid;
        *ret_gid = pw.pw_gid;
        if (ret_groups && getgrnam_r("kvm", &gr, buf, sizeof(buf), &grp) == 0 && grp)
                ret_groups[n++] = grp->gr_gid;
        if (ret_n_groups)
                *ret_n_groups = n;
        return 0;
}

int vms_list_images(struct vms *v, json_object **ret, char **ret_error) {
        _cleanup_(freep) struct vm_image *images = NULL;
        json_object *a;
        size_t n = 0;
        int r;

        r = vm_images_list(v->config->images_directory, &images, &n, ret_error);
        if (r < 0)
                return r;
        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        json_object_put(a);
                        return -ENOMEM;
                }
                json_object_object_add(o, "name", json_object_new_string(images[i].name));
                json_object_object_add(o, "description", json_object_new_string(images[i].description));
                json_object_object_add(o, "user", json_object_new_string(images[i].user));
                json_object_object_add(o, "format", json_object_new_string(images[i].format));
                json_object_object_add(o, "boot", json_object_new_string(images[i].kernel[0] ? "kernel" : "firmware"));
                json_object_object_add(o, "min_disk", json_object_new_int64((int64_t) images[i].min_disk));
                json_object_object_add(o, "min_memory", json_object_new_int64((int64_t) images[i].min_memory));
        }
        *ret = a;
        return 0;
}

/* ---- checking a request ---- */

#define MIB (UINT64_C(1) << 20)

uint64_t vms_memory_max(struct vms *v, const struct vm_plan *p) {
        return p->guest_memory + v->config->vm_memory_overhead;
}

int vms_plan(struct vms *v, const struct vm_request *req, struct vm_plan *ret, char **ret_error) {
        const struct config *c = v->config;
        struct vm_plan p = {};
        char error[256] = "", a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX], d[FORMAT_SIZE_MAX];
        uint64_t memory;
        uid_t uid;
        gid_t gid;
        int r;

        *ret_error = NULL;
        if (vms_user(v, &uid, &gid, NULL, NULL) < 0) {
                set_error(ret_error, "This host cannot run VM slices: their user \"%s\" ([VM] User=) does not "
                          "exist or is root", c->vm_user);
                return log_error_errno(ENOENT, "Refusing a VM slice: [VM] User=%s does not exist or is root (make it "
                                       "with systemd-sysusers, or set User=)", c->vm_user);
        }
        if (access(c->qemu, X_OK) < 0) {
                set_error(ret_error, "This host cannot run VM slices: %s is missing", c->qemu);
                return log_error_errno(errno, "Refusing a VM slice: QEMU=%s: %m", c->qemu);
        }
        r = vm_image_find(c->images_directory, req->image, &p.image, ret_error);
        if (r < 0)
                return r;
        r = ssh_public_key_parse(req->ssh_key, strlen(req->ssh_key), &p.ssh_key, error, sizeof(error));
        if (r < 0) {
                set_error(ret_error, "The SSH key is refused: %s", error);
                return r;
        }

        p.disk_size = req->disk_size ?: p.image.min_disk;
        p.disk_size = (p.disk_size + MIB - 1) / MIB * MIB;
        if (p.disk_size < p.image.min_disk) {
                set_error(ret_error, "A disk of %s is too small for image %s: it needs at least %s",
                          format_size(a, sizeof(a), p.disk_size), p.image.name,
                          format_size(b, sizeof(b), p.image.min_disk));
                r = -EINVAL;
                goto fail;
        }
        if (p.disk_size > c->max_disk_size) {
                set_error(ret_error, "A disk of %s is more than this host allows (MaxDiskSize=%s)",
                          format_size(a, sizeof(a), p.disk_size), format_size(b, sizeof(b), c->max_disk_size));
                r = -EINVAL;
                goto fail;
        }

        memory = req->memory_max ?: c->vm_default_memory;
        p.guest_memory = memory > c->vm_memory_overhead ? (memory - c->vm_memory_overhead) / MIB * MIB : 0;
        if (p.guest_memory < p.image.min_memory) {
                set_error(ret_error, "A memory limit of %s leaves the guest %s after QEMU's own %s "
                          "(MemoryOverhead=); image %s needs at least %s: ask for --memory %s or more",
                          format_size(a, sizeof(a), memory), format_size(b, sizeof(b), p.guest_memory),
                          format_size(d, sizeof(d), c->vm_memory_overhead), p.image.name,
                          format_size((char[FORMAT_SIZE_MAX]) {}, FORMAT_SIZE_MAX, p.image.min_memory),
                          format_size((char[FORMAT_SIZE_MAX]) {}, FORMAT_SIZE_MAX,
                                      p.image.min_memory + c->vm_memory_overhead));
                r = -EINVAL;
                goto fail;
        }
        p.vcpus = req->cpus_milli ? (req->cpus_milli + 999) / 1000 : 1;
        *ret = p;
        return 0;
fail:
        vm_plan_done(&p);
        return r;
}

/* ---- ports ---- */

/* Free now: nothing of ours has it, and it binds (another program may
 * hold one of the range; a race with it is caught when QEMU cannot
 * listen, and the guest then shows as stopped). */
static bool port_bindable(struct vms *v, uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        _cleanup_(closep) int fd = -1;

        (void) inet_pton(AF_INET, v->config->vm_listen_address, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int));
        return bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
}

static int port_reserve(struct vms *v, uint16_t *ret) {
        size_t n = (size_t) (v->port_last - v->port_first) + 1;
        uint32_t start = 0;

        /* From a random place: a port just freed is not handed out at once. */
        if (getrandom(&start, sizeof(start), GRND_NONBLOCK) < 0)
                start = 0;
        for (size_t i = 0; i < n; i++) {
                size_t k = (start + i) % n;
                uint16_t port = (uint16_t) (v->port_first + k);

                if (v->ports[k] || !port_bindable(v, port))
                        continue;
                v->ports[k] = 1;
                *ret = port;
                return 0;
        }
        return -EADDRINUSE;
}

static bool port_take(struct vms *v, uint16_t port) {
        if (port < v->port_first || port > v->port_last || v->ports[port - v->port_first])
                return false;
        v->ports[port - v->port_first] = 1;
        return true;
}

static void port_free(struct vms *v, uint16_t port) {
        if (port >= v->port_first && port <= v->port_last)
                v->ports[port - v->port_first] = 0;
}

/* ---- files ---- */

/* Runs a helper program to its end, its output kept for the message
 * (first line). Returns 0, or -EIO with *ret_output. */
static int run_tool(char *const argv[], char *output, size_t output_size) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        _cleanup_(closep) int out_r = -1, out_w = -1, pidfd = -1;
        int pipefd[2], status, r;
        sigset_t none, all;
        size_t len = 0;
        pid_t pid;

        if (output_size)
                output[0] = 0;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        out_r = pipefd[0];
        out_w = pipefd[1];

        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                posix_spawnattr_destroy(&attr);
                return -r;
        }
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        r = r ?: posix_spawnattr_setsigmask(&attr, &none);
        r = r ?: posix_spawnattr_setsigdefault(&attr, &all);
        r = r ?: posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        r = r ?: posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
        r = r ?: posix_spawn_file_actions_adddup2(&fa, out_w, STDERR_FILENO);
        r = r ?: posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        r = r ?: posix_spawn(&pid, argv[0], &fa, &attr, argv, (char *[]) { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL });
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;
        out_w = safe_close(out_w);

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        for (;;) {
                struct pollfd p[2] = { { .fd = out_r, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
                char buf[512];
                ssize_t n;

                r = poll(p, out_r >= 0 ? 2 : 1, TOOL_TIMEOUT_MSEC);
                if (r == 0) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        snprintf(output, output_size, "%s timed out", argv[0]);
                        return -ETIMEDOUT;
                }
                if (r < 0 && errno != EINTR)
                        break;
                if (out_r < 0 || !(p[0].revents & (POLLIN | POLLHUP)))
                        break;
                n = read(out_r, buf, sizeof(buf));
                if (n <= 0)
                        break;
                if (len + 1 < output_size) {
                        size_t k = MIN((size_t) n, output_size - 1 - len);

                        memcpy(output + len, buf, k);
                        len += k;
                        output[len] = 0;
                }
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        output[strcspn(output, "\n")] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        return 0;
}

/* A new file (nothing there is followed or reused) with data. */
static int write_new_file(const char *path, const char *data, mode_t mode) {
        _cleanup_(closep) int fd = -1;
        size_t len = strlen(data);

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

/* A file made in the guest's directory has the group of User= (the
 * directory is setgid), so QEMU reaches it without a chown: the packaged
 * unit has no CAP_CHOWN and filters chown(2). Checked, with its mode set. */
static int set_mode(const char *path, gid_t gid, mode_t mode) {
        struct stat st;

        if (chmod(path, mode) < 0 || lstat(path, &st) < 0)
                return -errno;
        if (st.st_gid != gid)
                return -EPERM;
        return 0;
}
static char *vm_path(struct vm *vm, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", vm->dir, name) < 0)
                return NULL;
        return p;
}

/* Everything in the guest's directory, whatever QEMU left there, then
 * the directory: nothing followed (a link QEMU made is removed, never
 * what it points to). */
static void remove_tree_at(int dfd) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = dup(dfd);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (de->d_type == DT_DIR) {
                        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (sub >= 0) {
                                remove_tree_at(sub);
                                close(sub);
                        }
                        (void) unlinkat(dfd, de->d_name, AT_REMOVEDIR);
                } else
                        (void) unlinkat(dfd, de->d_name, 0);
        }
}

static void remove_dir(const char *path) {
        _cleanup_(closep) int fd = -1;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                remove_tree_at(fd);
        if (rmdir(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);
}

/* The guest's SSH host key, made here so that the buyer is told it with
 * the purchase and can check it from the first login (cloud-init prints
 * the keys it makes on the console 10-26 s after sshd answers). The
 * private half goes only into the seed. */
static int make_host_key(struct vm *vm, char **ret_private, char *error, size_t error_size) {
        _cleanup_(freep) char *key = vm_path(vm, "host-key"), *pub = NULL, *priv = NULL, *pubtext = NULL;
        int r;

        if (!key || asprintf(&pub, "%s.pub", key) < 0)
                return -ENOMEM;
        r = run_tool((char *[]) { (char *) "/usr/bin/ssh-keygen", (char *) "-q", (char *) "-t", (char *) "ed25519",
                                  (char *) "-N", (char *) "", (char *) "-C", vm->id, (char *) "-f", key, NULL },
                     error, error_size);
        if (r >= 0)
                r = read_full_file(key, &priv, NULL);
        if (r >= 0)
                r = read_full_file(pub, &pubtext, NULL);
        (void) unlink(key);
        (void) unlink(pub);
        if (r < 0)
                return r;
        /* "ssh-ed25519 AAAA... comment": the comment is ours, dropped. */
        pubtext[strcspn(pubtext, "\n")] = 0;
        {
                char *sp = strchr(pubtext, ' ');

                if (!sp || !(sp = strchr(sp + 1, ' ')) || (size_t) (sp - pubtext) >= sizeof(vm->host_key))
                        return -EBADMSG;
                *sp = 0;
        }
        snprintf(vm->host_key, sizeof(vm->host_key), "%s", pubtext);
        *ret_private = TAKE_PTR(priv);
        return 0;
}

static int make_seed(struct vm *vm, const char *ssh_key, const char *host_private, gid_t gid, char *error,
                     size_t error_size) {
        _cleanup_(freep) char *seed_dir = vm_path(vm, "seed"), *user_data = NULL, *meta_data = NULL, *ud = NULL,
                              *md = NULL, *iso = vm_path(vm, "seed.iso");
        struct vm_seed s = {
                .instance_id = vm->id,
                .hostname = vm->id,
                .user = vm->user,
                .ssh_key = ssh_key,
                .host_key_private = host_private,
                .host_key_public = vm->host_key,
        };
        int r;

        if (!seed_dir || !iso || asprintf(&ud, "%s/user-data", seed_dir) < 0 ||
            asprintf(&md, "%s/meta-data", seed_dir) < 0)
                return -ENOMEM;
        r = vm_seed_user_data(&s, &user_data);
        if (r >= 0)
                r = vm_seed_meta_data(&s, &meta_data);
        if (r < 0) {
                snprintf(error, error_size, "the seed could not be written (%s)", strerror(-r));
                return r;
        }
        if (mkdir(seed_dir, 0700) < 0)
                return -errno;
        r = write_new_file(ud, user_data, 0600);
        if (r >= 0)
                r = write_new_file(md, meta_data, 0600);
        if (r >= 0)
                r = run_tool((char *[]) { (char *) "/usr/bin/genisoimage", (char *) "-quiet", (char *) "-output", iso,
                                          (char *) "-volid", (char *) "cidata", (char *) "-joliet", (char *) "-rock",
                                          ud, md, NULL },
                             error, error_size);
        remove_dir(seed_dir);
        if (r >= 0)
                r = set_mode(iso, gid, 0640);
        return r;
}

static int make_overlay(struct vm *vm, gid_t gid, char *error, size_t error_size) {
        _cleanup_(freep) char *disk = vm_path(vm, "disk.qcow2");
        char size[32];
        int r;

        if (!disk)
                return -ENOMEM;
        snprintf(size, sizeof(size), "%" PRIu64, vm->disk_size);
        r = run_tool((char *[]) { (char *) "/usr/bin/qemu-img", (char *) "create", (char *) "-q", (char *) "-f",
                                  (char *) "qcow2", (char *) "-F", vm->format, (char *) "-b", vm->base, disk, size,
                                  NULL },
                     error, error_size);
        if (r >= 0)
                r = set_mode(disk, gid, 0660);
        return r;
}

static struct vm *vm_alloc(struct vms *v, const char *id) {
        struct vm *vm = calloc(1, sizeof(*vm));

        if (!vm)
                return NULL;
        vm->vms = v;
        vm->pidfd = -1;
        vm->probe_fd = -1;
        vm->meta_fd = -1;
        snprintf(vm->id, sizeof(vm->id), "%s", id);
        if (asprintf(&vm->dir, "%s/%s", v->config->vm_directory, id) < 0) {
                free(vm);
                return NULL;
        }
        vm->next = v->list;
        v->list = vm;
        return vm;
}

static int join_dir(const char *dir, const char *file, char *ret, size_t size) {
        if (!*file) {
                ret[0] = 0;
                return 0;
        }
        if ((size_t) snprintf(ret, size, "%s/%s", dir, file) >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* Directory= is root's, setgid to the group of User=, 2751: made so when
 * it is missing (tests, a host without the package's tmpfiles line),
 * else its group and mode are checked (set where they can be). */
static int directory_ready(const char *path, gid_t gid, char **ret_error) {
        struct stat st;

        if (mkdir(path, 0751) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to make [VM] Directory=%s: %m", path);
        if (lstat(path, &st) < 0)
                return log_error_errno(errno, "Failed to look at [VM] Directory=%s: %m", path);
        if (!S_ISDIR(st.st_mode) || st.st_uid != 0) {
                set_error(ret_error, "This host cannot make VM slices now ([VM] Directory= is not root's directory)");
                return log_error_errno(EPERM, "Refusing [VM] Directory=%s: not a directory of root's", path);
        }
        if (st.st_gid != gid && chown(path, 0, gid) < 0) {
                set_error(ret_error, "This host cannot make VM slices now ([VM] Directory= has the wrong group)");
                return log_error_errno(errno, "[VM] Directory=%s must be of the group of User= (gid %u): %m; "
                                       "chgrp it, or run systemd-tmpfiles --create", path, (unsigned) gid);
        }
        if ((st.st_mode & 07777) != 02751 && chmod(path, 02751) < 0)
                return log_error_errno(errno, "Failed to set the mode of [VM] Directory=%s: %m", path);
        return 0;
}

int vm_new(struct vms *v, const char *id, const struct vm_plan *plan, struct vm **ret, char **ret_error) {
        const struct config *c = v->config;
        _cleanup_(freep) char *host_private = NULL, *console = NULL;
        char error[256] = "";
        struct vm *vm;
        gid_t groups[1];
        size_t n_groups;
        uid_t uid;
        gid_t gid;
        int r;

        *ret_error = NULL;
        r = vms_user(v, &uid, &gid, groups, &n_groups);
        if (r < 0)
                return log_error_errno(r, "Failed to look up [VM] User=%s: %m", c->vm_user);
        r = directory_ready(c->vm_directory, gid, ret_error);
        if (r < 0)
                return r;

        vm = vm_alloc(v, id);
        if (!vm)
                return log_oom();
        /* A new guest is told at once that nothing is known yet (an
         * image may come with a reader's old file). */
        vm->meta = strdup("");
        if (!vm->meta) {
                vm_free(vm);
                return log_oom();
        }
        vm->meta_pending = true;
        snprintf(vm->image, sizeof(vm->image), "%s", plan->image.name);
        snprintf(vm->user, sizeof(vm->user), "%s", plan->image.user);
        snprintf(vm->format, sizeof(vm->format), "%s", plan->image.format);
        snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", plan->image.cmdline);
        snprintf(vm->accel, sizeof(vm->accel), "%s", v->accel);
        vm->vcpus = plan->vcpus;
        vm->guest_memory = plan->guest_memory;
        vm->disk_size = plan->disk_size;
        r = join_dir(c->images_directory, plan->image.disk, vm->base, sizeof(vm->base));
        if (r >= 0)
                r = join_dir(c->images_directory, plan->image.kernel, vm->kernel, sizeof(vm->kernel));
        if (r >= 0)
                r = join_dir(c->images_directory, plan->image.initrd, vm->initrd, sizeof(vm->initrd));
        if (r < 0) {
                set_error(ret_error, "The image's paths are too long");
                vm_free(vm);
                return r;
        }

        r = port_reserve(v, &vm->port);
        if (r < 0) {
                set_error(ret_error, "No port of PortRange=%s is free for the guest's SSH", c->vm_port_range);
                log_error_errno(r, "Failed to make VM %s: no free port in PortRange=%s", id, c->vm_port_range);
                vm->port = 0;
                vm_free(vm);
                return r;
        }

        /* Setgid (the group of User=, from Directory=) and sticky: QEMU
         * may add its QMP socket, and neither remove nor replace a file
         * of the daemon's. */
        if (mkdir(vm->dir, 0700) < 0) {
                r = log_error_errno(errno, "Failed to make %s: %m", vm->dir);
                set_error(ret_error, "The guest's directory could not be made: %s", strerror(-r));
                vm_free(vm);
                return r;
        }
        console = vm_path(vm, "console.log");
        r = console ? set_mode(vm->dir, gid, 03770) : -ENOMEM;
        if (r >= 0)
                r = write_new_file(console, "", 0600);
        if (r >= 0)
                r = set_mode(console, gid, 0660);
        if (r >= 0)
                r = make_overlay(vm, gid, error, sizeof(error));
        if (r >= 0)
                r = make_host_key(vm, &host_private, error, sizeof(error));
        if (r >= 0)
                r = make_seed(vm, plan->ssh_key, host_private, gid, error, sizeof(error));
        if (host_private)
                explicit_bzero(host_private, strlen(host_private));
        if (r < 0) {
                log_error_errno(r, "Failed to make the files of VM %s in %s: %s%s%m", id, vm->dir, error,
                                *error ? ": " : "");
                set_error(ret_error, "The guest's disk and seed could not be made (%s%s%s): nothing was spent",
                          error, *error ? ": " : "", strerror(-r));
                vm_remove(vm);
                return r;
        }
        log_info("VM %s: image %s, %" PRIu64 " vCPU, %" PRIu64 " MiB, disk %" PRIu64 " MiB, SSH on port %u, %s", id,
                 vm->image, vm->vcpus, vm->guest_memory / MIB, vm->disk_size / MIB, (unsigned) vm->port, vm->accel);
        *ret = vm;
        return 0;
}

/* ---- QEMU ---- */

static int strv_push(char ***v, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int strv_push(char ***v, size_t *n, const char *fmt, ...) {
        char **nv, *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        nv = realloc(*v, (*n + 2) * sizeof(char *));
        if (!nv) {
                free(s);
                return -ENOMEM;
        }
        nv[(*n)++] = s;
        nv[*n] = NULL;
        *v = nv;
        return 0;
}

/* The command line, from notes/vm-slices.md: direct kernel boot when the
 * image has a kernel, else the firmware boots the disk; user-mode
 * networking, so that every byte the guest sends or receives is a socket
 * of QEMU's, in the slice's cgroup, metered and granted like any other
 * (a tap's traffic would pass the host's stack outside it); TCG's
 * translation cache bounded (1 GiB by default, which memory.max would
 * have to hold); QEMU's seccomp sandbox on (it needs no new processes,
 * no setuid, no scheduler changes); no reboot catch, so that a guest's
 * reboot is a reboot and its power-off ends QEMU. */
int vm_argv(struct vm *vm, char ***ret) {
        const struct config *c = vm->vms->config;
        char **v = NULL;
        size_t n = 0;
        int r = 0;

        r = r ?: strv_push(&v, &n, "%s", c->qemu);
        r = r ?: strv_push(&v, &n, "-name");
        r = r ?: strv_push(&v, &n, "prepay-%s,process=prepay-%s", vm->id, vm->id);
        r = r ?: strv_push(&v, &n, "-nodefaults");
        r = r ?: strv_push(&v, &n, "-no-user-config");
        r = r ?: strv_push(&v, &n, "-display");
        r = r ?: strv_push(&v, &n, "none");
        r = r ?: strv_push(&v, &n, "-accel");
        if (streq(vm->accel, "kvm")) {
                r = r ?: strv_push(&v, &n, "kvm");
                r = r ?: strv_push(&v, &n, "-cpu");
                r = r ?: strv_push(&v, &n, "host");
        } else {
                r = r ?: strv_push(&v, &n, "tcg,tb-size=%" PRIu64, c->translation_cache / MIB);
                r = r ?: strv_push(&v, &n, "-cpu");
                r = r ?: strv_push(&v, &n, "max");
        }
        r = r ?: strv_push(&v, &n, "-smp");
        r = r ?: strv_push(&v, &n, "%" PRIu64, vm->vcpus);
        r = r ?: strv_push(&v, &n, "-m");
        r = r ?: strv_push(&v, &n, "%" PRIu64 "M", vm->guest_memory / MIB);
        if (vm->kernel[0]) {
                r = r ?: strv_push(&v, &n, "-kernel");
                r = r ?: strv_push(&v, &n, "%s", vm->kernel);
                if (vm->initrd[0]) {
                        r = r ?: strv_push(&v, &n, "-initrd");
                        r = r ?: strv_push(&v, &n, "%s", vm->initrd);
                }
                r = r ?: strv_push(&v, &n, "-append");
                r = r ?: strv_push(&v, &n, "%s", vm->cmdline[0] ? vm->cmdline : "console=ttyS0 root=/dev/vda rw");
        }
        r = r ?: strv_push(&v, &n, "-drive");
        r = r ?: strv_push(&v, &n, "file=%s/disk.qcow2,if=virtio,format=qcow2,discard=unmap", vm->dir);
        r = r ?: strv_push(&v, &n, "-drive");
        r = r ?: strv_push(&v, &n, "file=%s/seed.iso,if=virtio,format=raw,readonly=on", vm->dir);
        r = r ?: strv_push(&v, &n, "-netdev");
        r = r ?: strv_push(&v, &n, "user,id=n0,hostfwd=tcp:%s:%u-:22", c->vm_listen_address, (unsigned) vm->port);
        r = r ?: strv_push(&v, &n, "-device");
        r = r ?: strv_push(&v, &n, "virtio-net-pci,netdev=n0");
        r = r ?: strv_push(&v, &n, "-device");
        r = r ?: strv_push(&v, &n, "virtio-rng-pci");
        /* The guest's metadata port (vm_set_meta()). */
        r = r ?: strv_push(&v, &n, "-device");
        r = r ?: strv_push(&v, &n, "virtio-serial-pci,id=vser0");
        r = r ?: strv_push(&v, &n, "-chardev");
        r = r ?: strv_push(&v, &n, "socket,id=meta,path=%s/meta.sock,server=on,wait=off", vm->dir);
        r = r ?: strv_push(&v, &n, "-device");
        r = r ?: strv_push(&v, &n, "virtserialport,bus=vser0.0,chardev=meta,name=" VM_META_PORT);
        r = r ?: strv_push(&v, &n, "-serial");
        r = r ?: strv_push(&v, &n, "file:%s/console.log", vm->dir);
        r = r ?: strv_push(&v, &n, "-qmp");
        r = r ?: strv_push(&v, &n, "unix:%s/qmp.sock,server=on,wait=off", vm->dir);
        r = r ?: strv_push(&v, &n, "-sandbox");
        r = r ?: strv_push(&v, &n, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        if (r < 0) {
                vm_argv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* Field 22 of /proc/PID/stat: with the pid, it names one process for
 * the life of the host. */
static int pid_start_time(pid_t pid, uint64_t *ret) {
        _cleanup_(freep) char *stat = NULL;
        char path[64], *p;
        unsigned long long t;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_full_file(path, &stat, NULL) < 0)
                return -ESRCH;
        p = strrchr(stat, ')');
        if (!p)
                return -EBADMSG;
        /* After "(comm)": state is field 3, starttime field 22. */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) !=
            1)
                return -EBADMSG;
        *ret = t;
        return 0;
}

/* ---- what the guest is told: its metadata port ----
 *
 * A sponsor changes while the guest runs, and its seed was written once,
 * at boot: the guest is told through a virtio-serial port
 * (org.prepay.meta) whose host side is a socket of QEMU's (meta.sock).
 * prepayd keeps one connection to it while QEMU runs and only writes: a
 * record is the lines of the slice's public file (sponsor.env), then an
 * empty line; an empty record says there is nothing (no sponsor). The
 * guest's reader (vm-seed.c) keeps the last record it read. prepayd
 * never reads what the guest writes to the port: nothing from a guest is
 * parsed here, and what it writes waits in the socket until QEMU stops
 * taking more. Until the guest opens its side, QEMU does not read the
 * socket either, so records wait there in order. */

#define META_CONNECT_USEC (200 * USEC_PER_MSEC)

static void meta_disconnect(struct vm *vm) {
        vm->meta_fd = safe_close(vm->meta_fd);
        vm->meta_pending = vm->meta != NULL;
}

/* Connects to this QEMU's port if it is not yet, and sends the record
 * when one is pending. A record is sent whole or the connection is
 * closed (the guest's reader then starts a record again), never half. */
static void meta_flush(struct vm *vm) {
        _cleanup_(freep) char *path = NULL, *record = NULL;
        size_t len;
        ssize_t n;
        int r;

        if (vm->pid <= 0 || (vm->state != VM_BOOTING && vm->state != VM_RUNNING))
                return;
        if (vm->meta_fd < 0) {
                path = vm_path(vm, "meta.sock");
                if (!path) {
                        log_oom();
                        return;
                }
                r = qemu_socket_connect(path, vm->pid, META_CONNECT_USEC, &vm->meta_fd);
                if (r < 0) {
                        log_debug_errno(r, "VM %s: its metadata port is not open yet (%m): told when it runs.",
                                        vm->id);
                        return;
                }
        }
        if (!vm->meta_pending)
                return;
        if (asprintf(&record, "%s\n", vm->meta) < 0) {
                log_oom();
                return;
        }
        len = strlen(record);
        n = send(vm->meta_fd, record, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t) len) {
                vm->meta_pending = false;
                return;
        }
        if (n < 0 && errno == EAGAIN) {
                /* Full: the guest has not read what was sent before. */
                log_debug("VM %s: the guest does not read its metadata port; told again at the next change.",
                          vm->id);
                return;
        }
        log_warning_errno(n < 0 ? errno : EIO, "VM %s: failed to tell the guest its metadata, told again at the "
                          "next change or start: %m", vm->id);
        meta_disconnect(vm);
}

int vm_set_meta(struct vm *vm, const char *text) {
        size_t len;
        char *copy;

        if (!vm || !text)
                return -EINVAL;
        /* An empty line ends a record. */
        len = strlen(text);
        if (len >= VM_META_MAX || text[0] == '\n' || strstr(text, "\n\n") || (len > 0 && text[len - 1] != '\n'))
                return -EINVAL;
        if (vm->meta && streq(vm->meta, text) && !vm->meta_pending)
                return 0;
        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        free(vm->meta);
        vm->meta = copy;
        vm->meta_pending = true;
        meta_flush(vm);
        return 0;
}

static void set_state(struct vm *vm, enum vm_state s) {
        enum vm_state old = vm->state;

        if (old == s)
                return;
        vm->state = s;
        log_info("VM %s: %s", vm->id, vm_state_to_string(s));
        if (s == VM_RUNNING)
                meta_flush(vm);
        else if (s == VM_STOPPED)
                meta_disconnect(vm);
        if (vm->vms->cb && vm->vms->cb->state_changed)
                vm->vms->cb->state_changed(vm, vm->id, old, vm->vms->userdata);
}

static void probe_close(struct vm *vm) {
        vm->probe_source = sd_event_source_disable_unref(vm->probe_source);
        vm->probe_fd = safe_close(vm->probe_fd);
}

static void watch_stop(struct vm *vm) {
        probe_close(vm);
        vm->probe_timer = sd_event_source_disable_unref(vm->probe_timer);
        vm->exit_source = sd_event_source_disable_unref(vm->exit_source);
        vm->kill_timer = sd_event_source_disable_unref(vm->kill_timer);
        vm->pidfd = safe_close(vm->pidfd);
}

static void stop_waiter_run(struct vm *vm) {
        void (*done)(void *userdata) = vm->stop_done;

        vm->stop_done = NULL;
        if (done)
                done(vm->stop_userdata);
}

/* QEMU is gone: powered off, killed by the ladder or at release, or it
 * failed to start (its reason is in the console log's neighbour, the
 * journal, where its stderr goes). */
static int on_qemu_exit(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct vm *vm = userdata;
        siginfo_t si = {};

        /* Ours to reap when this daemon started it; a daemon that took
         * it over after a restart is not its parent (ECHILD). */
        (void) waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG);
        if (si.si_pid > 0)
                log_info("VM %s: QEMU (pid %d) %s %d", vm->id, (int) vm->pid,
                         si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si.si_status);
        else
                log_info("VM %s: QEMU (pid %d) is gone", vm->id, (int) vm->pid);
        watch_stop(vm);
        vm->pid = 0;
        vm->start_time = 0;
        set_state(vm, VM_STOPPED);
        stop_waiter_run(vm);
        return 0;
}

static int on_probe_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct vm *vm = userdata;
        char banner[8];
        ssize_t n;

        n = recv(fd, banner, sizeof(banner), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        probe_close(vm);
        /* An sshd speaks first (RFC 4253 4.2). QEMU's forwarder accepts
         * even while the guest is paused or has no sshd yet: only the
         * banner shows the guest answering. */
        if (n >= 4 && memcmp(banner, "SSH-", 4) == 0 && vm->state == VM_BOOTING) {
                vm->probe_timer = sd_event_source_disable_unref(vm->probe_timer);
                set_state(vm, VM_RUNNING);
        }
        return 0;
}

static void probe_start(struct vm *vm) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(vm->port) };
        const char *addr = vm->vms->config->vm_listen_address;
        int fd, r;

        (void) inet_pton(AF_INET, streq(addr, "0.0.0.0") ? "127.0.0.1" : addr, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                close(fd);
                return;
        }
        r = sd_event_add_io(vm->vms->event, &vm->probe_source, fd, EPOLLIN | EPOLLRDHUP, on_probe_io, vm);
        if (r < 0) {
                close(fd);
                return;
        }
        vm->probe_fd = fd;
        vm->probe_started = now_usec(CLOCK_MONOTONIC);
}

static int on_probe_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct vm *vm = userdata;

        if (vm->state != VM_BOOTING)
                return sd_event_source_set_enabled(source, SD_EVENT_OFF);
        if (vm->probe_fd >= 0 && usec - vm->probe_started >= PROBE_PATIENCE_USEC)
                probe_close(vm);
        if (vm->probe_fd < 0)
                probe_start(vm);
        (void) sd_event_source_set_time(source, usec + PROBE_INTERVAL_USEC);
        return sd_event_source_set_enabled(source, SD_EVENT_ON);
}

static int watch(struct vm *vm, int pidfd) {
        int r;

        vm->pidfd = pidfd;
        r = sd_event_add_io(vm->vms->event, &vm->exit_source, pidfd, EPOLLIN, on_qemu_exit, vm);
        if (r < 0)
                return log_error_errno(r, "Failed to watch QEMU of VM %s (pid %d): %m", vm->id, (int) vm->pid);
        if (vm->state == VM_BOOTING) {
                r = sd_event_add_time_relative(vm->vms->event, &vm->probe_timer, CLOCK_MONOTONIC, 0, 0,
                                               on_probe_timer, vm);
                if (r < 0)
                        log_warning_errno(r, "Failed to watch the SSH port of VM %s, ignoring: %m", vm->id);
        }
        return 0;
}

int vm_started(struct vm *vm, pid_t pid) {
        int fd;

        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to pin QEMU of VM %s (pid %d): %m", vm->id, (int) pid);
        vm->pid = pid;
        (void) pid_start_time(pid, &vm->start_time);
        set_state(vm, VM_BOOTING);
        return watch(vm, fd);
}

static void qemu_kill(struct vm *vm) {
        if (vm->pidfd >= 0 && syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                log_warning_errno(errno, "Failed to kill QEMU of VM %s (pid %d), ignoring: %m", vm->id, (int) vm->pid);
}

static int on_kill_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct vm *vm = userdata;
        char d[FORMAT_DURATION_MAX];

        log_notice("VM %s did not power off within %s (ShutdownTimeoutSec=): killing QEMU.", vm->id,
                   format_duration(d, sizeof(d), vm->vms->config->vm_shutdown_timeout_usec));
        qemu_kill(vm);
        return 0;
}

/* QEMU makes the QMP socket in a directory it may write: the peer must be
 * this VM's QEMU, or nothing is sent (qmp_command() checks). */
static int qmp(struct vm *vm, const char *command) {
        _cleanup_(freep) char *path = vm_path(vm, "qmp.sock");

        if (!path)
                return -ENOMEM;
        return qmp_command(path, vm->pid, command, QMP_TIMEOUT_USEC, NULL, 0);
}

int vm_stop(struct vm *vm, bool graceful, void (*done)(void *userdata), void *userdata) {
        int r;

        if (vm->state == VM_STOPPED)
                return 0;
        vm->stop_done = done;
        vm->stop_userdata = userdata;
        if (vm->state == VM_STOPPING)
                return 1;
        set_state(vm, VM_STOPPING);
        r = graceful && vm->vms->config->vm_shutdown_timeout_usec > 0 ? qmp(vm, "system_powerdown") : -ECANCELED;
        if (r < 0) {
                if (r != -ECANCELED)
                        log_full_errno(LOG_NOTICE, r, "VM %s: the power-down request failed (%m): killing QEMU.", vm->id);
                qemu_kill(vm);
                return 1;
        }
        r = sd_event_add_time_relative(vm->vms->event, &vm->kill_timer, CLOCK_MONOTONIC,
                                       vm->vms->config->vm_shutdown_timeout_usec, 0, on_kill_timer, vm);
        if (r < 0) {
                log_warning_errno(r, "VM %s: no timer for its power-down (%m): killing QEMU.", vm->id);
                qemu_kill(vm);
        }
        return 1;
}

void vms_cancel_waiter(struct vms *v, void *userdata) {
        for (struct vm *vm = v->list; vm; vm = vm->next)
                if (vm->stop_done && vm->stop_userdata == userdata)
                        vm->stop_done = NULL;
}

static void vm_unlink(struct vm *vm) {
        for (struct vm **p = &vm->vms->list; *p; p = &(*p)->next)
                if (*p == vm) {
                        *p = vm->next;
                        break;
                }
}

void vm_free(struct vm *vm) {
        if (!vm)
                return;
        watch_stop(vm);
        if (vm->port)
                port_free(vm->vms, vm->port);
        vm_unlink(vm);
        (void) safe_close(vm->meta_fd);
        free(vm->meta);
        free(vm->dir);
        free(vm);
}

/* Killed and gone before its files are: a child of ours is reaped (it
 * would stay a zombie), one taken over after a restart is waited for
 * through its pidfd. SIGKILL always completes; freeing a large guest's
 * memory takes a moment. */
static void qemu_reap(struct vm *vm) {
        struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };

        qemu_kill(vm);
        (void) poll(&p, 1, 10000);
        (void) waitid((idtype_t) P_PIDFD, (id_t) vm->pidfd, &(siginfo_t) {}, WEXITED | WNOHANG);
}

void vm_remove(struct vm *vm) {
        if (vm->pidfd >= 0)
                qemu_reap(vm);
        remove_dir(vm->dir);
        vm_free(vm);
}

void vms_remove_files(struct vms *v, const char *id) {
        _cleanup_(freep) char *dir = NULL;

        if (!slice_id_is_valid(id) || asprintf(&dir, "%s/%s", v->config->vm_directory, id) < 0)
                return;
        if (access(dir, F_OK) == 0) {
                log_info("Removing the guest files of vanished slice %s.", id);
                remove_dir(dir);
        }
}

enum vm_state vm_get_state(struct vm *vm) {
        return vm->state;
}

uint64_t vm_disk_size(struct vm *vm) {
        return vm->disk_size;
}

pid_t vm_pid(struct vm *vm) {
        return vm->pid;
}

static const char *ssh_host(struct vms *v, char *buf, size_t size) {
        const struct config *c = v->config;

        if (c->vm_host_name[0])
                return c->vm_host_name;
        if (!streq(c->vm_listen_address, "0.0.0.0"))
                return c->vm_listen_address;
        if (gethostname(buf, size) < 0 || !buf[0])
                return "localhost";
        buf[size - 1] = 0;
        return buf;
}

void vm_info(struct vm *vm, bool frozen, struct slice_vm_info *ret) {
        struct slice_vm_info i = { .present = true };
        char host[256];

        snprintf(i.image, sizeof(i.image), "%s", vm->image);
        i.vcpus = vm->vcpus;
        i.memory = vm->guest_memory;
        i.disk_size = vm->disk_size;
        snprintf(i.accel, sizeof(i.accel), "%s", vm->accel);
        snprintf(i.ssh_host, sizeof(i.ssh_host), "%s", ssh_host(vm->vms, host, sizeof(host)));
        i.ssh_port = vm->port;
        snprintf(i.ssh_user, sizeof(i.ssh_user), "%s", vm->user);
        snprintf(i.host_key, sizeof(i.host_key), "%s", vm->host_key);
        snprintf(i.state, sizeof(i.state), "%s",
                 frozen && vm->state != VM_STOPPED ? "paused" : vm_state_to_string(vm->state));
        i.pid = vm->pid > 0 ? (uint64_t) vm->pid : 0;
        *ret = i;
}

/* ---- the record ---- */

int vm_to_json(struct vm *vm, json_object **ret) {
        json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "image", json_object_new_string(vm->image));
        json_object_object_add(o, "user", json_object_new_string(vm->user));
        json_object_object_add(o, "base", json_object_new_string(vm->base));
        json_object_object_add(o, "format", json_object_new_string(vm->format));
        json_object_object_add(o, "kernel", json_object_new_string(vm->kernel));
        json_object_object_add(o, "initrd", json_object_new_string(vm->initrd));
        json_object_object_add(o, "cmdline", json_object_new_string(vm->cmdline));
        json_object_object_add(o, "accel", json_object_new_string(vm->accel));
        json_object_object_add(o, "host_key", json_object_new_string(vm->host_key));
        json_object_object_add(o, "vcpus", json_object_new_int64((int64_t) vm->vcpus));
        json_object_object_add(o, "guest_memory", json_object_new_int64((int64_t) vm->guest_memory));
        json_object_object_add(o, "disk_size", json_object_new_int64((int64_t) vm->disk_size));
        json_object_object_add(o, "port", json_object_new_int64(vm->port));
        json_object_object_add(o, "pid", json_object_new_int64(vm->pid));
        json_object_object_add(o, "start_time", json_object_new_int64((int64_t) vm->start_time));
        json_object_object_add(o, "answered", json_object_new_boolean(vm->state == VM_RUNNING));
        *ret = o;
        return 0;
}

static int json_str(json_object *o, const char *key, char *ret, size_t size) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return -EINVAL;
        s = json_object_get_string(v);
        if (strlen(s) >= size)
                return -EINVAL;
        memcpy(ret, s, strlen(s) + 1);
        return 0;
}

static int json_uint(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EINVAL;
        x = json_object_get_int64(v);
        if (x < 0 || (uint64_t) x > max)
                return -EINVAL;
        *ret = (uint64_t) x;
        return 0;
}

int vm_take_back(struct vm *vm, int pidfd) {
        uint64_t now_start = 0;

        /* The start time, where /proc shows it (the packaged unit hides
         * other users' processes), must be the one recorded. */
        if (vm->start_time && pid_start_time(vm->pid, &now_start) >= 0 && now_start != vm->start_time) {
                close(pidfd);
                vm->pid = 0;
                return -ESRCH;
        }
        vm->state = vm->answered ? VM_RUNNING : VM_BOOTING;
        if (watch(vm, pidfd) < 0) {
                vm->state = VM_STOPPED;
                vm->pid = 0;
                return -EIO;
        }
        log_info("VM %s: QEMU (pid %d) taken back, %s", vm->id, (int) vm->pid, vm_state_to_string(vm->state));
        /* Connected again, so the guest's reader waits instead of seeing
         * its host side closed; what the guest knows stays, unless this
         * start has told it something since (vm_set_meta()). */
        if (vm->state == VM_RUNNING)
                meta_flush(vm);
        return 0;
}

int vm_from_json(struct vms *v, const char *id, json_object *o, struct vm **ret) {
        uint64_t port = 0, pid = 0, start_time = 0;
        json_object *answered = NULL;
        struct vm *vm;
        int r = 0;

        vm = vm_alloc(v, id);
        if (!vm)
                return -ENOMEM;
        r = r ?: json_str(o, "image", vm->image, sizeof(vm->image));
        r = r ?: json_str(o, "user", vm->user, sizeof(vm->user));
        r = r ?: json_str(o, "base", vm->base, sizeof(vm->base));
        r = r ?: json_str(o, "format", vm->format, sizeof(vm->format));
        r = r ?: json_str(o, "kernel", vm->kernel, sizeof(vm->kernel));
        r = r ?: json_str(o, "initrd", vm->initrd, sizeof(vm->initrd));
        r = r ?: json_str(o, "cmdline", vm->cmdline, sizeof(vm->cmdline));
        r = r ?: json_str(o, "accel", vm->accel, sizeof(vm->accel));
        r = r ?: json_str(o, "host_key", vm->host_key, sizeof(vm->host_key));
        r = r ?: json_uint(o, "vcpus", 4096, &vm->vcpus);
        r = r ?: json_uint(o, "guest_memory", INT64_MAX, &vm->guest_memory);
        r = r ?: json_uint(o, "disk_size", INT64_MAX, &vm->disk_size);
        r = r ?: json_uint(o, "port", 65535, &port);
        r = r ?: json_uint(o, "pid", INT32_MAX, &pid);
        r = r ?: json_uint(o, "start_time", INT64_MAX, &start_time);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        if (port && !port_take(v, (uint16_t) port))
                log_warning("VM %s: its port %u is outside PortRange= or taken, keeping it anyway", id,
                            (unsigned) port);
        vm->port = (uint16_t) port;
        (void) json_object_object_get_ex(o, "answered", &answered);
        vm->answered = json_object_get_boolean(answered);
        /* Not running until taken back (vm_take_back()). */
        vm->pid = (pid_t) pid;
        vm->start_time = start_time;
        vm->state = VM_STOPPED;
        *ret = vm;
        return 0;
}
