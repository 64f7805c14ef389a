/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

/* The HTTP API's amounts (prepay-api(7)): prepayd counts money in
 * micro-units (integers), the API shows it as the CLI does, a string of
 * the currency ("12.50", money_format()). One table of the keys that hold
 * money, shared by prepay-gatewayd (prepayd's replies and events to the
 * API) and prepay --host (back again, so that the CLI prints a remote
 * slice with the code that prints a local one).
 *
 * Money is a key of the table ("balance", "burn_rate", ...) whose value
 * is a number, or any value of an object under a key of the second table
 * ("charged", "items", "prices"), at any depth. Other members are left as
 * they are. Pure: no system call, for tests and fuzzing. */

/* In place: every money integer to its string. -ENOMEM. */
int api_money_to_strings(json_object *o);
/* In place: every money string back to its integer: -EINVAL (a value
 * that is not an amount, money_parse(), or of another type) or -ENOMEM;
 * on failure o may be half converted. */
int api_money_from_strings(json_object *o);
