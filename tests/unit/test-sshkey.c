/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SSH public keys (daemon/common/sshkey.c). The keys are real: made by
 * ssh-keygen 9 (-t ed25519, rsa -b 2048/3072/1024, ecdsa -b 256/384/521),
 * with the fingerprints "ssh-keygen -lf" printed for them. The sk-* keys
 * cannot be made without a security key: their blobs were put together
 * by hand from PROTOCOL.u2f, and ssh-keygen -lf read them and printed
 * the fingerprints below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/encoding.h"
#include "common/sshkey.h"
#include "common/util.h"

/* The base64 of the ed25519 and nistp256 keys below (the latter without
 * its last two characters), for the refusals. */
#define ED "AAAAC3NzaC1lZDI1NTE5AAAAIAvfbGvymdkW2it1BTw5hR5l7N1p5xOiKCBeB0BowkjS"
#define EC                                                                                        \
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAwLeXa3UBBfgsI8VRi0xZrc65nHHX4zTKF" \
        "McNcR2Sd0XSIVSIz394uGBAfA6znh4YIv9Wr+ewnsqZEBVSaN0x"

struct vector {
        const char *line;        /* the .pub file's text */
        const char *fingerprint; /* ssh-keygen -lf */
};

static const struct vector good[] = {
        { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAvfbGvymdkW2it1BTw5hR5l7N1p5xOiKCBeB0BowkjS test@ed25519\n",
          "SHA256:jzr/kSKh56WYgpU1V3wRTddH7hk2C9O1ysxkstkgfn0" },
        { "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQClyCSUkoEe8MoIzRIVJ5GATcw5kHXExYwUrhahWmKMoxKmqd9iVxQtqIQUcpkpcRX3dD12b3KOYCtbbHcHa/O5kZz6RgRvupk+STB4sPWEV/RrhOKeQwfSesjhnlkEJwwnrxo2571asS5IZIzlSGnWOqTgleX6Aq8lAw5laUpLcypJgM5svUAfJ4ihPbyk0TiZxhMiNu9jGAYzTrL3l45yVv23xgqMr3ITqcMK1dsXim7vKs1Uhov+XZoeGTVh4MiPuQ7p+JeqCn72XUmzHY5wTof3++Q8oYZkfbX6Wqe4E9xoHJky5Fa/HNJ7MtxodPbFTeWQa1ipGmnekkO4bufZ test@rsab2048\n",
          "SHA256:3SiyjBpHQC91yx5Brqbkxhl9ZQbpRbAxRgCIP9iwX1E" },
        { "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCqnWWhgfwNlOtCiEcRMjfnqzyTYIvRzF6jZiBsOgz6HmcLK2IvJ7NeHc/Cn85IITslixW8xbXcAo4po6nF52xHipV+AiZe59sH+wUoBwv2zgszg8ljTh5v0rF8sal6uk+cxNOZrk+Twy4gQ3EH4MKbCU6sh2s2lm3PMQ6N3lcxhbtc7BhdxOqeFrLwEPPlDsh2u8uNYc8SBYF/K1uFNlvhfQUpHcim+FkJaYRh2Ys8slBR5sizBntciq2U7+B/wIWFSZdLuk7oPsEnFvuZZ7jUNeHoLde8MWYDsMYt0qD+XzL1Pz0Ei9uAI0juQyJXmqe2DLzLvZ1eQtgYb+sCSMaPh2mRhTKvGtHbtzYZDMJniMGqqhnmIiAX6HgjQN35rJGX4Vbd1XTeOJg7F+BH+81e3Kc2i7jZVvmA/FWqkeH9iO1GQZ4RLYqKL7w45Wma+G3PnVNWh3TFOjYr72PDxXUmTJ1vRLk+eG3YGwg/vPRIsvfqBffk3Dwy/3KvUMkccB0= \n",
          "SHA256:oWKfwSUD2/F1bXrskmguAJTaoDiX7hjJ5JXSraaf6tE" },
        { "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAwLeXa3UBBfgsI8VRi0xZrc65nHHX4zTKFMcNcR2Sd0XSIVSIz394uGBAfA6znh4YIv9Wr+ewnsqZEBVSaN0xA= test@ecdsab256\n",
          "SHA256:P1n4WVq7I6y/HDXF7GdHKqNdXc7e7w3KR0kut/j3fUU" },
        { "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBF/uKuCrvkvcG+2rVCnbeQpeW+pa2DsRqg25luGudoFPKyKjy2WpktTUr6PtRT9+DrbR5rzN8Aj4fxwMVqioReEj+1NfPn5D5moHoBYzGdvbtqx+95WyWngVzko2pnarSg== test@ecdsab384\n",
          "SHA256:seNN4X1KrCWqV2FQADANRUQFI7O1idAjozOQYoQLQ2E" },
        { "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAAFxbAdKlTuprOzXYRz2q+kP37M0sswvcHHNwZOxSdjQDW9wEa76EsFTlUyIlZi5dTgyxydFvjHcgICjAtUU2PqiQDpAUSlk0YxInLQPgVjy098KAPEKw4Doja2Aytx5JdKsfZcyy6Rrp5eF523ap9Wa0uByDlG2L7EmgiJ292uV58pMw== test@ecdsab521\n",
          "SHA256:cGACwxifnHUSVJRv5mPhrvECQzBo5HNYujs9t0hCT+E" },
        { "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gAAAABHNzaDo= sk@test\n",
          "SHA256:nX0hpi5mKbTIJ10yBq5/sLQhiI1Y0RBAqN0drDdgJWs" },
        { "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBAwLeXa3UBBfgsI8VRi0xZrc65nHHX4zTKFMcNcR2Sd0XSIVSIz394uGBAfA6znh4YIv9Wr+ewnsqZEBVSaN0xAAAAAEc3NoOg== sk@test\n",
          "SHA256:hbO/NA1RPh0s21ZjW5FtJMDueyeLrTzM6e4/rWcqxyg" },
};

static const char rsa1024[] = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQClyTcjwSBNx3SE/TxxW9QeNusjd0TEf0bwMT+gpRn7FVqS4OFfLL9y5wmJWdpCt/4kzCQuH0jDWYEEuC5c34UZX1kAt+Ntdxq/4LB5k8lg0zdJENtPbhL6VAgFuEwjmfqr+GmBtay+W7sT/exm2cXrntqg6xKt9rTQE4YHOK6+gQ== test@rsab1024\n";

static void test_parse_good(void **state _unused_) {
        char error[256], fp[SSH_FINGERPRINT_MAX];

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                const char *line = good[i].line;
                _cleanup_(freep) char *key = NULL;
                size_t type_b64;

                if (ssh_public_key_parse(line, strlen(line), &key, error, sizeof(error)) != 0)
                        fail_msg("refused %s: %s", line, error);
                /* The canonical text is the line without its comment. */
                type_b64 = strchr(strchr(line, ' ') + 1, ' ') - line;
                assert_int_equal(strlen(key), type_b64);
                assert_memory_equal(key, line, type_b64);
                assert_int_equal(ssh_public_key_fingerprint(key, fp, sizeof(fp)), 0);
                assert_string_equal(fp, good[i].fingerprint);
                assert_int_equal(ssh_public_key_fingerprint(key, fp, sizeof(fp) - 1), -ENOBUFS);
        }
}

static void test_parse_forms(void **state _unused_) {
        static const char *const forms[] = {
                "ssh-ed25519 " ED,
                "ssh-ed25519 " ED "\n",
                "ssh-ed25519 " ED "\r\n",
                "ssh-ed25519\t" ED "  a b c ",
                "ssh-ed25519 " ED " jos\xc3\xa9@laptop",
        };

        for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
                _cleanup_(freep) char *key = NULL;

                assert_int_equal(ssh_public_key_parse(forms[i], strlen(forms[i]), &key, NULL, 0), 0);
                assert_string_equal(key, "ssh-ed25519 " ED);
        }
}

static void expect_refused(const char *text, size_t size, const char *error_start) {
        char error[256] = "untouched";
        char *key = NULL;

        if (ssh_public_key_parse(text, size, &key, error, sizeof(error)) != -EINVAL)
                fail_msg("accepted %.*s", (int) size, text);
        assert_null(key);
        if (!strneq(error, error_start, strlen(error_start)))
                fail_msg("refused %.*s with '%s', not '%s...'", (int) size, text, error, error_start);
}

static void test_parse_bad(void **state _unused_) {
        static const char *const bad[][2] = {
                { "", "not an SSH public key: it is empty" },
                { "\n", "not an SSH public key: it is empty" },
                { " ssh-ed25519 " ED, "not an SSH public key: it starts" },
                { "ssh-ed25519", "not an SSH public key: no key follows" },
                { "ssh-ed25519 ", "not an SSH public key: no key follows" },
                { "ssh-dss AAAAB3NzaC1kc3M=", "not an SSH public key: unknown key type 'ssh-dss'" },
                { "command=\"/bin/sh\" ssh-ed25519 " ED, "not an SSH public key: it begins with options" },
                { "no-pty ssh-ed25519 " ED, "not an SSH public key: it begins with options" },
                /* Two lines: a second key, or YAML, smuggled in. */
                { "ssh-ed25519 " ED "\nssh-ed25519 " ED, "not an SSH public key: more than one line" },
                { "ssh-ed25519 " ED " x\n\n", "not an SSH public key: more than one line" },
                { "ssh-ed25519 " ED "\r", "not an SSH public key: it holds a control" },
                { "ssh-ed25519 " ED "\x1b[2J", "not an SSH public key: it holds a control" },
                /* Not base64, not canonical base64, unpadded. */
                { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAvfbGvymdkW2it1BTw5hR5l7N1p5xOiKCBeB0Bowk-S",
                  "not an SSH public key: the key is not valid base64" },
                { "ecdsa-sha2-nistp256 " EC "B=", "not an SSH public key: the key is not valid base64" },
                { "ecdsa-sha2-nistp256 " EC "A", "not an SSH public key: the key is not valid base64" },
                /* The type outside and inside differ. */
                { "ssh-rsa " ED, "not an SSH public key: the key inside is not of type ssh-rsa" },
                { "ecdsa-sha2-nistp384 " EC "A=", "not an SSH public key: the key inside" },
                /* ed25519 blob with its key cut to 31 bytes; with a byte after it. */
                { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHwvfbGvymdkW2it1BTw5hR5l7N1p5xOiKCBeB0Bowkg=",
                  "not an SSH public key: the Ed25519 key is not 32 bytes" },
                { "ssh-ed25519 " ED "AA==", "not an SSH public key: more data follows the key" },
                /* sk-ed25519 without its application. */
                { "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoL"
                  "DA0ODxAREhMUFRYXGBkaGxwdHh8g",
                  "not an SSH public key: the security key's application is missing" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                expect_refused(bad[i][0], strlen(bad[i][0]), bad[i][1]);
        expect_refused(rsa1024, strlen(rsa1024), "RSA key of 1024 bits, at least 2048 are needed");
        /* A NUL is a control character too. */
        expect_refused("ssh-ed25519 " ED "\0", 82, "not an SSH public key: it holds a control");
}

static void test_parse_too_long(void **state _unused_) {
        _cleanup_(freep) char *text = malloc(SSH_KEY_TEXT_MAX + 1);
        const char *ed = good[0].line;
        char *key = NULL;

        assert_non_null(text);
        /* A long comment: fine up to the limit, refused past it. */
        memset(text, 'x', SSH_KEY_TEXT_MAX + 1);
        memcpy(text, ed, strlen(ed) - 1);
        assert_int_equal(ssh_public_key_parse(text, SSH_KEY_TEXT_MAX, &key, NULL, 0), 0);
        free(key);
        key = NULL;
        expect_refused(text, SSH_KEY_TEXT_MAX + 1, "not an SSH public key: longer than 8192 bytes");
}

/* A 2048-bit modulus written with an extra leading zero byte is not the
 * mpint's one encoding. */
static void test_rsa_mpint(void **state _unused_) {
        const char *line = good[1].line; /* RSA 2048 */
        uint8_t blob[512], bad[520];
        char text[1024];
        size_t size, off;

        assert_int_equal(base64_decode(line + 8, strchr(line + 8, ' ') - (line + 8), blob, sizeof(blob), &size), 0);
        /* string "ssh-rsa", mpint e (3 bytes), then n's length. */
        off = 4 + 7 + 4 + 3;
        assert_int_equal(blob[off + 3], 0x01);
        assert_int_equal(blob[off + 4], 0x00); /* n's leading zero */
        memcpy(bad, blob, off);
        bad[off] = 0, bad[off + 1] = 0, bad[off + 2] = 0x01, bad[off + 3] = 0x02;
        bad[off + 4] = 0;
        memcpy(bad + off + 5, blob + off + 4, size - off - 4);
        strcpy(text, "ssh-rsa ");
        base64_encode(bad, size + 1, text + 8);
        expect_refused(text, strlen(text), "not an SSH public key: the RSA modulus is malformed");
}

static void test_fingerprint_bad(void **state _unused_) {
        char fp[SSH_FINGERPRINT_MAX];

        assert_int_equal(ssh_public_key_fingerprint("ssh-ed25519", fp, sizeof(fp)), -EINVAL);
        assert_int_equal(ssh_public_key_fingerprint("ssh-dss AAAA", fp, sizeof(fp)), -EINVAL);
        assert_int_equal(ssh_public_key_fingerprint("ssh-ed25519 AAA", fp, sizeof(fp)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_forms),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_parse_too_long),
                cmocka_unit_test(test_rsa_mpint),
                cmocka_unit_test(test_fingerprint_bad),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
