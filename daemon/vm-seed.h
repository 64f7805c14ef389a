/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The NoCloud seed of one VM: the user-data and meta-data texts
 * cloud-init reads from the seed disk. Pure code; unit-tested in
 * tests/unit/test-vm-seed.c, fuzzed by fuzz-vm-seed.
 *
 * Every value interpolated into the YAML is checked, whoever checked it
 * before: printable ASCII only (a byte outside 0x20..0x7e is -EINVAL),
 * written as a double-quoted scalar ('"' and '\' escaped). The private
 * host key is the only multi-line value: a block scalar, each line
 * printable, none empty or starting with a space or tab (which would
 * change the block's indentation). The hostname is a DNS label (1..63 of
 * A-Z, a-z, 0-9, '-', not starting or ending with '-'). */

/* The guest's metadata port, a virtio-serial port of this name (vm.c
 * writes it, the reader the user-data installs reads it). */
#define VM_META_PORT "org.prepay.meta"

struct vm_seed {
        const char *instance_id;      /* the slice id */
        const char *hostname;         /* the slice id too */
        const char *user;             /* the image's User= */
        const char *ssh_key;          /* canonical "TYPE BASE64" from ssh_public_key_parse() */
        const char *host_key_private; /* OpenSSH private key text (multi-line) of the guest's ed25519 host key */
        const char *host_key_public;  /* "ssh-ed25519 AAAA..." */
};

/* "#cloud-config\n...": the user (with passwordless sudo and the buyer's
 * key; for "root", root's key and disable_root: false instead), no
 * password log-in, no host keys made in the guest but the one given.
 * malloc'd into *ret. -EINVAL for a value that is missing or not safe,
 * -ENOMEM. */
int vm_seed_user_data(const struct vm_seed *s, char **ret);
/* "instance-id: \"...\"\nlocal-hostname: \"...\"\n", malloc'd. */
int vm_seed_meta_data(const struct vm_seed *s, char **ret);
