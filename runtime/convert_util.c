#include "convert_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_MAX (1 << 20)

int vr_convert_labels(vw_writer *w, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open labels", path);
        return -1;
    }
    char *buf = malloc(LABELS_MAX);
    size_t len = buf ? fread(buf, 1, LABELS_MAX - 1, f) : 0;
    int toolong = buf && !feof(f);
    fclose(f);
    const char *why = !buf ? "out of memory"
                      : toolong ? "labels file over 1 MB"
                      : memchr(buf, 0, len) ? "labels contain NUL bytes"
                                            : NULL;
    if (why) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    buf[len] = 0;
    int rc = vw_writer_kv_str(w, "labels", buf);
    free(buf);
    if (rc)
        snprintf(err, errlen, "%s", vw_writer_error(w));
    return rc;
}

void vr_dims_str(char *buf, size_t len, const int64_t *dims, int n)
{
    size_t p = 0;
    if (len)
        buf[0] = 0;
    for (int i = 0; i < n && i < 8 && p < len; i++)
        p += (size_t)snprintf(buf + p, len - p, "%s%lld", i ? "," : "", (long long)dims[i]);
}
