/* Image path lists: see filelist.h for the rules. */
#include "runtime/filelist.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "formats/errmsg.h"

#define PATH_BYTES 4096 /* the longest path built, NUL included (Linux PATH_MAX) */

static int push_owned(vr_filelist *fl, char *s)
{
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? 2 * fl->cap : 64;
        char **p = cap > SIZE_MAX / sizeof *p ? NULL : realloc(fl->paths, cap * sizeof *p);
        if (!p)
            return -1;
        fl->paths = p;
        fl->cap = cap;
    }
    fl->paths[fl->n++] = s;
    return 0;
}

int vr_filelist_add(vr_filelist *fl, const char *path)
{
    char *s = path ? strdup(path) : NULL;
    if (!s || push_owned(fl, s)) {
        free(s);
        return -1;
    }
    return 0;
}

static void truncate_to(vr_filelist *fl, size_t n)
{
    while (fl->n > n)
        free(fl->paths[--fl->n]);
}

void vr_filelist_free(vr_filelist *fl)
{
    if (!fl)
        return;
    truncate_to(fl, 0);
    free(fl->paths);
    memset(fl, 0, sizeof *fl);
}

int vr_filelist_is_image_name(const char *name)
{
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && !strcasecmp(name + n - k, ext[i]))
            return 1;
    }
    return 0;
}

/* Appends the images below path[0..len) (a directory). path has PATH_BYTES. */
static int walk(vr_filelist *fl, char *path, size_t len, char *err, size_t errlen)
{
    DIR *d = opendir(path);
    if (!d)
        return vf_fail(err, errlen, "%s: cannot open directory: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *name = e->d_name;
        if (name[0] == '.')
            continue; /* ".", "..", hidden entries */
        size_t k = strlen(name);
        if (len + 1 + k + 1 > PATH_BYTES) {
            rc = vf_fail(err, errlen, "%s/%s: path longer than %d bytes", path, name,
                         PATH_BYTES - 1);
            break;
        }
        path[len] = '/';
        memcpy(path + len + 1, name, k + 1);
        int is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
        if (e->d_type == DT_LNK || e->d_type == DT_UNKNOWN) {
            struct stat st, lst;
            /* A link to a file counts as the file; a link to a directory is
             * not followed (no cycles); an unknown type is asked with lstat. */
            if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode))
                is_dir = 1;
            else if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                is_file = 1;
        }
        if (is_dir)
            rc = walk(fl, path, len + 1 + k, err, errlen);
        else if (is_file && vr_filelist_is_image_name(name) && vr_filelist_add(fl, path))
            rc = vf_fail(err, errlen, "out of memory listing %s", path);
        path[len] = 0;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = vf_fail(err, errlen, "%s: cannot read directory: %s", path, strerror(errno));
    closedir(d);
    return rc;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vr_filelist_add_dir(vr_filelist *fl, const char *dir, char *err, size_t errlen)
{
    size_t n0 = fl->n, len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--; /* "dir/" and "dir" give the same paths */
    if (len == 0)
        return vf_fail(err, errlen, "empty directory name");
    if (len >= PATH_BYTES)
        return vf_fail(err, errlen, "%.64s...: path longer than %d bytes", dir, PATH_BYTES - 1);
    char *path = malloc(PATH_BYTES);
    if (!path)
        return vf_fail(err, errlen, "out of memory");
    memcpy(path, dir, len);
    path[len] = 0;
    struct stat st;
    int rc;
    if (stat(path, &st) != 0)
        rc = vf_fail(err, errlen, "%s: %s", path, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = vf_fail(err, errlen, "%s: not a directory (a list file is given as @%s)", path, path);
    else /* the root "/" would otherwise become "//x" */
        rc = walk(fl, path, len == 1 && path[0] == '/' ? 0 : len, err, errlen);
    free(path);
    if (rc) {
        truncate_to(fl, n0);
        return -1;
    }
    qsort(fl->paths + n0, fl->n - n0, sizeof *fl->paths, cmp_path);
    return 0;
}

int vr_filelist_add_listfile(vr_filelist *fl, const char *listpath, char *err, size_t errlen)
{
    int is_stdin = !strcmp(listpath, "-");
    FILE *f = is_stdin ? stdin : fopen(listpath, "r");
    if (!f)
        return vf_fail(err, errlen, "%s: %s", listpath, strerror(errno));
    const char *slash = is_stdin ? NULL : strrchr(listpath, '/');
    size_t baselen = slash ? (size_t)(slash - listpath) + 1 : 0; /* keeps the '/' */
    size_t n0 = fl->n, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t k = (size_t)got;
        if (k && line[k - 1] == '\n')
            k--;
        if (k && line[k - 1] == '\r')
            k--;
        if (memchr(line, 0, k)) {
            rc = vf_fail(err, errlen, "%s:%zu: NUL byte in a path", listpath, lineno);
            break;
        }
        line[k] = 0;
        if (k == 0 || line[0] == '#')
            continue;
        int rel = line[0] != '/' && baselen;
        size_t total = (rel ? baselen : 0) + k;
        if (k > VR_FILELIST_MAX_LINE || total >= PATH_BYTES) {
            rc = vf_fail(err, errlen, "%s:%zu: path longer than %d bytes", listpath, lineno,
                         PATH_BYTES - 1);
            break;
        }
        char *s = malloc(total + 1);
        if (s) {
            if (rel)
                memcpy(s, listpath, baselen);
            memcpy(s + total - k, line, k + 1);
        }
        if (!s || push_owned(fl, s)) {
            free(s);
            rc = vf_fail(err, errlen, "%s:%zu: out of memory", listpath, lineno);
        }
    }
    if (rc == 0 && ferror(f))
        rc = vf_fail(err, errlen, "%s: read error", listpath);
    free(line);
    if (!is_stdin)
        fclose(f);
    if (rc)
        truncate_to(fl, n0);
    return rc;
}

int vr_filelist_add_spec(vr_filelist *fl, const char *spec, char *err, size_t errlen)
{
    if (spec[0] == '@')
        return vr_filelist_add_listfile(fl, spec + 1, err, errlen);
    return vr_filelist_add_dir(fl, spec, err, errlen);
}
