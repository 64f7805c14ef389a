/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixed 300-byte JSON reply both servers send (the size of a top-up reply
 * with its receipt). */
#pragma once
#define REPLY_JSON "{\"ok\": true, \"slice\": \"s-0123456789abcdef\", \"balance\": \"12.500000\", \"currency\": \"EUR\", \"receipt\": \"pr1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"
#define REPLY_LEN (sizeof(REPLY_JSON) - 1)
_Static_assert(REPLY_LEN == 300, "the reply is 300 bytes");
