/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One line from the QEMU of a VM slice, which runs a buyer's guest
 * (daemon/qmp.c): qmp_parse_line(), qmp_status_from_return().
 * Properties: -EBADMSG or a message of a known kind, *ret untouched on a
 * refusal; every string kept NUL-terminated and printable; the fields of
 * other kinds empty; a status only on a return, a run state's name. */
#include <errno.h>

#include "fuzz.h"
#include "qmp.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct qmp_message m, untouched;
        const char *status;
        int r;

        memset(&m, 0x5a, sizeof(m));
        untouched = m;
        r = qmp_parse_line((const char *) data, size, &m);
        if (r < 0) {
                fuzz_check(r == -EBADMSG && memcmp(&m, &untouched, sizeof(m)) == 0);
                return 0;
        }
        fuzz_check(r == 0);
        fuzz_check(m.kind == QMP_GREETING || m.kind == QMP_RETURN || m.kind == QMP_ERROR || m.kind == QMP_EVENT);
        fuzz_check(fuzz_printable(m.id, sizeof(m.id)) && fuzz_printable(m.event, sizeof(m.event)));
        fuzz_check(fuzz_printable(m.error_class, sizeof(m.error_class)) &&
                   fuzz_printable(m.error_desc, sizeof(m.error_desc)));
        fuzz_check(fuzz_printable(m.status, sizeof(m.status)));
        fuzz_check(m.kind == QMP_EVENT || !m.event[0]);
        fuzz_check(m.kind == QMP_ERROR || (!m.error_class[0] && !m.error_desc[0]));
        fuzz_check(m.kind == QMP_RETURN || !m.status[0]);

        status = qmp_status_from_return(&m);
        fuzz_check(!status || (m.kind == QMP_RETURN && status[0] &&
                               strspn(status, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(status)));
        return 0;
}
