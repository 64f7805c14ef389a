/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image descriptions (vm-image.h). The format looks like INI, but is read
 * here rather than by inih: inih reads lines of at most 200 bytes (a
 * KernelCommandLine= may be 511), cuts values at " ;" and joins indented
 * lines to the value above, none of which an operator would expect of a
 * file this small. */
#include "vm-image.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"

#define MIN_SIZE (UINT64_C(1) << 20)
#define DEFAULT_MIN_MEMORY (UINT64_C(256) << 20)
#define NAME_RULE "1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'"
_Static_assert(VM_IMAGE_NAME_MAX == 64, "NAME_RULE says 64");

enum {
        KEY_DESCRIPTION,
        KEY_DISK,
        KEY_FORMAT,
        KEY_KERNEL,
        KEY_INITRD,
        KEY_CMDLINE,
        KEY_USER,
        KEY_MIN_DISK,
        KEY_MIN_MEMORY,
        KEY_COUNT,
};

static const char *const key_names[KEY_COUNT] = {
        [KEY_DESCRIPTION] = "Description",
        [KEY_DISK] = "Disk",
        [KEY_FORMAT] = "Format",
        [KEY_KERNEL] = "Kernel",
        [KEY_INITRD] = "Initrd",
        [KEY_CMDLINE] = "KernelCommandLine",
        [KEY_USER] = "User",
        [KEY_MIN_DISK] = "MinDiskSize",
        [KEY_MIN_MEMORY] = "MinMemory",
};

struct image_parser {
        const char *name; /* NULL until it is checked */
        unsigned line;
        unsigned lines[KEY_COUNT]; /* where each key was set; 0: not set */
        char *error;
        size_t error_size;
};

_printf_(2, 3) static int refuse(struct image_parser *p, const char *fmt, ...) {
        char reason[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (p->error && p->error_size > 0) {
                if (!p->name)
                        (void) snprintf(p->error, p->error_size, "%s", reason);
                else if (p->line > 0)
                        (void) snprintf(p->error, p->error_size, "%s.image:%u: %s", p->name, p->line, reason);
                else
                        (void) snprintf(p->error, p->error_size, "%s.image: %s", p->name, reason);
        }
        return -EINVAL;
}

static bool printable(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

/* A file beside the description: no directory, no way out of it. */
static bool file_name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 255 && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && printable(s);
}

/* The login name cloud-init is to make: what useradd takes everywhere. */
static bool user_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int set_string(struct image_parser *p, const char *key, const char *value, char *dst, size_t size) {
        if (strlen(value) >= size)
                return refuse(p, "%s= is longer than %zu bytes", key, size - 1);
        strcpy(dst, value);
        return 0;
}

static int set_size(struct image_parser *p, const char *key, const char *value, uint64_t *ret) {
        uint64_t v;

        if (parse_size(value, &v) < 0)
                return refuse(p, "%s= must be a size such as 2G, got '%s'", key, value);
        if (v < MIN_SIZE)
                return refuse(p, "%s= must be at least 1M", key);
        *ret = v;
        return 0;
}

static int set_key(struct image_parser *p, struct vm_image *im, int k, const char *value) {
        const char *key = key_names[k];

        if (!printable(value))
                return refuse(p, "%s= holds a byte that is not printable ASCII", key);

        switch (k) {
        case KEY_DESCRIPTION:
                return set_string(p, key, value, im->description, sizeof(im->description));
        case KEY_DISK:
        case KEY_KERNEL:
        case KEY_INITRD:
                if (!file_name_is_valid(value))
                        return refuse(p, "%s= must name a file in the images directory, got '%s'", key, value);
                return set_string(p, key, value,
                                  k == KEY_DISK ? im->disk : k == KEY_KERNEL ? im->kernel : im->initrd, 256);
        case KEY_FORMAT:
                if (!streq(value, "qcow2") && !streq(value, "raw"))
                        return refuse(p, "Format= must be qcow2 or raw, got '%s'", value);
                return set_string(p, key, value, im->format, sizeof(im->format));
        case KEY_CMDLINE:
                return set_string(p, key, value, im->cmdline, sizeof(im->cmdline));
        case KEY_USER:
                if (!user_is_valid(value))
                        return refuse(p, "User= must be 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter "
                                         "or '_', got '%s'", value);
                return set_string(p, key, value, im->user, sizeof(im->user));
        case KEY_MIN_DISK:
                return set_size(p, key, value, &im->min_disk);
        case KEY_MIN_MEMORY:
                return set_size(p, key, value, &im->min_memory);
        }
        return -EINVAL;
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = 0;
        return s;
}

/* One line, NUL-terminated in place (no '\n'). */
static int parse_line(struct image_parser *p, struct vm_image *im, char *line, bool *in_image) {
        char *s = strip(line), *eq, *key, *value;

        if (*s == 0 || *s == '#' || *s == ';')
                return 0;
        if (*s == '[') {
                if (!streq(s, "[Image]"))
                        return refuse(p, "Unknown section %s, expected [Image]", printable(s) ? s : "(not printable)");
                if (*in_image)
                        return refuse(p, "Section [Image] given twice");
                *in_image = true;
                return 0;
        }
        eq = strchr(s, '=');
        if (!eq)
                return refuse(p, "Expected [Image] or a Key=Value line");
        if (!*in_image)
                return refuse(p, "Key outside of [Image]");
        *eq = 0;
        key = strip(s);
        value = strip(eq + 1);
        for (int k = 0; k < KEY_COUNT; k++) {
                if (!streq(key, key_names[k]))
                        continue;
                if (p->lines[k] > 0)
                        return refuse(p, "%s= given twice (first on line %u)", key, p->lines[k]);
                p->lines[k] = p->line;
                return set_key(p, im, k, value);
        }
        return refuse(p, "Unknown key '%s' in [Image]", printable(key) ? key : "(not printable)");
}

static int check_image(struct image_parser *p, const struct vm_image *im) {
        static const int required[] = { KEY_DISK, KEY_USER, KEY_MIN_DISK };

        p->line = 0;
        for (size_t i = 0; i < ARRAY_SIZE(required); i++)
                if (p->lines[required[i]] == 0)
                        return refuse(p, "%s= is missing in [Image]", key_names[required[i]]);
        if (!im->kernel[0]) {
                if (p->lines[KEY_INITRD] > 0) {
                        p->line = p->lines[KEY_INITRD];
                        return refuse(p, "Initrd= needs Kernel=");
                }
                if (p->lines[KEY_CMDLINE] > 0) {
                        p->line = p->lines[KEY_CMDLINE];
                        return refuse(p, "KernelCommandLine= needs Kernel=");
                }
        }
        return 0;
}

int vm_image_parse(const char *name, const char *text, size_t size, struct vm_image *ret, char *error,
                   size_t error_size) {
        _cleanup_(freep) char *copy = NULL;
        struct image_parser p = { .error = error, .error_size = error_size };
        struct vm_image im = { .format = "qcow2", .min_memory = DEFAULT_MIN_MEMORY };
        bool in_image = false;
        char *line, *next;
        int r;

        if (error && error_size > 0)
                error[0] = 0;
        if (!ret || (!text && size > 0))
                return -EINVAL;
        if (!vm_image_name_is_valid(name))
                return refuse(&p, "Image name is not valid: %s", NAME_RULE);
        p.name = name;
        if (size > VM_IMAGE_FILE_MAX)
                return refuse(&p, "Larger than %d bytes", VM_IMAGE_FILE_MAX);
        if (memchr(text, 0, size))
                return refuse(&p, "Contains a NUL byte");

        copy = strndup(text ?: "", size);
        if (!copy)
                return -ENOMEM;
        line = copy;
        if (strneq(line, "\xef\xbb\xbf", 3))
                line += 3;
        for (; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                p.line++;
                r = parse_line(&p, &im, line, &in_image);
                if (r < 0)
                        return r;
        }

        r = check_image(&p, &im);
        if (r < 0)
                return r;
        strcpy(im.name, name);
        *ret = im;
        return 0;
}

/* The description's text: a regular file, not reached through a symbolic
 * link, at most VM_IMAGE_FILE_MAX bytes. */
static int read_description(int dfd, const char *file, char **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *text = NULL;
        struct stat st;
        size_t size = 0;

        fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        /* One byte more than allowed, to see a file that is too large. */
        text = malloc(VM_IMAGE_FILE_MAX + 2);
        if (!text)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, text + size, VM_IMAGE_FILE_MAX + 1 - size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > VM_IMAGE_FILE_MAX)
                        return -EFBIG;
        }
        text[size] = 0;
        *ret = TAKE_PTR(text);
        *ret_size = size;
        return 0;
}

static int load_one(int dfd, const char *dir, const char *name, struct vm_image *ret, char **ret_error) {
        _cleanup_(freep) char *text = NULL, *file = NULL;
        char error[512];
        size_t size = 0;
        int r;

        if (asprintf(&file, "%s.image", name) < 0)
                return -ENOMEM;
        r = read_description(dfd, file, &text, &size);
        if (r == -ENOENT) {
                if (asprintf(ret_error, "No image '%s' in %s (prepay images lists them)", name, dir) < 0)
                        return -ENOMEM;
                return r;
        }
        if (r < 0) {
                const char *why = r == -ELOOP   ? "it is a symbolic link"
                                  : r == -EBADFD ? "it is not a regular file"
                                  : r == -EFBIG  ? "it is larger than 64 KiB"
                                                 : strerror(-r);

                if (asprintf(ret_error, "Cannot read %s/%s: %s", dir, file, why) < 0)
                        return -ENOMEM;
                return r;
        }
        r = vm_image_parse(name, text, size, ret, error, sizeof(error));
        if (r == -EINVAL) {
                *ret_error = strdup(error);
                return *ret_error ? r : -ENOMEM;
        }
        return r;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void names_free(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* The names of the *.image entries of the directory, sorted. */
static int list_names(int dfd, char ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        char **names = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;
        int fd;

        fd = dup(dfd);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        errno = 0;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char *name;

                if (len <= 6 || !streq(de->d_name + len - 6, ".image"))
                        continue;
                if (n == allocated) {
                        char **t = reallocarray(names, MAX(allocated * 2, (size_t) 16), sizeof(char *));

                        if (!t)
                                goto oom;
                        names = t;
                        allocated = MAX(allocated * 2, (size_t) 16);
                }
                name = strndup(de->d_name, len - 6);
                if (!name)
                        goto oom;
                names[n++] = name;
        }
        if (errno != 0) {
                int r = -errno;

                names_free(names, n);
                return r;
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), name_cmp);
        *ret = names;
        *ret_n = n;
        return 0;
oom:
        names_free(names, n);
        return -ENOMEM;
}

int vm_images_list(const char *dir, struct vm_image **ret, size_t *ret_n, char **ret_error) {
        _cleanup_(closep) int dfd = -1;
        _cleanup_(freep) struct vm_image *images = NULL;
        char **names = NULL;
        size_t n_names = 0, n = 0;
        int r;

        if (!dir || !ret || !ret_n || !ret_error)
                return -EINVAL;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                if (asprintf(ret_error, "Cannot open the images directory %s: %s", dir, strerror(-r)) < 0)
                        return -ENOMEM;
                return r;
        }
        r = list_names(dfd, &names, &n_names);
        if (r < 0) {
                if (r != -ENOMEM && asprintf(ret_error, "Cannot read the images directory %s: %s", dir,
                                             strerror(-r)) < 0)
                        return -ENOMEM;
                return r;
        }
        if (n_names > VM_IMAGES_MAX)
                log_warning("%s holds %zu image descriptions, using the first %d by name and ignoring the rest",
                            dir, n_names, VM_IMAGES_MAX);

        if (n_names > 0) {
                images = calloc(MIN(n_names, (size_t) VM_IMAGES_MAX), sizeof(struct vm_image));
                if (!images) {
                        names_free(names, n_names);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n_names && i < VM_IMAGES_MAX; i++) {
                _cleanup_(freep) char *error = NULL;

                if (!vm_image_name_is_valid(names[i])) {
                        log_warning("%s/%s.image: not a valid image name, ignoring", dir, names[i]);
                        continue;
                }
                r = load_one(dfd, dir, names[i], &images[n], &error);
                if (r == -ENOMEM) {
                        names_free(names, n_names);
                        return r;
                }
                if (r < 0) {
                        log_warning_errno(r, "%s, ignoring", error ?: "Cannot read an image description");
                        continue;
                }
                n++;
        }
        names_free(names, n_names);

        *ret = n > 0 ? TAKE_PTR(images) : NULL;
        *ret_n = n;
        return 0;
}

/* Whether file (a name checked by the parser) is a regular file in dfd;
 * a symbolic link to one is fine: the directory is the operator's. */
static int check_file(int dfd, const char *dir, const char *image, const char *key, const char *file,
                      char **ret_error) {
        struct stat st;
        int r;

        if (fstatat(dfd, file, &st, 0) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EBADFD;
        else
                return 0;
        if (asprintf(ret_error, "Image '%s': %s=%s: %s in %s", image, key, file,
                     r == -EBADFD ? "not a regular file" : r == -ENOENT ? "no such file" : strerror(-r), dir) < 0)
                return -ENOMEM;
        return r;
}

/* The name as a client gave it, made safe to print: at most 80 bytes,
 * anything but printable ASCII as '?'. */
static void name_for_humans(const char *name, char *buf, size_t size) {
        size_t i;

        for (i = 0; name[i] && i + 1 < size; i++)
                buf[i] = name[i] >= 0x20 && name[i] <= 0x7e ? name[i] : '?';
        buf[i] = 0;
}

int vm_image_find(const char *dir, const char *name, struct vm_image *ret, char **ret_error) {
        _cleanup_(closep) int dfd = -1;
        struct vm_image im;
        int r;

        if (!dir || !name || !ret || !ret_error)
                return -EINVAL;

        if (!vm_image_name_is_valid(name)) {
                char shown[81];

                name_for_humans(name, shown, sizeof(shown));
                if (asprintf(ret_error,
                             "Image name '%s' is not valid: %s", shown, NAME_RULE) < 0)
                        return -ENOMEM;
                return -EINVAL;
        }

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                if (asprintf(ret_error, "Cannot open the images directory %s: %s", dir, strerror(-r)) < 0)
                        return -ENOMEM;
                return r;
        }
        r = load_one(dfd, dir, name, &im, ret_error);
        if (r < 0)
                return r;

        r = check_file(dfd, dir, name, "Disk", im.disk, ret_error);
        if (r >= 0 && im.kernel[0])
                r = check_file(dfd, dir, name, "Kernel", im.kernel, ret_error);
        if (r >= 0 && im.initrd[0])
                r = check_file(dfd, dir, name, "Initrd", im.initrd, ret_error);
        if (r < 0)
                return r;
        *ret = im;
        return 0;
}
