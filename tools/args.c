/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs' options: one getopt_long loop over each verb's table, one
 * dispatch of sub-verbs, and the option values several verbs share, each
 * with one error message. */
#include <assert.h>
#include <getopt.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

/* Long-only options get values above any character. */
#define ARG_LONG_BASE 0x100

static const struct arg_option *find_option(const struct arg_option *opts, int c) {
        for (size_t i = 0; opts && opts[i].name; i++)
                if (c == (opts[i].short_name ?: ARG_LONG_BASE + (int) i))
                        return &opts[i];
        return NULL;
}

static int take_option(const struct arg_option *o, const char *arg) {
        uint64_t v;

        switch (o->type) {
        case ARG_STRING:
                *(const char **) o->data = arg;
                return 0;
        case ARG_FLAG:
                *(bool *) o->data = true;
                return 0;
        case ARG_U64:
                /* 0 CPUs, bytes, hours or tasks is never what anyone meant. */
                if (o->parse(arg, &v) < 0 || v == 0) {
                        log_error("Invalid --%s value '%s': expected %s.", o->name, arg, o->expected);
                        return -EINVAL;
                }
                *(uint64_t *) o->data = v;
                return 0;
        default:
                return o->call(arg, o->data);
        }
}

int args_parse(int argc, char *argv[], const struct arg_option *opts, bool stop_at_operand, void (*help)(void)) {
        struct option longopts[ARGS_MAX + 2];
        char shortopts[2 * ARGS_MAX + 3], *s = shortopts;
        size_t n = 0;
        int c, r;

        if (stop_at_operand)
                *s++ = '+';
        for (; opts && opts[n].name; n++) {
                bool takes_value = !(opts[n].type == ARG_FLAG || opts[n].type == ARG_ACTION);

                assert(n < ARGS_MAX);
                longopts[n] = (struct option) {
                        .name = opts[n].name,
                        .has_arg = takes_value ? required_argument : no_argument,
                        .val = opts[n].short_name ?: ARG_LONG_BASE + (int) n,
                };
                if (opts[n].short_name) {
                        *s++ = opts[n].short_name;
                        /* "d:": -d 2 and -d2 as --delay=2. */
                        if (takes_value)
                                *s++ = ':';
                }
        }
        /* --help last: getopt names ambiguous abbreviations in table order. */
        longopts[n] = (struct option) { .name = "help", .has_arg = no_argument, .val = 'h' };
        longopts[n + 1] = (struct option) {};
        *s++ = 'h';
        *s = 0;

        /* Afresh for every verb and sub-verb: each has its own argv. */
        optind = 0;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                const struct arg_option *o = find_option(opts, c);

                if (c == 'h') {
                        help();
                        return 0;
                }
                if (!o)
                        return -EINVAL; /* getopt said why */
                r = take_option(o, optarg);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return 1;
}

int args_parse_no_operands(int argc, char *argv[], const struct arg_option *opts, void (*help)(void),
                           const char *hint) {
        int r;

        r = args_parse(argc, argv, opts, false, help);
        if (r > 0 && optind < argc) {
                log_error("Unexpected argument '%s'. %s", argv[optind], hint);
                return -EINVAL;
        }
        return r;
}

static bool required_given(const struct arg_option *opts) {
        for (size_t i = 0; opts && opts[i].name; i++)
                if (opts[i].required && !*(const char **) opts[i].data)
                        return false;
        return true;
}

int args_parse_slice(int argc, char *argv[], const struct arg_option *opts, void (*help)(void), const char *usage,
                     const struct arg_token *t, const char **ret_slice) {
        int r;

        r = args_parse(argc, argv, opts, false, help);
        if (r <= 0)
                return r;
        if (optind + 1 != argc || !required_given(opts)) {
                log_error("%s", usage);
                return -EINVAL;
        }
        if ((t && arg_token_check(t) < 0) || arg_slice(argv[optind]) < 0)
                return -EINVAL;
        *ret_slice = argv[optind];
        return 1;
}

int args_parse_view(int argc, char *argv[], void (*help)(void), const char *usage, bool funder,
                    struct arg_view *ret) {
        struct arg_option options[] = {
                OPT_FLAG("json", &ret->json),
                OPT_TOKEN(&ret->token),
                OPT_TOKEN_FILE(&ret->token),
                OPT_STRING("funder-key", &ret->funder_key),
                {}
        };
        int r;

        if (!funder)
                options[3] = (struct arg_option) {};
        *ret = (struct arg_view) {};
        r = args_parse(argc, argv, options, false, help);
        if (r <= 0)
                return r;
        if (optind + 1 < argc) {
                log_error("Too many arguments. %s", usage);
                return -EINVAL;
        }
        if (arg_token_check(&ret->token) < 0)
                return -EINVAL;
        if (optind < argc)
                ret->slice = argv[optind];
        if (ret->funder_key && (ret->token.given || ret->token.file || !ret->slice)) {
                log_error("--funder-key proves a funder of one slice, without its owner token: name the slice, "
                          "and no --token.");
                return -EINVAL;
        }
        return 1;
}

int args_dispatch(int argc, char *argv[], const struct arg_option *opts, const struct verb *verbs,
                  void (*help)(void), const char *what, const char *prog) {
        int r;

        /* Options end at the verb, whose options are its own. */
        r = args_parse(argc, argv, opts, true, help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (optind >= argc) {
                help();
                return 2;
        }
        for (const struct verb *v = verbs; v->name; v++)
                if (streq(argv[optind], v->name))
                        return v->main(argc - optind, argv + optind);

        log_error("Unknown %s '%s'. See '%s --help'.", what, argv[optind], prog);
        return 2;
}

int arg_invalid(const char *what, const char *s, const char *expected) {
        log_error("Invalid %s '%s': expected %s.", what, s, expected);
        return -EINVAL;
}

int arg_currency(const char *s, void *ret) {
        if (!currency_is_valid(s))
                return arg_invalid("--currency", s, "an ISO 4217 code, three upper-case letters such as EUR or USD");
        *(const char **) ret = s;
        return 0;
}

int arg_voucher_add(const char *s, void *data) {
        struct arg_vouchers *v = data;

        if (v->n >= ARG_VOUCHERS_MAX) {
                log_error("At most %d vouchers go with one request.", ARG_VOUCHERS_MAX);
                return -EINVAL;
        }
        v->path[v->n++] = s;
        return 0;
}

int arg_slice(const char *s) {
        if (!slice_id_is_valid(s)) {
                log_error("Invalid slice id '%s': expected s- and 8 to 16 hex digits.", s);
                return -EINVAL;
        }
        return 0;
}

int arg_token_check(const struct arg_token *t) {
        if (t->given && t->file) {
                log_error("--token and --token-file are two ways of saying the same: give one.");
                return -EINVAL;
        }
        return 0;
}

int arg_token_find(const struct arg_token *t, const char *slice, char **ret) {
        _cleanup_(freep) char *from_file = NULL;
        int r;

        *ret = NULL;
        if (t->file) {
                r = read_one_line_file(t->file, &from_file);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the owner token from %s: %m", t->file);
        }
        /* None at all is for the daemon to judge: the caller may be an
         * operator or the slice's creator. */
        (void) client_find_token(slice, from_file ?: t->given, ret);
        return 0;
}
