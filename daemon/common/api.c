/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/api.h"
#include "common/money.h"
#include "common/util.h"

/* Keys whose value is an amount, wherever they are. */
static const char *const money_keys[] = {
        "balance", "burn_rate", "credited", "refunded", "overshoot", "refund", "kept", "total", "missing", "amount",
        "held_for_funders", "min",
};

/* Keys holding an object whose every value is an amount. */
static const char *const money_maps[] = {
        "charged",
        "items",
        "prices",
};

static bool in(const char *key, const char *const *table, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(key, table[i]))
                        return true;
        return false;
}

static int convert(json_object *o, bool to_strings, bool all);

/* money_parse() with an optional '-': a balance may be shown below zero. */
static int parse_signed(const char *s, int64_t *ret) {
        int64_t v;
        int r;

        r = money_parse(s[0] == '-' ? s + 1 : s, &v);
        if (r < 0)
                return r;
        *ret = s[0] == '-' ? -v : v;
        return 0;
}

/* One value that is money: replaced in parent (an object, at key). */
static int convert_amount(json_object *parent, const char *key, json_object *v, bool to_strings) {
        char buf[MONEY_FORMAT_MAX];
        json_object *n;
        int64_t amount;
        int r;

        if (to_strings) {
                if (!json_object_is_type(v, json_type_int))
                        return 0; /* not ours to change */
                n = json_object_new_string(money_format(buf, sizeof(buf), json_object_get_int64(v)));
        } else {
                if (!json_object_is_type(v, json_type_string))
                        return -EINVAL;
                r = parse_signed(json_object_get_string(v), &amount);
                if (r < 0)
                        return r;
                n = json_object_new_int64(amount);
        }
        if (!n)
                return -ENOMEM;
        if (json_object_object_add(parent, key, n) < 0) {
                json_object_put(n);
                return -ENOMEM;
        }
        return 0;
}

static int convert_object(json_object *o, bool to_strings, bool all) {
        json_object_object_foreach(o, key, v) {
                int r;

                if (all || in(key, money_keys, ARRAY_SIZE(money_keys)))
                        r = convert_amount(o, key, v, to_strings);
                else
                        r = convert(v, to_strings, in(key, money_maps, ARRAY_SIZE(money_maps)));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int convert(json_object *o, bool to_strings, bool all) {
        int r;

        switch (json_object_get_type(o)) {
        case json_type_object:
                return convert_object(o, to_strings, all);
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        r = convert(json_object_array_get_idx(o, i), to_strings, false);
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                return 0;
        }
}

int api_money_to_strings(json_object *o) {
        return convert(o, true, false);
}

int api_money_from_strings(json_object *o) {
        return convert(o, false, false);
}
