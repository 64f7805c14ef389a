/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay mint: sign vouchers with an issuer key. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/money.h"
#include "common/parse.h"
#include "common/voucher.h"
#include "prepay.h"

#define MINT_COUNT_MAX 100000
#define MINT_EXPIRES_DEFAULT "365d"

static void help(void) {
        printf("Usage: prepay mint --key KEY --amount AMOUNT --currency CUR [OPTIONS]\n"
               "\n"
               "Signs vouchers: bearer notes worth AMOUNT that any prepayd trusting KEY's\n"
               "public half redeems once. Without --out, prints one voucher per line.\n"
               "Each voucher is money: keep and send them as such.\n"
               "\n"
               "  --key=KEY           The issuer's private key (from prepay keygen)\n"
               "  --amount=AMOUNT     Worth of each voucher: 12.50, 0.000001 (at most 6\n"
               "                      decimals, at most 1000000000)\n"
               "  --currency=CUR      ISO 4217 code, three upper-case letters: EUR\n"
               "  --expires=TIME      Valid for this long from --not-before, that is from\n"
               "                      now by default: 30d, 12h, 1w (default: " MINT_EXPIRES_DEFAULT ")\n"
               "  --not-before=WHEN   Valid from WHEN: \"now\" or Unix time in seconds\n"
               "                      (default: now)\n"
               "  --audience=HOST     Redeemable only on the host with this HostId=\n"
               "                      (default: any host)\n"
               "  --count=N           How many vouchers (default 1, at most %d)\n"
               "  --out=DIR           Write DIR/<voucher-id>.voucher (mode 0600) each and\n"
               "                      print their paths\n"
               "  -h, --help          Show this help\n"
               "\n"
               "See prepay-voucher(5) for the format.\n",
               MINT_COUNT_MAX);
}

/* "1.1234567": the form of an amount, with more decimals than money has. */
static bool too_many_decimals(const char *s) {
        const char *dot = strchr(s, '.');

        if (!dot || dot == s || strspn(s, "0123456789") != (size_t) (dot - s))
                return false;
        return strlen(dot + 1) > 6 && strspn(dot + 1, "0123456789") == strlen(dot + 1);
}

static int arg_amount(const char *s, void *ret) {
        char max[MONEY_FORMAT_MAX];
        int64_t v;
        int r;

        r = money_parse(s, &v);
        if (r == -ERANGE) {
                log_error("Invalid --amount '%s': more than the maximum of %s a voucher may hold.", s,
                          money_format(max, sizeof(max), MONEY_AMOUNT_MAX));
                return r;
        }
        if (r < 0) {
                if (too_many_decimals(s))
                        log_error("Invalid --amount '%s': more than 6 decimals (the smallest amount is 0.000001); "
                                  "prepay does not round money.", s);
                else
                        log_error("Invalid --amount '%s': expected a number such as 12.50: digits, optionally "
                                  "a '.' and up to 6 decimals, no sign or currency.", s);
                return r;
        }
        if (v == 0) {
                log_error("Invalid --amount '%s': a voucher must be worth more than 0.", s);
                return -ERANGE;
        }
        *(int64_t *) ret = v;
        return 0;
}

static int parse_not_before(const char *s, int64_t now, int64_t *ret) {
        uint64_t u;

        if (streq(s, "now")) {
                *ret = now;
                return 0;
        }
        if (parse_u64(s, &u) < 0 || u > INT64_MAX) {
                log_error("Invalid --not-before '%s': expected \"now\" or a Unix time in seconds "
                          "(date -d '2026-12-01 UTC' +%%s gives one).", s);
                return -EINVAL;
        }
        *ret = (int64_t) u;
        return 0;
}

/* Writes DIR/<id>.voucher, created exclusively: a voucher id is random,
 * so an existing file means something is badly wrong. */
static int write_voucher_file(int dir_fd, const char *dir, const char *name, const char *text) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *line = NULL;
        size_t len, done = 0;
        int r;

        if (asprintf(&line, "%s\n", text) < 0)
                return log_oom();
        len = strlen(line);

        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create %s/%s: %m", dir, name);
        while (done < len) {
                ssize_t n = write(fd, line + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(errno, "Failed to write %s/%s: %m", dir, name);
                        (void) unlinkat(dir_fd, name, 0);
                        return r;
                }
                done += (size_t) n;
        }
        return 0;
}

static int arg_audience(const char *s, void *ret) {
        if (!voucher_audience_is_valid(s)) {
                log_error("Invalid --audience '%s': a host id is 1 to %d characters from A-Z a-z 0-9 . _ - (the "
                          "daemon's HostId=, by default its machine id).", s, VOUCHER_AUDIENCE_MAX);
                return -EINVAL;
        }
        *(const char **) ret = s;
        return 0;
}

static int arg_count(const char *s, void *ret) {
        uint64_t *count = ret;

        if (parse_u64(s, count) < 0 || *count < 1 || *count > MINT_COUNT_MAX) {
                log_error("Invalid --count '%s': expected a whole number from 1 to %d.", s, MINT_COUNT_MAX);
                return -EINVAL;
        }
        return 0;
}

int mint_main(int argc, char *argv[]) {
        const char *key_path = NULL, *currency = NULL, *audience = NULL, *out = NULL;
        const char *expires_arg = MINT_EXPIRES_DEFAULT, *not_before_arg = "now";
        /* 0 until --amount: a voucher is never worth 0. */
        int64_t amount = 0, now, not_before, not_after, total;
        uint64_t expires_usec, count = 1;
        const struct arg_option options[] = {
                OPT_STRING("key", &key_path),
                OPT_CALL("amount", arg_amount, &amount),
                OPT_CALL("currency", arg_currency, &currency),
                OPT_STRING("expires", &expires_arg),
                OPT_STRING("not-before", &not_before_arg),
                OPT_CALL("audience", arg_audience, &audience),
                OPT_CALL("count", arg_count, &count),
                OPT_STRING("out", &out),
                {}
        };
        _cleanup_(freep) char *key_error = NULL;
        _cleanup_(closep) int dir_fd = -1;
        struct crypto_key *k = NULL;
        char when[VOUCHER_TIME_STRING_MAX], money[MONEY_FORMAT_MAX];
        uint64_t minted = 0;
        int r, rc = 1;

        r = args_parse_no_operands(argc, argv, options, help, "See 'prepay mint --help'.");
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!key_path || amount == 0 || !currency) {
                log_error("Missing %s. Usage: prepay mint --key KEY --amount AMOUNT --currency CUR [OPTIONS]",
                          !key_path ? "--key" : amount == 0 ? "--amount" : "--currency");
                return 2;
        }

        now = (int64_t) time(NULL);
        r = parse_duration(expires_arg, &expires_usec);
        if (r < 0 || expires_usec < USEC_PER_SEC) {
                log_error("Invalid --expires '%s': expected a time of at least 1s, such as 30d, 12h or 1w.",
                          expires_arg);
                return 2;
        }
        if (parse_not_before(not_before_arg, now, &not_before) < 0)
                return 2;
        /* From not-before, which is now unless given: "--not-before <two
         * hours ago> --expires 1h" mints an expired voucher, for tests. */
        if (expires_usec / USEC_PER_SEC > (uint64_t) (INT64_MAX - not_before)) {
                log_error("Invalid --expires '%s': too far in the future.", expires_arg);
                return 2;
        }
        not_after = not_before + (int64_t) (expires_usec / USEC_PER_SEC);
        if (not_after <= now)
                log_warning("These vouchers expired at %s, before they were minted.",
                            voucher_time_to_string(not_after, when));

        r = crypto_key_load(key_path, &k, &key_error);
        if (r < 0) {
                log_error("Failed to load issuer key %s: %s", key_path, strna(key_error));
                return 1;
        }
        if (!crypto_key_has_private(k)) {
                log_error("%s is a public key; minting needs the issuer's private key (NAME.key from prepay keygen).",
                          key_path);
                goto out;
        }

        if (out) {
                if (mkdir(out, 0700) < 0 && errno != EEXIST) {
                        log_error_errno(errno, "Failed to create directory %s: %m", out);
                        goto out;
                }
                dir_fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0) {
                        log_error_errno(errno, "Failed to open directory %s: %m", out);
                        goto out;
                }
        }

        for (minted = 0; minted < count; minted++) {
                struct voucher v = {
                        .amount = amount,
                        .not_before = not_before,
                        .not_after = not_after,
                };
                char text[VOUCHER_TEXT_MAX], id[VOUCHER_ID_STRING_MAX], name[VOUCHER_ID_STRING_MAX + 8];

                memcpy(v.currency, currency, CURRENCY_SIZE);
                if (audience)
                        strcpy(v.audience, audience);
                r = crypto_random(v.id, sizeof(v.id));
                if (r < 0) {
                        log_error_errno(r, "Failed to get random bytes for a voucher id: %m");
                        break;
                }
                r = voucher_sign(&v, k);
                if (r >= 0)
                        r = voucher_to_text(&v, text, sizeof(text));
                if (r < 0) {
                        log_error_errno(r, "Failed to sign a voucher: %m");
                        break;
                }

                if (!out) {
                        printf("%s\n", text);
                        continue;
                }
                snprintf(name, sizeof(name), "%s.voucher", voucher_id_to_string(v.id, id));
                if (write_voucher_file(dir_fd, out, name, text) < 0)
                        break;
                printf("%s/%s\n", out, name);
        }

        /* Written is not stored: make the files durable before saying so. */
        if (dir_fd >= 0 && minted > 0 && syncfs(dir_fd) < 0)
                log_warning_errno(errno, "Failed to sync %s: %m", out);

        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_error("Failed to write the vouchers to standard output.");
                goto out;
        }

        if (minted < count) {
                if (out && minted > 0)
                        log_error("Stopped after %" PRIu64 " of %" PRIu64 " vouchers; those written in %s are valid.",
                                  minted, count, out);
                goto out;
        }

        if (out) {
                char total_text[MONEY_FORMAT_MAX];

                if (__builtin_mul_overflow(amount, (int64_t) count, &total))
                        snprintf(total_text, sizeof(total_text), "more than %s", "9223372036854.775807");
                else
                        money_format(total_text, sizeof(total_text), total);
                fprintf(stderr, "Minted %" PRIu64 " voucher%s of %s %s (%s %s in all), valid until %s.\n", count,
                        count == 1 ? "" : "s", money_format(money, sizeof(money), amount), currency, total_text,
                        currency, voucher_time_to_string(not_after, when));
        }
        rc = 0;

out:
        crypto_key_free(k);
        return rc;
}
