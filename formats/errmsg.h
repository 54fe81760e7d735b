/* The error convention of vireo's readers, loaders and planners: a message
 * into a caller's buffer (which may be NULL or empty), and -1. */
#ifndef VIREO_FORMATS_ERRMSG_H
#define VIREO_FORMATS_ERRMSG_H

#include <stddef.h>

int vf_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
