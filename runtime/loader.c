/* Whole-file reader: io_uring with a pread fallback (see loader.h). */
#include "runtime/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One read request is at most this long (io_uring lengths are 32-bit). */
#define LOADER_CHUNK ((size_t)1 << 30)

struct vr_loader {
    unsigned qd;
    uint64_t max_bytes;
    int uring; /* 1: ring is initialised and used */
    struct io_uring ring;
};

static atomic_int g_fallback_reported;

static void set_msg(vr_loaded *it, int e, const char *path, const char *fmt, ...) {
    it->err = e;
    int k = snprintf(it->msg, sizeof it->msg, "%s: ", path);
    if (k < 0 || (size_t)k >= sizeof it->msg) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg + k, sizeof it->msg - (size_t)k, fmt, ap);
    va_end(ap);
}

static void fail(vr_loaded *it, int e, const char *path, const char *what) {
    free(it->data);
    it->data = NULL;
    it->size = 0;
    set_msg(it, e, path, "%s: %s", what, strerror(e));
}

vr_loader *vr_loader_create(const vr_loader_opts *o, char *err, size_t errlen) {
    vr_loader *l = calloc(1, sizeof *l);
    if (!l) {
        if (err && errlen) snprintf(err, errlen, "loader: out of memory");
        return NULL;
    }
    l->qd = (o && o->queue_depth) ? o->queue_depth : VR_LOADER_DEFAULT_QUEUE_DEPTH;
    if (l->qd > VR_LOADER_MAX_QUEUE_DEPTH) l->qd = VR_LOADER_MAX_QUEUE_DEPTH;
    l->max_bytes = (o && o->max_file_bytes) ? o->max_file_bytes : VR_LOADER_DEFAULT_MAX_FILE_BYTES;
    const char *env = getenv("VIREO_NO_IO_URING");
    int force = (o && o->force_pread) || (env && strcmp(env, "1") == 0);
    if (force) return l;
    int r = io_uring_queue_init(l->qd, &l->ring, 0);
    if (r == 0) {
        l->uring = 1;
        return l;
    }
    if (r == -EPERM || r == -ENOSYS || r == -EINVAL) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&g_fallback_reported, &expected, 1))
            fprintf(stderr, "vireo: io_uring unavailable (%s), reading with pread\n", strerror(-r));
        return l;
    }
    if (err && errlen) snprintf(err, errlen, "loader: io_uring_queue_init: %s", strerror(-r));
    free(l);
    return NULL;
}

void vr_loader_destroy(vr_loader *l) {
    if (!l) return;
    if (l->uring) io_uring_queue_exit(&l->ring);
    free(l);
}

const char *vr_loader_backend(const vr_loader *l) {
    return (l && l->uring) ? "io_uring" : "pread";
}

void vr_loaded_free(vr_loaded *out, size_t n) {
    if (!out) return;
    for (size_t i = 0; i < n; i++) {
        free(out[i].data);
        memset(&out[i], 0, sizeof out[i]);
    }
}

/* Opens and sizes one file and allocates its buffer. Returns the fd (≥ 0) with
 * it->data/size set, or -1 with it->err/msg set. O_NONBLOCK keeps a FIFO from
 * blocking the open; it is cleared again for regular files (io_uring would
 * otherwise report -EAGAIN instead of waiting for the disk). */
static int open_one(const vr_loader *l, const char *path, vr_loaded *it) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        fail(it, errno, path, "open");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail(it, errno, path, "fstat");
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        set_msg(it, e, path, "%s, not a regular file",
                S_ISDIR(st.st_mode) ? "a directory" : "a special file");
        close(fd);
        return -1;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > l->max_bytes ||
        (uint64_t)st.st_size >= SIZE_MAX) {
        set_msg(it, EFBIG, path, "%" PRIu64 " bytes, over the limit of %" PRIu64 " (max_file_bytes)",
                (uint64_t)st.st_size, l->max_bytes);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        fail(it, errno, path, "fcntl");
        close(fd);
        return -1;
    }
    it->size = (size_t)st.st_size;
    it->data = malloc(it->size + 1);
    if (!it->data) {
        it->size = 0;
        set_msg(it, ENOMEM, path, "out of memory for %" PRIu64 " bytes", (uint64_t)st.st_size);
        close(fd);
        return -1;
    }
    it->data[it->size] = 0;
    return fd;
}

static int read_pread(vr_loader *l, const char *const *paths, size_t n, vr_loaded *out) {
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        vr_loaded *it = &out[i];
        int fd = open_one(l, paths[i], it);
        if (fd < 0) {
            failed++;
            continue;
        }
        size_t off = 0;
        while (off < it->size) {
            size_t want = it->size - off;
            if (want > LOADER_CHUNK) want = LOADER_CHUNK;
            ssize_t r = pread(fd, it->data + off, want, (off_t)off);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                fail(it, errno, paths[i], "read");
                break;
            }
            if (r == 0) {
                fail(it, EIO, paths[i], "file shrank while reading");
                break;
            }
            off += (size_t)r;
        }
        if (it->err) failed++;
        close(fd);
    }
    return failed;
}

typedef struct {
    int fd;
    size_t off;
} uring_file;

static void uring_queue_read(struct io_uring_sqe *sqe, const uring_file *f, const vr_loaded *it,
                             size_t i) {
    size_t want = it->size - f->off;
    if (want > LOADER_CHUNK) want = LOADER_CHUNK;
    io_uring_prep_read(sqe, f->fd, it->data + f->off, (unsigned)want, (uint64_t)f->off);
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
}

#define LOADER_IGNORE UINT64_MAX /* user data of neutralised SQEs */

/* After a failed submit, the SQEs still in the ring would go to the kernel with
 * a later submit, perhaps after their buffers are freed: turn them into NOPs
 * and fail their files. Returns how many there were. */
static unsigned neutralise_unsubmitted(struct io_uring *ring, uring_file *fs, vr_loaded *out,
                                       const char *const *paths, int e, int *failed) {
    unsigned ready = io_uring_sq_ready(ring);
    unsigned head = *ring->sq.khead;
    for (unsigned k = 0; k < ready; k++) {
        struct io_uring_sqe *sqe = &ring->sq.sqes[(head + k) & ring->sq.ring_mask];
        uint64_t i = sqe->user_data;
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, LOADER_IGNORE);
        if (i == LOADER_IGNORE) continue;
        fail(&out[i], e, paths[i], "io_uring_submit");
        (*failed)++;
        close(fs[i].fd);
        fs[i].fd = -1;
    }
    return ready;
}

static int read_uring(vr_loader *l, const char *const *paths, size_t n, vr_loaded *out) {
    uring_file *fs = calloc(n, sizeof *fs);
    if (!fs) return read_pread(l, paths, n, out); /* no memory for state: plain loop */
    for (size_t i = 0; i < n; i++) fs[i].fd = -1;
    struct io_uring *ring = &l->ring;
    size_t next = 0;
    unsigned inflight = 0; /* reads queued or in the kernel, ours, this batch */
    int fatal = 0;         /* a ring error: start nothing more, drain, fail the rest */
    int failed = 0;
    for (;;) {
        /* Start new files while there is room. */
        while (!fatal && next < n && inflight < l->qd) {
            size_t i = next++;
            int fd = open_one(l, paths[i], &out[i]);
            if (fd < 0) {
                failed++;
                continue;
            }
            if (out[i].size == 0) {
                close(fd);
                continue;
            }
            fs[i].fd = fd;
            fs[i].off = 0;
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            if (!sqe) { /* cannot happen: ring entries ≥ qd ≥ in flight */
                fail(&out[i], EBUSY, paths[i], "io_uring_get_sqe");
                failed++;
                close(fd);
                continue;
            }
            uring_queue_read(sqe, &fs[i], &out[i], i);
            inflight++;
        }
        if (inflight == 0) break;
        struct io_uring_cqe *cqe;
        int r = fatal ? io_uring_wait_cqe(ring, &cqe) : io_uring_submit_and_wait(ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
            if (!fatal) {
                fatal = -r;
                inflight -= neutralise_unsubmitted(ring, fs, out, paths, fatal, &failed);
                continue;
            }
            /* Cannot even wait: the kernel may still write into the buffers of
             * the reads in flight, so they are failed and leaked, not freed. */
            for (size_t i = 0; i < next; i++) {
                if (fs[i].fd >= 0 && out[i].err == 0) {
                    out[i].data = NULL;
                    fail(&out[i], -r, paths[i], "io_uring_wait_cqe");
                    failed++;
                }
            }
            break;
        }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud == LOADER_IGNORE) continue;
            size_t i = (size_t)ud;
            uring_file *f = &fs[i];
            vr_loaded *it = &out[i];
            int res = cqe->res;
            int done = 1;
            inflight--;
            if (res == -EINTR || res == -EAGAIN) {
                done = 0; /* retry the same range */
            } else if (res < 0) {
                fail(it, -res, paths[i], "read");
            } else if (res == 0) {
                fail(it, EIO, paths[i], "file shrank while reading");
            } else {
                f->off += (size_t)res;
                done = f->off >= it->size; /* a short read: queue the rest */
            }
            if (!done && fatal) {
                fail(it, fatal, paths[i], "io_uring_submit");
            } else if (!done) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
                if (sqe) {
                    uring_queue_read(sqe, f, it, i);
                    inflight++;
                    continue;
                }
                fail(it, EBUSY, paths[i], "io_uring_get_sqe");
            }
            if (it->err) failed++;
            close(f->fd);
            f->fd = -1;
        }
        io_uring_cq_advance(ring, seen);
    }
    if (fatal) {
        for (size_t i = next; i < n; i++) { /* files never started */
            fail(&out[i], fatal, paths[i], "io_uring_submit");
            failed++;
        }
    }
    free(fs);
    return failed;
}

int vr_loader_read(vr_loader *l, const char *const *paths, size_t n, vr_loaded *out) {
    if (!l || (n > 0 && (!paths || !out))) return -1;
    if (n == 0) return 0;
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (!paths[i]) {
            out[i].err = EINVAL;
            snprintf(out[i].msg, sizeof out[i].msg, "(null): no path");
        }
    }
    /* NULL paths are reported above; give the backends only real ones. */
    int failed = 0;
    size_t b = 0;
    while (b < n) {
        if (!paths[b]) {
            failed++;
            b++;
            continue;
        }
        size_t e = b;
        while (e < n && paths[e]) e++;
        failed += l->uring ? read_uring(l, paths + b, e - b, out + b)
                           : read_pread(l, paths + b, e - b, out + b);
        b = e;
    }
    return failed;
}
