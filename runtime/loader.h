/* Many whole files into memory: the first stage of the image pipeline.
 *
 * vr_loader_read(l, paths, n, out) reads each file completely into a malloc'd
 * buffer. With io_uring, files are opened and sized (fstat) one by one and
 * their reads are kept in flight up to queue_depth at a time; a short read is
 * resubmitted for the rest. When the kernel refuses io_uring (seccomp, old
 * kernels, emulators: io_uring_queue_init fails with EPERM, ENOSYS or EINVAL),
 * or when asked (force_pread, or the environment VIREO_NO_IO_URING=1), the
 * same results come from a plain pread loop; the refusal is reported once per
 * process on stderr.
 *
 * Failures are per file and never fail the batch: a missing or unreadable
 * file, a directory or other non-regular file, or a file over max_file_bytes
 * (refused after fstat, not read) gets err = an errno value and a message
 * starting with its path. A zero-length file loads fine with size 0.
 *
 * A loader is not thread-safe: one thread at a time per loader. */
#ifndef VIREO_RUNTIME_LOADER_H
#define VIREO_RUNTIME_LOADER_H

#include <stddef.h>
#include <stdint.h>

#define VR_LOADER_DEFAULT_QUEUE_DEPTH 64u
#define VR_LOADER_MAX_QUEUE_DEPTH 4096u                      /* larger is clamped */
#define VR_LOADER_DEFAULT_MAX_FILE_BYTES (64ull * 1024 * 1024) /* 64 MiB */

typedef struct vr_loader_opts {
    unsigned queue_depth;    /* reads in flight; 0 means 64; clamped to 4096 */
    uint64_t max_file_bytes; /* larger files are errors (EFBIG); 0 means 64 MiB */
    int force_pread;         /* never use io_uring */
} vr_loader_opts;

typedef struct vr_loaded {
    uint8_t *data; /* size bytes plus a NUL terminator; malloc'd; non-NULL iff err == 0 */
    size_t size;
    int err;       /* 0, or an errno value */
    char msg[256]; /* "" when err == 0, else "<path>: <what went wrong>" */
} vr_loaded;

typedef struct vr_loader vr_loader;

/* o may be NULL (defaults). NULL on failure with a message in err. */
vr_loader *vr_loader_create(const vr_loader_opts *o, char *err, size_t errlen);
void vr_loader_destroy(vr_loader *l); /* accepts NULL */

/* "io_uring" or "pread". */
const char *vr_loader_backend(const vr_loader *l);

/* Reads paths[0..n) into out[0..n) (overwritten, not freed first). Returns the
 * number of files that failed (0..n), or -1 if the arguments are invalid
 * (l NULL, or paths/out NULL with n > 0). n = 0 is valid and returns 0. */
int vr_loader_read(vr_loader *l, const char *const *paths, size_t n, vr_loaded *out);

/* Frees the data of out[0..n) and zeroes them. */
void vr_loaded_free(vr_loaded *out, size_t n);

#endif
