/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay: the CLI. A table of subcommands, one file each (cmd-*.c). */
#include <stdio.h>

#include "common/log.h"
#include "prepay.h"

#ifndef PREPAY_VERSION
#define PREPAY_VERSION "0.1"
#endif

static const struct verb commands[] = {
        { "run", run_main, "buy a slice with a voucher and run a command in it" },
        { "topup", topup_main, "add a voucher's amount to a slice (anyone may)" },
        { "release", release_main, "stop a slice's work and get its balance back as change" },
        { "claim", claim_main, "take a funder's share of a released slice back as change" },
        { "funders", funders_main, "who funded a slice, and each one's position" },
        { "sponsor", sponsor_main, "offer a slice's periods to sponsors, bid, see the sponsor" },
        { "invest", invest_main, "open a slice to investors, on terms (its owner)" },
        { "pay", pay_main, "pay a slice as one of its users: revenue, split with its investors" },
        { "status", status_main, "show a slice's limits, usage, balance and charges" },
        { "list", list_main, "list slices" },
        { "report", report_main, "a slice's balance and events over its life, as text or an SVG chart" },
        { "top", top_main, "slices by burn or time left, live, in the manner of systemd-cgtop" },
        { "events", events_main, "follow slice events as they happen" },
        { "quote", quote_main, "what a size costs at full use, itemised" },
        { "images", images_main, "list the VM images a slice may be bought with" },
        { "kill", kill_main, "kill every process in a slice; the slice and its money stay" },
        { "destroy", destroy_main, "kill an unfunded slice's processes and remove it" },
        { "reload", reload_main, "make prepayd read its configuration again (operators)" },
        { "keygen", keygen_main, "make an issuer's Ed25519 key pair" },
        { "mint", mint_main, "sign vouchers with an issuer key" },
        { "voucher", voucher_main, "show and check a voucher offline" },
        { "receipt", receipt_main, "check or show a payment's signed receipt offline" },
        { "ledger", ledger_main, "verify or export the ledger (operators)" },
        {}
};

static void help(void) {
        printf("Usage: prepay [--socket=PATH | --host=https://HOST[:PORT] [--pin=PIN]] COMMAND [ARGS...]\n\n"
               "Commands:\n");
        for (const struct verb *v = commands; v->name; v++)
                printf("  %-10s %s\n", v->name, v->summary);
        printf("\nOptions:\n"
               "  --socket=PATH  prepayd's control socket (default $PREPAY_SOCKET or\n"
               "                 /run/prepay/control.sock)\n"
               "  --host=URL     Buy from prepay-gatewayd at https://HOST[:PORT] instead\n"
               "                 (default $PREPAY_HOST, unless --socket is given): run,\n"
               "                 topup, status, report, events, release, kill, quote,\n"
               "                 images\n"
               "  --pin=PIN      With --host: trust the server by the SHA-256 of its\n"
               "                 public key, sha256:BASE64 as the gateway logs it,\n"
               "                 instead of the system's CA store (default $PREPAY_PIN)\n"
               "  -h, --help     Show this help; COMMAND --help for a command's\n"
               "  --version      Show the version\n"
               "\nSee prepay(1).\n");
}

static int show_version(const char *arg, void *data) {
        printf("prepay %s\n", PREPAY_VERSION);
        return 1;
}

int main(int argc, char *argv[]) {
        const struct arg_option options[] = {
                OPT_STRING("socket", &arg_socket),
                OPT_STRING("host", &arg_host),
                OPT_STRING("pin", &arg_pin),
                { .name = "version", .type = ARG_ACTION, .call = show_version },
                {}
        };

        log_set_program("prepay");

        return args_dispatch(argc, argv, options, commands, help, "command", "prepay");
}
