/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NoCloud seeds (vm-seed.h). The texts are written with open_memstream()
 * and every value goes through yaml_quoted() or the block scalar writer:
 * nothing from a buyer or an image reaches the YAML unchecked. */
#include "vm-seed.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool printable(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

static bool hostname_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 63 && s[0] != '-' && s[n - 1] != '-' &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Each line printable, not empty, not starting with white space: the
 * block scalar's indentation is that of its first line. A final newline
 * is allowed (PEM files end with one). */
static bool block_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n > 0 && s[n - 1] == '\n')
                n--;
        if (n == 0 || s[n - 1] == '\n')
                return false;
        for (size_t i = 0; i < n; i++) {
                bool line_start = i == 0 || s[i - 1] == '\n';

                if (s[i] == '\n') {
                        if (line_start)
                                return false;
                        continue;
                }
                if (s[i] < 0x20 || s[i] > 0x7e || (line_start && s[i] == ' '))
                        return false;
        }
        return true;
}

/* A double-quoted YAML scalar: only '"' and '\' need escapes once every
 * byte is printable ASCII. */
static void yaml_quoted(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

static void yaml_block(FILE *f, const char *s, const char *indent) {
        size_t n = strlen(s);

        if (n > 0 && s[n - 1] == '\n')
                n--;
        fputs(indent, f);
        for (size_t i = 0; i < n; i++) {
                fputc(s[i], f);
                if (s[i] == '\n')
                        fputs(indent, f);
        }
        fputc('\n', f);
}

static int seed_check(const struct vm_seed *s, bool full) {
        if (!s || !s->instance_id || !s->hostname || !s->instance_id[0] || !printable(s->instance_id) ||
            !hostname_is_valid(s->hostname))
                return -EINVAL;
        if (!full)
                return 0;
        if (!s->user || !s->ssh_key || !s->host_key_private || !s->host_key_public)
                return -EINVAL;
        if (!s->user[0] || !printable(s->user) || !s->ssh_key[0] || !printable(s->ssh_key) ||
            !s->host_key_public[0] || !printable(s->host_key_public) || !block_is_valid(s->host_key_private))
                return -EINVAL;
        return 0;
}

/* What f wrote, in *ret; f closed either way. */
static int finish(FILE *f, char **buf, char **ret) {
        bool failed = ferror(f);

        if (fclose(f) != 0 || failed) {
                free(*buf);
                *buf = NULL;
                return -ENOMEM;
        }
        *ret = *buf;
        return 0;
}

/* The guest's side of its metadata port (vm.c, vm_set_meta()): a reader
 * that keeps the last record the host sent in /var/lib/prepay/sponsor.env,
 * kept across the guest's reboots (the host tells a change once), started
 * by systemd again whenever the host's side closes (prepayd restarting).
 * Enabled from runcmd, so it starts late on the first boot (cloud-final,
 * after SSH answers); records sent before wait in QEMU's socket. */
static const char meta_reader[] =
        "write_files:\n"
        "  - path: /usr/local/libexec/prepay-meta\n"
        "    permissions: \"0755\"\n"
        "    content: |\n"
        "      #!/bin/sh\n"
        "      # prepay: keeps what the host tells this guest on its metadata\n"
        "      # port in /var/lib/prepay/sponsor.env (\". sponsor.env\" sets\n"
        "      # PREPAY_SPONSOR_NAME, _URL and _UNTIL; no file: no sponsor).\n"
        "      # A record is lines, then an empty line; no lines: nothing.\n"
        "      set -u\n"
        "      dir=/var/lib/prepay\n"
        "      tmp=$dir/.sponsor.env.new\n"
        "      mkdir -p \"$dir\"\n"
        "      : >\"$tmp\"\n"
        "      n=0\n"
        "      while IFS= read -r line; do\n"
        "        if [ -n \"$line\" ]; then\n"
        "          printf '%s\\n' \"$line\" >>\"$tmp\"\n"
        "          n=$((n + 1))\n"
        "        elif [ \"$n\" -gt 0 ]; then\n"
        "          chmod 0644 \"$tmp\"\n"
        "          mv -f \"$tmp\" \"$dir/sponsor.env\"\n"
        "          : >\"$tmp\"\n"
        "          n=0\n"
        "        else\n"
        "          rm -f \"$dir/sponsor.env\"\n"
        "        fi\n"
        "      done </dev/virtio-ports/" VM_META_PORT "\n"
        "  - path: /etc/systemd/system/prepay-meta.service\n"
        "    content: |\n"
        "      [Unit]\n"
        "      Description=prepay: what the host tells this guest (its sponsor)\n"
        "      ConditionPathExists=/dev/virtio-ports/" VM_META_PORT "\n"
        "      StartLimitIntervalSec=0\n"
        "      [Service]\n"
        "      ExecStart=/usr/local/libexec/prepay-meta\n"
        "      Restart=always\n"
        "      RestartSec=2\n"
        "      [Install]\n"
        "      WantedBy=multi-user.target\n"
        "runcmd:\n"
        "  - [systemctl, daemon-reload]\n"
        "  - [systemctl, enable, --now, --no-block, prepay-meta.service]\n";

int vm_seed_user_data(const struct vm_seed *s, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (!ret)
                return -EINVAL;
        r = seed_check(s, true);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fputs("#cloud-config\n", f);
        if (streq(s->user, "root")) {
                /* cloud-init cannot create root; with no users and
                 * disable_root off, the top-level keys go to root as
                 * they are (cc_ssh's apply_credentials()). */
                fputs("disable_root: false\nusers: []\nssh_authorized_keys:\n  - ", f);
                yaml_quoted(f, s->ssh_key);
                fputc('\n', f);
        } else {
                fputs("users:\n  - name: ", f);
                yaml_quoted(f, s->user);
                fputs("\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
                      "    shell: /bin/bash\n"
                      "    lock_passwd: true\n"
                      "    ssh_authorized_keys:\n"
                      "      - ",
                      f);
                yaml_quoted(f, s->ssh_key);
                fputc('\n', f);
        }
        /* The guest's host key is the one prepayd made and told the buyer
         * about: none is generated in the guest, and the image's are
         * deleted. */
        fputs("ssh_pwauth: false\n"
              "ssh_genkeytypes: []\n"
              "ssh_deletekeys: true\n"
              "ssh_keys:\n"
              "  ed25519_private: |\n",
              f);
        yaml_block(f, s->host_key_private, "    ");
        fputs("  ed25519_public: ", f);
        yaml_quoted(f, s->host_key_public);
        fputc('\n', f);
        fputs(meta_reader, f);

        return finish(f, &buf, ret);
}

int vm_seed_meta_data(const struct vm_seed *s, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (!ret)
                return -EINVAL;
        r = seed_check(s, false);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("instance-id: ", f);
        yaml_quoted(f, s->instance_id);
        fputs("\nlocal-hostname: ", f);
        yaml_quoted(f, s->hostname);
        fputc('\n', f);
        return finish(f, &buf, ret);
}
