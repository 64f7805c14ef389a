/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small file I/O (daemon/common/fileio.c): write_file_atomic() against
 * names planted beside its target, and dir_check_private(). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/util.h"

/* A scratch directory under /tmp (root's, sticky: what the walk in
 * dir_check_private() accepts above a directory), removed with what is in
 * it, two levels down. */
static char *scratch_dir(void) {
        char *d = strdup("/tmp/test-fileio.XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void remove_all_at(int dfd) {
        _cleanup_(closedirp) DIR *dir = fdopendir(dfd);
        struct dirent *de;

        assert_non_null(dir);
        while ((de = readdir(dir))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
                        continue;
                assert_int_equal(errno, EISDIR);
                remove_all_at(openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                assert_int_equal(unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR), 0);
        }
}

static void scratch_remove(char *d) {
        assert_int_equal(chmod(d, 0700), 0);
        remove_all_at(open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        assert_int_equal(rmdir(d), 0);
        free(d);
}

static char *join(const char *dir, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_plain(const char *path, const char *text, mode_t mode) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static void assert_content(const char *path, const char *want) {
        _cleanup_(freep) char *s = NULL;
        size_t n = 0;

        assert_int_equal(read_full_file(path, &s, &n), 0);
        assert_int_equal(n, strlen(want));
        assert_string_equal(s, want);
}

/* The names in d, sorted, joined by spaces. */
static char *listing(const char *d) {
        _cleanup_(closedirp) DIR *dir = opendir(d);
        char *names[16], *out;
        struct dirent *de;
        size_t n = 0, len = 1;

        assert_non_null(dir);
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        assert_true(n < ARRAY_SIZE(names));
                        names[n] = strdup(de->d_name);
                        assert_non_null(names[n]);
                        len += strlen(names[n++]) + 1;
                }
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char *t = names[j];
                        names[j] = names[j - 1];
                        names[j - 1] = t;
                }
        out = calloc(1, len);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(out, " ");
                strcat(out, names[i]);
                free(names[i]);
        }
        return out;
}

static void test_atomic_content_and_mode(void **state _unused_) {
        char *d = scratch_dir();
        _cleanup_(freep) char *f = join(d, "state.json"), *names = NULL;
        static const char data[] = "{\"a\":1}\n\0binary";
        struct stat st;
        mode_t old = umask(0);

        /* New: the bytes given (a NUL in them too), mode 0600 even with a
         * umask of 0 ... */
        assert_int_equal(write_file_atomic(f, data, sizeof(data)), 0);
        {
                _cleanup_(freep) char *s = NULL;
                size_t n = 0;

                assert_int_equal(read_full_file(f, &s, &n), 0);
                assert_int_equal(n, sizeof(data));
                assert_memory_equal(s, data, sizeof(data));
        }
        assert_int_equal(lstat(f, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        /* ... and over an existing file of another mode: replaced whole,
         * 0600 even with a umask that would take the owner's write bit. */
        assert_int_equal(unlink(f), 0);
        write_plain(f, "old content, longer than the new", 0644);
        umask(0277);
        assert_int_equal(write_file_atomic(f, "new", 3), 0);
        umask(old);
        assert_content(f, "new");
        assert_int_equal(lstat(f, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* Without the fsyncs (slice records): the same replacement, mode
         * and no temp file left. */
        assert_int_equal(write_file_atomic_nosync(f, "newer", 5), 0);
        assert_content(f, "newer");
        assert_int_equal(lstat(f, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(write_file_atomic(f, "new", 3), 0);

        /* No temp file left behind. */
        names = listing(d);
        assert_string_equal(names, "state.json");

        /* A path without a directory is in the working directory. */
        {
                _cleanup_(closep) int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                assert_true(cwd >= 0);
                assert_int_equal(chdir(d), 0);
                assert_int_equal(write_file_atomic("here", "x", 1), 0);
                assert_int_equal(fchdir(cwd), 0);
        }
        free(names);
        names = listing(d);
        assert_string_equal(names, "here state.json");
        scratch_remove(d);
}

/* Anyone who can write the directory could plant a symbolic link at the
 * temp name: it was "<path>.tmp.<pid>", opened with O_CREAT|O_TRUNC and no
 * O_NOFOLLOW, so the data went where the link pointed (truncating it) and
 * the link was renamed into place. Planted at the old name and at every
 * pid near ours: none is followed, none is moved. */
static void test_atomic_planted_link(void **state _unused_) {
        char *d = scratch_dir();
        _cleanup_(freep) char *f = join(d, "secret"), *victim = join(d, "victim"), *names = NULL;
        struct stat st;
        pid_t self = getpid();

        write_plain(victim, "victim's own data", 0644);
        for (pid_t pid = self - 3; pid <= self + 3; pid++) {
                _cleanup_(freep) char *tmp = NULL;

                assert_true(asprintf(&tmp, "%s.tmp.%d", f, (int) pid) > 0);
                assert_int_equal(symlink("victim", tmp), 0);
        }

        assert_int_equal(write_file_atomic(f, "s3cr3t", 6), 0);

        assert_content(victim, "victim's own data");
        assert_int_equal(lstat(f, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_content(f, "s3cr3t");
        for (pid_t pid = self - 3; pid <= self + 3; pid++) {
                _cleanup_(freep) char *tmp = NULL;

                assert_true(asprintf(&tmp, "%s.tmp.%d", f, (int) pid) > 0);
                assert_int_equal(lstat(tmp, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
        }
        /* secret, the 7 links, victim: no temp file. */
        names = listing(d);
        assert_null(strstr(names, ".secret"));
        {
                size_t words = 1;

                for (const char *c = names; *c; c++)
                        words += *c == ' ';
                assert_int_equal(words, 9);
        }
        scratch_remove(d);
}

/* A failed write leaves nothing behind and the old file as it was. */
static void test_atomic_failure(void **state _unused_) {
        char *d = scratch_dir();
        _cleanup_(freep) char *sub = join(d, "sub"), *missing = join(d, "missing/f"), *names = NULL;

        assert_int_equal(mkdir(sub, 0700), 0);
        /* rename() over a directory fails after the temp file was written. */
        assert_true(write_file_atomic(sub, "x", 1) < 0);
        assert_int_equal(write_file_atomic(missing, "x", 1), -ENOENT);
        assert_int_equal(write_file_atomic("/", "x", 1), -EISDIR);
        names = listing(d);
        assert_string_equal(names, "sub");
        free(names);
        names = listing(sub);
        assert_string_equal(names, "");
        scratch_remove(d);
}

static void check_refused(const char *path, int want, const char *needle, const char *needle2) {
        _cleanup_(freep) char *error = NULL;
        int r;

        r = dir_check_private(path, &error);
        if (r != want || !error || !strstr(error, needle) || (needle2 && !strstr(error, needle2)))
                fail_msg("dir_check_private(%s) = %d \"%s\", want %d with \"%s\" and \"%s\"", path, r, strna(error),
                         want, needle, strna(needle2));
}

static void check_ok(const char *path) {
        _cleanup_(freep) char *error = NULL;
        int r;

        r = dir_check_private(path, &error);
        if (r != 0)
                fail_msg("dir_check_private(%s) = %d \"%s\", want 0", path, r, strna(error));
        assert_null(error);
}

static void test_dir_check_private(void **state _unused_) {
        char *d = scratch_dir();
        _cleanup_(freep) char *sub = join(d, "sub"), *file = join(d, "file"), *link = join(d, "link"),
                                *missing = join(d, "missing"), *messy = NULL, *deep = join(d, "sub/deep");
        char *error = NULL;

        assert_int_equal(mkdir(sub, 0700), 0);
        write_plain(file, "", 0600);
        assert_int_equal(symlink("sub", link), 0);
        assert_true(asprintf(&messy, "/%s//./sub/", d) > 0);

        check_ok("/");
        check_ok(d);
        check_ok(sub);
        check_ok(messy);

        /* The directory itself: writable by no one else, even sticky. */
        assert_int_equal(chmod(d, 0777), 0);
        check_refused(d, -EPERM, d, "writable by others (mode 0777");
        assert_int_equal(chmod(d, 0770), 0);
        check_refused(d, -EPERM, d, "writable by its group (mode 0770");
        assert_int_equal(chmod(d, 01777), 0);
        check_refused(d, -EPERM, d, "mode 1777");
        /* Above it, sticky and open to all is fine (as /tmp is) ... */
        check_ok(sub);
        /* ... not without the sticky bit: anyone could rename sub away and
         * put their own in its place. */
        assert_int_equal(chmod(d, 0777), 0);
        check_refused(sub, -EPERM, d, "mode 0777");
        check_refused(deep, -EPERM, d, "mode 0777");
        assert_int_equal(chmod(d, 0755), 0);
        check_ok(sub);

        check_refused(link, -ELOOP, link, "symbolic link");
        check_refused(file, -ENOTDIR, file, "not a directory");
        check_refused(missing, -ENOENT, missing, "No such file");

        if (geteuid() == 0) {
                /* Made by someone else (nobody): whatever its mode. */
                assert_int_equal(chown(sub, 65534, 65534), 0);
                check_refused(sub, -EPERM, sub, "owned by uid 65534 (mode 0700), not by root");
                check_refused(deep, -EPERM, sub, "owned by uid 65534");
                assert_int_equal(chown(sub, 0, 0), 0);
        } else
                print_message("not root: the owner check is not run\n");

        assert_int_equal(dir_check_private("relative/path", &error), -EINVAL);
        assert_null(error);
        scratch_remove(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_atomic_content_and_mode),
                cmocka_unit_test(test_atomic_planted_link),
                cmocka_unit_test(test_atomic_failure),
                cmocka_unit_test(test_dir_check_private),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
