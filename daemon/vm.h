/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common/message.h"
#include "vm-image.h"

/* The guest of a VM slice, everything about it but its cgroups (slices.c
 * puts QEMU into the slice, and the meter and the ladder act on that
 * cgroup as on any other): the checks of a request before money moves,
 * the guest's files (a copy-on-write overlay on the operator's image, a
 * NoCloud seed with the buyer's SSH key and a host key made here, the
 * console log), the forwarded SSH port, QEMU's command line, watching
 * QEMU (its pidfd) and the guest's sshd (a banner on the forwarded port),
 * the ACPI power-down at release, and the record that lets a restarted
 * daemon take a running guest back.
 *
 * Files: [VM] Directory=/<slice id>/, root's, setgid to the group of
 * User= and sticky (3770), so that QEMU reaches them without a chown:
 *   disk.qcow2  the overlay (0660: QEMU writes it)
 *   seed.iso    cloud-init's NoCloud seed (0640)
 *   console.log the serial console (0660)
 *   qmp.sock    made by QEMU
 * QEMU may add files but not remove or replace the daemon's; what the
 * daemon trusts (the pid, the port, the sizes) is kept in the slice's
 * state file, not here. */

struct config;
struct vms;
struct vm;

enum vm_state {
        VM_STOPPED,   /* no QEMU: not started, exited, killed */
        VM_BOOTING,   /* QEMU runs, the guest's sshd has not answered yet */
        VM_RUNNING,   /* sshd answered on the forwarded port */
        VM_STOPPING,  /* asked to power off (release) */
};

/* What a request asks for, checked by vms_plan() before money moves. */
struct vm_request {
        const char *image;     /* a name in ImagesDirectory= */
        const char *ssh_key;   /* the text of the buyer's .pub file */
        uint64_t disk_size;    /* 0: the image's minimum */
        uint64_t cpus_milli;   /* the slice's CPUs: vCPUs, rounded up */
        uint64_t memory_max;   /* the slice's memory limit: guest RAM + MemoryOverhead= */
};

struct vm_plan {
        struct vm_image image;
        char *ssh_key;         /* canonical "TYPE BASE64" */
        uint64_t vcpus;
        uint64_t guest_memory; /* bytes, a whole number of MiB */
        uint64_t disk_size;
};

void vm_plan_done(struct vm_plan *p);

/* Called when a guest's state changes (QEMU exited, sshd answered). */
struct vm_callbacks {
        void (*state_changed)(struct vm *vm, const char *slice_id, enum vm_state old, void *userdata);
};

/* The host's side: configuration, accelerator, ports in use. Makes
 * [VM] Directory= (0711) when it is missing. */
int vms_new(const struct config *config, sd_event *event, struct vms **ret);
/* Frees every guest's watch; QEMU processes and files stay. Accepts NULL. */
void vms_free(struct vms *v);
void vms_set_callbacks(struct vms *v, const struct vm_callbacks *cb, void *userdata);
/* "kvm" or "tcg", as found at start. */
const char *vms_accelerator(struct vms *v);
/* The images, for "prepay images": a JSON array. */
int vms_list_images(struct vms *v, json_object **ret, char **ret_error);

/* Checks a request: the image exists, the key is an SSH public key, the
 * disk is within the image's minimum and MaxDiskSize=, the memory leaves
 * the guest its minimum after QEMU's overhead. -EINVAL/-ENOENT with a
 * sentence for the buyer; nothing is made. */
int vms_plan(struct vms *v, const struct vm_request *req, struct vm_plan *ret, char **ret_error);
/* The memory limit a plan needs (guest RAM + overhead), for pricing. */
uint64_t vms_memory_max(struct vms *v, const struct vm_plan *p);

/* Makes the guest's files and reserves a port for slice id. Failing (a
 * full disk), nothing is left behind. */
int vm_new(struct vms *v, const char *id, const struct vm_plan *plan, struct vm **ret, char **ret_error);
/* QEMU's command line (NULL-terminated; free with vm_argv_free()). */
int vm_argv(struct vm *vm, char ***ret);
/* The uid and gids QEMU runs as (User=, and kvm where it exists). */
int vms_user(struct vms *v, uid_t *ret_uid, gid_t *ret_gid, gid_t *ret_groups, size_t *ret_n_groups);
/* QEMU was started as pid: watch it and the guest's sshd. */
int vm_started(struct vm *vm, pid_t pid);
/* ACPI power-down (QMP system_powerdown), QEMU killed after
 * ShutdownTimeoutSec= (at once unless graceful); done() runs once QEMU
 * is gone. 0: not running (done() is not called), 1: it will be.
 * Another call replaces the waiter. */
int vm_stop(struct vm *vm, bool graceful, void (*done)(void *userdata), void *userdata);
/* Forgets a waiter of vm_stop() (its connection is gone). */
void vms_cancel_waiter(struct vms *v, void *userdata);
/* Removes the guest's files and frees its port; QEMU must be gone. Frees vm. */
void vm_remove(struct vm *vm);
/* The files of a guest whose slice vanished while the daemon was away. */
void vms_remove_files(struct vms *v, const char *id);
/* Frees vm only (the daemon stops: QEMU runs on). Accepts NULL. */
void vm_free(struct vm *vm);

/* The largest text a guest is told on its metadata port (VM_META_PORT,
 * vm-seed.h). */
#define VM_META_MAX 4096
/* What the guest is to know now: text is whole lines (each ending in
 * "\n", none empty; "" for nothing), sent to the guest's metadata port
 * now if QEMU runs, else when it next does (a restarted QEMU is told
 * again). -EINVAL for text that is not such lines or too long. */
int vm_set_meta(struct vm *vm, const char *text);
enum vm_state vm_get_state(struct vm *vm);
const char *vm_state_to_string(enum vm_state s);
uint64_t vm_disk_size(struct vm *vm);
pid_t vm_pid(struct vm *vm);
/* For status and events; frozen: the slice's cgroup is frozen (paused). */
void vm_info(struct vm *vm, bool frozen, struct slice_vm_info *ret);

/* The record in the slice's state file, and back (after a restart: QEMU
 * is found again by its pid, the QMP socket by its path). */
int vm_to_json(struct vm *vm, json_object **ret);
int vm_from_json(struct vms *v, const char *id, json_object *o, struct vm **ret);
/* After vm_from_json(): vm_pid() is the recorded QEMU, stopped until its
 * slice has checked that the pid is still its process and pinned it
 * (pidfd, taken): then it is watched again. */
int vm_take_back(struct vm *vm, int pidfd);
/* Frees a command line of vm_argv(). Accepts NULL. */
void vm_argv_free(char **argv);
