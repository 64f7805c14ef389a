/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/claim.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/pidfd.h"
#include "common/receipt.h"
#include "common/socket.h"
#include "common/voucher.h"
#include "prepay.h"
#include "remote.h"

#define DEFAULT_SOCKET "/run/prepay/control.sock"

const char *arg_socket = NULL;

const char *client_socket_path(void) {
        return arg_socket ?: getenv("PREPAY_SOCKET") ?: DEFAULT_SOCKET;
}

const char *client_peer(void) {
        const struct remote_host *h = NULL;

        return client_remote(&h) > 0 ? h->origin : client_socket_path();
}

json_object *client_request(const char *op) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(PREPAY_PROTOCOL_VERSION));
        json_object_object_add(o, "op", json_object_new_string(op));
        return o;
}

json_object *client_request_slice(const char *op, const char *slice, const char *token) {
        json_object *o = client_request(op);

        if (!o) {
                log_oom();
                return NULL;
        }
        if (slice)
                json_object_object_add(o, "slice", json_object_new_string(slice));
        if (token)
                json_object_object_add(o, "token", json_object_new_string(token));
        return o;
}

void client_print_json(json_object *o) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
}

int client_run(json_object *req, bool money, bool json, int (*print)(json_object *reply, void *userdata),
               void *userdata) {
        json_object *reply = NULL;
        int r;

        if (!req)
                return 1;
        r = money ? client_call_money(req, &reply) : client_call(req, &reply);
        if (r < 0)
                return 1;
        if (json)
                client_print_json(reply);
        else if (print)
                r = print(reply, userdata);
        json_object_put(reply);
        return r < 0 ? 1 : 0;
}

int client_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = client_socket_path();
        _cleanup_(closep) int fd = -1;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "Socket path %s is too long.", path);
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno == ENOENT || errno == ECONNREFUSED)
                        return log_error_errno(errno, "prepayd is not running (no daemon on %s).", path);
                /* The socket's group is the daemon's ClientGroup=, which
                 * this side cannot know for sure. */
                if (errno == EACCES)
                        return log_error_errno(errno, "Permission denied connecting to %s: your user must be in "
                                               "the daemon's client group (prepay by default); ask the operator.",
                                               path);
                return log_error_errno(errno, "Failed to connect to prepayd on %s: %m", path);
        }
        return TAKE_FD(fd);
}

/* A request that moves this process into a slice: "attach", or "create"
 * with "attach": true. */
static bool request_moves_caller(json_object *req) {
        const char *op = NULL;
        bool attach = false;

        if (message_get_string(req, "op", &op) < 0)
                return false;
        return streq(op, "attach") || (streq(op, "create") && message_get_bool(req, "attach", &attach) >= 0 && attach);
}

/* Sends the request; one that moves this process carries a pidfd of it
 * (SCM_RIGHTS), by which prepayd knows for sure which process to move
 * (prepayd(8)). Without pidfd_open() (Linux < 5.3) it goes without, and
 * prepayd says whether it can do without. */
static int send_request(int fd, const char *text, size_t len, bool with_pidfd) {
        _cleanup_(closep) int pidfd = -1;

        if (with_pidfd) {
                pidfd = pidfd_open_self();
                if (pidfd < 0)
                        log_debug_errno(pidfd, "Failed to open a pidfd of this process, sending without: %m");
        }
        return socket_send_with_fd(fd, text, len, pidfd);
}

int client_call(json_object *req, json_object **ret) {
        const char *text, *err = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        json_object *reply = NULL;
        size_t len;
        ssize_t n;
        bool moves = request_moves_caller(req);
        int r;

        r = client_remote(NULL);
        if (r != 0) {
                if (r > 0)
                        return http_client_call(req, ret);
                json_object_put(req);
                return r;
        }

        r = message_serialize(req, &text, &len);
        if (r < 0) {
                json_object_put(req);
                return log_error_errno(r, "Request too large.");
        }

        fd = client_connect();
        if (fd < 0) {
                json_object_put(req);
                return fd;
        }

        r = send_request(fd, text, len, moves);
        json_object_put(req);
        /* A daemon that refuses the connection (too many of them) says why
         * and closes it, which may come before the request went out: the
         * reason is still there to read. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return log_error_errno(r, "Failed to send the request to prepayd: %m");

        buf = malloc(PREPAY_MSG_MAX + 1);
        if (!buf)
                return log_oom();
        if (r < 0) {
                n = recv(fd, buf, PREPAY_MSG_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
                if (n <= 0)
                        return log_error_errno(r, "Failed to send the request to prepayd: %m");
        } else
                do
                        n = recv(fd, buf, PREPAY_MSG_MAX + 1, MSG_TRUNC);
                while (n < 0 && errno == EINTR);
        if (n < 0)
                return log_error_errno(errno, "Failed to read prepayd's reply: %m");
        if (n == 0)
                return log_error_errno(ECONNRESET, "prepayd closed the connection without replying.");
        if (n > PREPAY_MSG_MAX)
                return log_error_errno(EMSGSIZE, "prepayd's reply is too large.");

        r = message_parse(buf, (size_t) n, &reply, &err);
        if (r < 0)
                return log_error_errno(r, "Malformed reply from prepayd: %s", strna(err));

        return client_reply_take(reply, ret);
}

int client_reply_take(json_object *reply, json_object **ret) {
        int r;

        r = client_reply_check(reply);
        if (r < 0 || !ret)
                json_object_put(reply);
        else
                *ret = reply;
        return r;
}

int client_reply_check(json_object *reply) {
        const char *e = NULL;
        bool ok = false;

        if (message_get_bool(reply, "ok", &ok) >= 0 && ok)
                return 0;
        (void) message_get_string(reply, "error", &e);
        log_error("%s", e ?: "prepayd refused the request without saying why.");
        return -EPROTO;
}

/* A money-moving request is retried with the same request id while the
 * daemon cannot be reached or drops the connection (a restart): the
 * daemon answers a retry with its first answer, so nothing happens twice. */
int client_call_money(json_object *req, json_object **ret) {
        char id[2 * 16 + 1];
        const char *have;
        int r;

        if (message_get_string(req, "request_id", &have) == -ENOENT) {
                r = client_new_request_id(id);
                if (r < 0) {
                        json_object_put(req);
                        return r;
                }
                json_object_object_add(req, "request_id", json_object_new_string(id));
        }

        /* A gateway is retried once, by http.c: a host that does not
         * answer is not a local daemon restarting. */
        for (unsigned attempt = 0;; attempt++) {
                r = client_call(json_object_get(req), ret);
                if (r >= 0 || r == -EPROTO || attempt >= CLIENT_RETRIES || client_remote(NULL) != 0 ||
                    (r != -ENOENT && r != -ECONNREFUSED && r != -ECONNRESET && r != -EPIPE))
                        break;
                log_info("Retrying in %ums with the same request id.", CLIENT_RETRY_MSEC);
                (void) usleep(CLIENT_RETRY_MSEC * 1000);
        }
        json_object_put(req);
        return r;
}

int client_new_request_id(char ret[static 33]) {
        uint8_t b[16];

        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return log_error_errno(errno, "Failed to get random bytes: %m");
        hex_encode(b, sizeof(b), ret);
        return 0;
}

int client_read_voucher(const char *path, char **ret) {
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        int r;

        if (streq(path, "-")) {
                text = malloc(VOUCHER_TEXT_MAX + 64);
                if (!text)
                        return log_oom();
                size = fread(text, 1, VOUCHER_TEXT_MAX + 63, stdin);
                text[size] = 0;
        } else {
                r = read_full_file(path, &text, &size);
                if (r < 0)
                        return log_error_errno(r, "Failed to read voucher file %s: %m", path);
        }
        if (size > VOUCHER_TEXT_MAX + 62)
                return log_error_errno(EFBIG, "%s is too large to be a voucher.", path);
        *ret = TAKE_PTR(text);
        return 0;
}

/* Each non-empty line of text, without the white space around it, into
 * array: a file of change (release --out) holds a voucher a line. */
static int add_voucher_lines(json_object *array, char *text) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                size_t n;

                line += strspn(line, " \t\r\v\f");
                n = strlen(line);
                while (n > 0 && strchr(" \t\r\v\f", line[n - 1]))
                        line[--n] = 0;
                if (n == 0)
                        continue;
                if (json_object_array_length(array) >= ARG_VOUCHERS_MAX)
                        return log_error_errno(E2BIG, "At most %d vouchers go with one request.", ARG_VOUCHERS_MAX);
                if (json_object_array_add(array, json_object_new_string(line)) < 0)
                        return log_oom();
        }
        return 0;
}

int client_add_vouchers(json_object *req, const struct arg_vouchers *v) {
        json_object *array;
        size_t n;
        int r;

        if (v->n == 0)
                return 0;
        array = json_object_new_array();
        if (!array)
                return log_oom();
        for (size_t i = 0; i < v->n; i++) {
                _cleanup_(freep) char *text = NULL;

                size_t before = json_object_array_length(array);

                r = client_read_voucher(v->path[i], &text);
                if (r >= 0)
                        r = add_voucher_lines(array, text);
                /* An empty file is sent as it is: the daemon judges it, after
                 * the caller's rights. */
                if (r >= 0 && json_object_array_length(array) == before &&
                    json_object_array_add(array, json_object_new_string("")) < 0)
                        r = log_oom();
                if (r < 0) {
                        json_object_put(array);
                        return r;
                }
        }
        n = json_object_array_length(array);
        if (n == 1) {
                json_object_object_add(req, "voucher", json_object_get(json_object_array_get_idx(array, 0)));
                json_object_put(array);
        } else
                json_object_object_add(req, "vouchers", array);
        return 0;
}

int client_add_funder_key(json_object *req, const char *path) {
        _cleanup_(freep) char *error = NULL;
        char text[CRYPTO_PUBKEY_TEXT_MAX];
        struct crypto_key *k = NULL;
        int r;

        if (!path)
                return 0;
        r = crypto_key_load(path, &k, &error);
        if (r < 0)
                return log_error_errno(r, "%s: %s", path, error ?: strerror(-r));
        /* The public half only: the private key proves a claim later and
         * never leaves this machine. */
        crypto_key_public_to_text(k, text);
        crypto_key_free(k);
        if (json_object_object_add(req, "funder_key", json_object_new_string(text)) < 0)
                return log_oom();
        return 0;
}

/* The host's id, which a statement is signed for: what its quote says. */
static int host_id(char **ret) {
        json_object *reply = NULL;
        const char *id = NULL;
        int r;

        r = client_call(client_request("quote"), &reply);
        if (r < 0)
                return r;
        r = message_get_string(reply, "host_id", &id);
        if (r >= 0) {
                *ret = strdup(id);
                r = *ret ? 0 : log_oom();
        } else
                r = log_error_errno(EPROTO, "The host did not say its id.");
        json_object_put(reply);
        return r;
}

int client_add_funder_statement(json_object *req, const char *field, char purpose, const char *slice,
                                const char *key_path) {
        _cleanup_(freep) char *error = NULL, *host = NULL;
        char text[CLAIM_TEXT_MAX];
        struct crypto_key *k = NULL;
        int r;

        r = crypto_key_load(key_path, &k, &error);
        if (r < 0)
                return log_error_errno(r, "%s: %s", key_path, error ?: strerror(-r));
        r = host_id(&host);
        if (r >= 0) {
                r = claim_sign(k, purpose, host, slice, (int64_t) now_usec(CLOCK_REALTIME), text);
                if (r < 0)
                        log_error_errno(r, "%s: cannot sign with it: %s", key_path,
                                        r == -EINVAL ? "it holds no private key (the funder's own .key file "
                                                       "signs)" : strerror(-r));
        }
        crypto_key_free(k);
        if (r < 0)
                return r;
        if (json_object_object_add(req, field, json_object_new_string(text)) < 0)
                return log_oom();
        return 0;
}

/* Reads at most max + 1 bytes of fd: one more tells "too large". */
static int read_at_most(int fd, char *buf, size_t max, size_t *ret_size) {
        size_t size = 0;
        ssize_t n;

        while (size <= max) {
                n = read(fd, buf + size, max + 1 - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        buf[size] = 0;
        *ret_size = size;
        return 0;
}

int client_read_ssh_key(const char *path, char **ret) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        int r;

        fd = streq(path, "-") ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open SSH public key %s: %m", path);
        text = malloc(VM_SSH_KEY_MAX + 2);
        if (!text)
                return log_oom();
        r = read_at_most(fd, text, VM_SSH_KEY_MAX, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read SSH public key %s: %m", path);
        if (size > VM_SSH_KEY_MAX)
                return log_error_errno(EFBIG, "%s is too large to be an SSH public key (more than %d bytes).", path,
                                       VM_SSH_KEY_MAX);
        if (size == 0 || strlen(text) != size)
                return log_error_errno(EINVAL, "%s is %s, not an SSH public key.", path,
                                       size == 0 ? "empty" : "binary");
        /* The daemon checks the rest; the half that must never leave this
         * machine is stopped here. */
        if (strstr(text, "PRIVATE KEY"))
                return log_error_errno(EINVAL, "%s is a private key: give its public half (%s.pub, as ssh-keygen "
                                       "writes it).", path, path);
        *ret = TAKE_PTR(text);
        return 0;
}

int client_read_text(const char *path, const char *what, size_t max, char **ret) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(closep) int fd = -1;
        const char *name = streq(path, "-") ? "Standard input" : path;
        size_t size = 0;
        int r;

        fd = streq(path, "-") ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", path);
        text = malloc(max + 2);
        if (!text)
                return log_oom();
        r = read_at_most(fd, text, max, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", streq(path, "-") ? "standard input" : path);
        if (size > max)
                return log_error_errno(EFBIG, "%s is too large to be a %s.", name, what);
        if (strlen(text) != size)
                return log_error_errno(EINVAL, "%s holds a NUL byte: not a %s.", name, what);
        *ret = TAKE_PTR(text);
        return 0;
}

static char *token_dir(void) {
        const char *e;
        char *p = NULL;

        if ((e = getenv("PREPAY_TOKEN_DIR")) && e[0])
                return strdup(e);
        if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/') {
                if (asprintf(&p, "%s/prepay/tokens", e) < 0)
                        return NULL;
                return p;
        }
        if ((e = getenv("HOME")) && e[0] == '/') {
                if (asprintf(&p, "%s/.local/state/prepay/tokens", e) < 0)
                        return NULL;
                return p;
        }
        return NULL;
}

static int mkdir_parents(char *path, mode_t mode) {
        for (char *s = path + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(path, mode) < 0 && errno != EEXIST) {
                        *s = '/';
                        return -errno;
                }
                *s = '/';
        }
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The path of slice's file in the token directory: the slice id, with
 * "@HOST:PORT" for a gateway's slice (remote_token_name(): a token is
 * sent only where it came from), and suffix; -ENOENT when there is no
 * directory. */
static int token_file(const char *slice, const char *suffix, char **ret) {
        _cleanup_(freep) char *dir = token_dir();
        const struct remote_host *h = NULL;
        char name[REMOTE_HOST_MAX + 64];
        int r;

        r = client_remote(&h);
        if (r < 0)
                return r;
        /* Named after the slice: only a well-formed id (no "/", no "..")
         * keeps it inside the token directory. */
        r = remote_token_name(slice, h, name, sizeof(name));
        if (r < 0)
                return r;
        if (!dir)
                return -ENOENT;
        if (asprintf(ret, "%s/%s%s", dir, name, suffix) < 0)
                return -ENOMEM;
        return 0;
}

static int token_path(const char *slice, char **ret) {
        return token_file(slice, "", ret);
}

/* The same, the directory made (0700) on the way. */
static int token_dir_file(const char *slice, const char *suffix, char **ret) {
        _cleanup_(freep) char *dir = token_dir();
        int r;

        if (!dir)
                return -ENOENT;
        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return r;
        return token_file(slice, suffix, ret);
}

int client_save_token(const char *slice, const char *token, char **ret_path) {
        _cleanup_(freep) char *path = NULL, *line = NULL;
        int r;

        r = token_dir_file(slice, "", &path);
        if (r < 0)
                return r;
        if (asprintf(&line, "%s\n", token) < 0)
                return -ENOMEM;
        r = client_write_secret_file(path, line);
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int client_write_change(const char *path, const char *change) {
        _cleanup_(freep) char *line = NULL;
        int r;

        if (!path || !change)
                return 0;
        if (asprintf(&line, "%s\n", change) < 0)
                return log_oom();
        r = client_write_secret_file(path, line);
        if (r < 0) {
                /* The change is money: never lose it. */
                log_error_errno(r, "Failed to write the change to %s: %m. Here it is:", path);
                printf("%s\n", change);
        }
        return r;
}

int client_write_secret_file(const char *path, const char *text) {
        _cleanup_(closep) int fd = -1;
        size_t len = strlen(text);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t) len || fsync(fd) < 0)
                return errno ? -errno : -EIO;
        return 0;
}

/* --token, else $PREPAY_TOKEN, else the one "prepay run" saved. */
int client_find_token(const char *slice, const char *given, char **ret) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        const char *e;

        if (given)
                return (*ret = strdup(given)) ? 0 : -ENOMEM;
        if ((e = getenv("PREPAY_TOKEN")) && e[0])
                return (*ret = strdup(e)) ? 0 : -ENOMEM;
        if (token_path(slice, &path) < 0)
                return -ENOENT;
        if (read_one_line_file(path, &text) < 0)
                return -ENOENT;
        *ret = TAKE_PTR(text);
        return 0;
}

/* Appends line to path (created mode 0600), synced: a receipt file is
 * the payer's record, one receipt per line, oldest first. */
static int append_line(const char *path, const char *line) {
        _cleanup_(closep) int fd = -1;
        size_t len = strlen(line);

        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, line, len) != (ssize_t) len || fsync(fd) < 0)
                return errno ? -errno : -EIO;
        return 0;
}

int client_save_receipt(const char *slice, const char *receipt, char **ret_path) {
        _cleanup_(freep) char *path = NULL, *line = NULL;
        int r;

        r = token_dir_file(slice, ".receipts", &path);
        if (r < 0)
                return r;
        if (asprintf(&line, "%s\n", receipt) < 0)
                return -ENOMEM;
        r = append_line(path, line);
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int client_keep_receipt(const char *slice, json_object *reply, bool say) {
        _cleanup_(freep) char *saved = NULL;
        const char *text = NULL, *error = NULL;
        struct receipt rc;
        int r;

        if (message_get_string(reply, "receipt", &text) < 0)
                return 0;
        /* Only what is a receipt of this slice goes into its file. */
        r = receipt_from_text(text, &rc, &error);
        if (r >= 0 && !streq(rc.slice, slice))
                error = "it is for another slice";
        if (r < 0 || error) {
                log_warning("The daemon's receipt \"%.40s...\" is not one: %s. Not saved.", text, strna(error));
                return -EINVAL;
        }
        r = client_save_receipt(slice, text, &saved);
        if (r < 0)
                log_warning_errno(r, "Failed to save the receipt beside slice %s's token: %m. It is printed below.",
                                  slice);
        if (say || r < 0)
                fprintf(stderr, "prepay: receipt %s%s%s%s\n", text, saved ? " (saved in " : "", strempty(saved),
                        saved ? ")" : "");
        return 0;
}

void client_forget_token(const char *slice) {
        _cleanup_(freep) char *path = NULL;

        if (token_path(slice, &path) >= 0)
                (void) unlink(path);
}
