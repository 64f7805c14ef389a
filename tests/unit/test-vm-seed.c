/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NoCloud seeds (daemon/vm-seed.c): the texts exactly, what is refused,
 * and, when python3 with PyYAML is here, the YAML read back. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/util.h"
#include "vm-seed.h"

#define HOST_PRIVATE                                                             \
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"                                  \
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" \
        "QyNTUxOQAAACBYgNaL3UbLiYZ/C4x4H7Cgy9MmLbMLySMa1DHBFq9cywAAAIjBAsLqwQLC\n" \
        "6gAAAAtzc2gtZWQyNTUxOQAAACBYgNaL3UbLiYZ/C4x4H7Cgy9MmLbMLySMa1DHBFq9cyw\n" \
        "AAAEAA8zdOJbrAmLm1/tY3BRiEnMNIQd7/BcxRyO/zybdxzViA1ovdRsuJhn8LjHgfsKDL\n" \
        "0yYtswvJIxrUMcEWr1zLAAAABGhvc3QB\n"                                     \
        "-----END OPENSSH PRIVATE KEY-----\n"
#define HOST_PUBLIC "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFiA1ovdRsuJhn8LjHgfsKDL0yYtswvJIxrUMcEWr1zL"
#define BUYER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAvfbGvymdkW2it1BTw5hR5l7N1p5xOiKCBeB0BowkjS"

static const struct vm_seed seed = {
        .instance_id = "s-1a2b3c4d5e6f7a8b",
        .hostname = "s-1a2b3c4d5e6f7a8b",
        .user = "debian",
        .ssh_key = BUYER_KEY,
        .host_key_private = HOST_PRIVATE,
        .host_key_public = HOST_PUBLIC,
};

#define HOST_KEYS                                                                   \
        "ssh_pwauth: false\n"                                                       \
        "ssh_genkeytypes: []\n"                                                     \
        "ssh_deletekeys: true\n"                                                    \
        "ssh_keys:\n"                                                               \
        "  ed25519_private: |\n"                                                    \
        "    -----BEGIN OPENSSH PRIVATE KEY-----\n"                                 \
        "    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" \
        "    QyNTUxOQAAACBYgNaL3UbLiYZ/C4x4H7Cgy9MmLbMLySMa1DHBFq9cywAAAIjBAsLqwQLC\n" \
        "    6gAAAAtzc2gtZWQyNTUxOQAAACBYgNaL3UbLiYZ/C4x4H7Cgy9MmLbMLySMa1DHBFq9cyw\n" \
        "    AAAEAA8zdOJbrAmLm1/tY3BRiEnMNIQd7/BcxRyO/zybdxzViA1ovdRsuJhn8LjHgfsKDL\n" \
        "    0yYtswvJIxrUMcEWr1zLAAAABGhvc3QB\n"                                    \
        "    -----END OPENSSH PRIVATE KEY-----\n"                                   \
        "  ed25519_public: \"" HOST_PUBLIC "\"\n"

static const char user_data[] =
        "#cloud-config\n"
        "users:\n"
        "  - name: \"debian\"\n"
        "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
        "    shell: /bin/bash\n"
        "    lock_passwd: true\n"
        "    ssh_authorized_keys:\n"
        "      - \"" BUYER_KEY "\"\n" HOST_KEYS;

static const char root_user_data[] =
        "#cloud-config\n"
        "disable_root: false\n"
        "users: []\n"
        "ssh_authorized_keys:\n"
        "  - \"" BUYER_KEY "\"\n" HOST_KEYS;

/* After the keys: the guest's metadata reader (read back by yaml_check()). */
#define META_READER_START "write_files:\n"

/* The YAML as PyYAML reads it, checked against what was meant; 77 if
 * python3 or PyYAML is missing. */
static int yaml_check(const char *text, const char *user) {
        static const char script[] =
                "import sys\n"
                "try:\n"
                "    import yaml\n"
                "except ImportError:\n"
                "    sys.exit(77)\n"
                "d = yaml.safe_load(sys.stdin)\n"
                "key, user = sys.argv[1], sys.argv[2]\n"
                "assert d['ssh_pwauth'] is False and d['ssh_deletekeys'] is True and d['ssh_genkeytypes'] == []\n"
                "assert d['ssh_keys']['ed25519_public'] == sys.argv[3]\n"
                "assert d['ssh_keys']['ed25519_private'] == sys.argv[4], d['ssh_keys']['ed25519_private']\n"
                "if user == 'root':\n"
                "    assert d['disable_root'] is False and d['users'] == [] and d['ssh_authorized_keys'] == [key]\n"
                "else:\n"
                "    assert d['users'] == [{'name': user, 'sudo': 'ALL=(ALL) NOPASSWD:ALL', 'shell': '/bin/bash',\n"
                "                           'lock_passwd': True, 'ssh_authorized_keys': [key]}], d['users']\n"
                "    assert 'disable_root' not in d\n"
                "assert set(d) <= {'users', 'disable_root', 'ssh_authorized_keys', 'ssh_pwauth', 'ssh_genkeytypes',\n"
                "                  'ssh_deletekeys', 'ssh_keys', 'write_files', 'runcmd'}\n"
                /* The metadata reader, run by sh on records as the host
                 * sends them (vm.c): the last whole one is the file, an
                 * empty one removes it. */
                "files = {f['path']: f for f in d['write_files']}\n"
                "reader = files['/usr/local/libexec/prepay-meta']\n"
                "assert reader['permissions'] == '0755'\n"
                "unit = files['/etc/systemd/system/prepay-meta.service']['content']\n"
                "assert 'ExecStart=/usr/local/libexec/prepay-meta\\n' in unit and 'Restart=always\\n' in unit\n"
                "assert d['runcmd'][-1] == ['systemctl', 'enable', '--now', '--no-block', 'prepay-meta.service']\n"
                "import os, subprocess, tempfile\n"
                "port = '/dev/virtio-ports/org.prepay.meta'\n"
                "assert port in reader['content']\n"
                "def run(records):\n"
                "    t = tempfile.mkdtemp()\n"
                "    with open(t + '/port', 'w') as f:\n"
                "        f.write(records)\n"
                "    text = reader['content'].replace(port, t + '/port').replace('/var/lib/prepay', t + '/state')\n"
                "    subprocess.run(['sh', '-c', text], check=True)\n"
                "    try:\n"
                "        return open(t + '/state/sponsor.env').read()\n"
                "    except FileNotFoundError:\n"
                "        return None\n"
                "a = \"PREPAY_SPONSOR_NAME='A'\\nPREPAY_SPONSOR_URL=''\\nPREPAY_SPONSOR_UNTIL='9'\\n\"\n"
                "b = \"PREPAY_SPONSOR_NAME='it'\\\\''s B'\\nPREPAY_SPONSOR_URL='https://b.example/'\\n\"\n"
                "assert run(a + '\\n') == a\n"
                "assert run(a + '\\n' + b + '\\n') == b\n"
                "assert run(a + '\\n\\n') is None\n"
                "assert run(a + '\\n' + b) == a  # a record cut short is not taken\n"
                "assert run('\\n') is None\n";
        int pipefd[2], status;
        pid_t pid;

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[0], 0);
                execlp("python3", "python3", "-c", script, BUYER_KEY, user, HOST_PUBLIC, HOST_PRIVATE, NULL);
                _exit(77);
        }
        close(pipefd[0]);
        assert_int_equal(write(pipefd[1], text, strlen(text)), (ssize_t) strlen(text));
        close(pipefd[1]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_user_data(void **state _unused_) {
        _cleanup_(freep) char *text = NULL, *root_text = NULL;
        struct vm_seed root = seed;
        int r;

        assert_int_equal(vm_seed_user_data(&seed, &text), 0);
        assert_memory_equal(text, user_data, strlen(user_data));
        assert_int_equal(strncmp(text + strlen(user_data), META_READER_START, strlen(META_READER_START)), 0);
        root.user = "root";
        assert_int_equal(vm_seed_user_data(&root, &root_text), 0);
        assert_memory_equal(root_text, root_user_data, strlen(root_user_data));
        assert_string_equal(root_text + strlen(root_user_data), text + strlen(user_data));

        r = yaml_check(text, "debian");
        if (r == 77) {
                print_message("python3 with PyYAML not found: the YAML is not read back\n");
                return;
        }
        assert_int_equal(r, 0);
        assert_int_equal(yaml_check(root_text, "root"), 0);
}

static void test_meta_data(void **state _unused_) {
        _cleanup_(freep) char *text = NULL;

        assert_int_equal(vm_seed_meta_data(&seed, &text), 0);
        assert_string_equal(text, "instance-id: \"s-1a2b3c4d5e6f7a8b\"\nlocal-hostname: \"s-1a2b3c4d5e6f7a8b\"\n");
}

static void test_quoting(void **state _unused_) {
        _cleanup_(freep) char *text = NULL;
        struct vm_seed s = seed;

        /* Nothing a checked caller would pass, but quoted all the same. */
        s.instance_id = "a\"b\\c: #d";
        assert_int_equal(vm_seed_meta_data(&s, &text), 0);
        assert_string_equal(text, "instance-id: \"a\\\"b\\\\c: #d\"\nlocal-hostname: \"s-1a2b3c4d5e6f7a8b\"\n");
}

static void test_refused(void **state _unused_) {
        static const char *const bad_values[] = { "", "a\nb", "a\rb", "tab\there", "caf\xc3\xa9", "\x7f" };
        static const char *const bad_hostnames[] = {
                "", "-a", "a-", "a.b", "a_b", "a b", "0123456789012345678901234567890123456789012345678901234567890123",
        };
        static const char *const bad_private[] = { "", "\n", "a\n\nb\n", " indented\n", "a\n b\n", "a\tb\n",
                                                   "a\r\nb\r\n", "a\n\n" };
        char *text = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(bad_values); i++) {
                struct vm_seed s[4] = { seed, seed, seed, seed };

                s[0].user = bad_values[i];
                s[1].ssh_key = bad_values[i];
                s[2].host_key_public = bad_values[i];
                s[3].instance_id = bad_values[i];
                for (size_t j = 0; j < ARRAY_SIZE(s); j++)
                        if (vm_seed_user_data(&s[j], &text) != -EINVAL)
                                fail_msg("value %zu accepted as field %zu", i, j);
                assert_int_equal(vm_seed_meta_data(&s[3], &text), -EINVAL);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad_hostnames); i++) {
                struct vm_seed s = seed;

                s.hostname = bad_hostnames[i];
                assert_int_equal(vm_seed_meta_data(&s, &text), -EINVAL);
                assert_int_equal(vm_seed_user_data(&s, &text), -EINVAL);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad_private); i++) {
                struct vm_seed s = seed;

                s.host_key_private = bad_private[i];
                if (vm_seed_user_data(&s, &text) != -EINVAL)
                        fail_msg("private key %zu accepted", i);
        }
        {
                struct vm_seed s = seed;

                s.ssh_key = NULL;
                assert_int_equal(vm_seed_user_data(&s, &text), -EINVAL);
                assert_int_equal(vm_seed_meta_data(&s, &text), 0);
                free(text);
                text = NULL;
                /* Without its final newline, the same block. */
                s = seed;
                s.host_key_private = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----";
                assert_int_equal(vm_seed_user_data(&s, &text), 0);
                assert_non_null(strstr(text, "  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    abc\n"
                                             "    -----END OPENSSH PRIVATE KEY-----\n  ed25519_public: "));
                free(text);
        }
        assert_int_equal(vm_seed_user_data(NULL, &text), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_user_data),
                cmocka_unit_test(test_meta_data),
                cmocka_unit_test(test_quoting),
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
