/* Evaluation set readers (tools/datasets.h). The list files are trusted no
 * more than any input: every line is checked and a malformed one is an error
 * naming the file and line. */
#include "datasets.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"

static char *join(const char *dir, const char *rel)
{
    while (*rel == '/')
        rel++;
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    size_t k = 0;
    while (s[k] == ' ' || s[k] == '\t')
        k++;
    if (k)
        memmove(s, s + k, n - k + 1);
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (end == s || *end || errno || v < 0 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int set_push(ds_set *s, size_t *cap, char *path, int label, char *title, char *text)
{
    if (s->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        char **p = realloc(s->paths, nc * sizeof *p);
        if (p)
            s->paths = p;
        int *l = realloc(s->label, nc * sizeof *l);
        if (l)
            s->label = l;
        char **t = realloc(s->title, nc * sizeof *t);
        if (t)
            s->title = t;
        char **x = realloc(s->text, nc * sizeof *x);
        if (x)
            s->text = x;
        if (!p || !l || !t || !x)
            return -1;
        *cap = nc;
    }
    s->paths[s->n] = path;
    s->label[s->n] = label;
    s->title[s->n] = title;
    s->text[s->n] = text;
    s->n++;
    return 0;
}

void ds_set_free(ds_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->paths[i]);
        free(s->title[i]);
        free(s->text[i]);
    }
    free(s->paths);
    free(s->label);
    free(s->title);
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* Splits line at commas into at most max fields (trimmed); returns the count. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    for (int i = 0; i < n; i++)
        trim(f[i]);
    return n;
}

/* "rel/path.jpg, fine, coarse" lines. */
static int load_list(const char *dir, const char *name, size_t limit, ds_set *s, char *err,
                     size_t errlen)
{
    char *file = join(dir, name);
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) {
        vf_fail(err, errlen, "%s: %s", file ? file : name, strerror(errno));
        free(file);
        return -1;
    }
    char line[4096];
    size_t cap = 0, lineno = 0;
    int rc = 0;
    memset(s, 0, sizeof *s);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *fl[4];
        trim(line);
        if (!line[0])
            continue;
        int fine;
        if (split_csv(line, fl, 4) != 3 || !fl[0][0] || parse_int(fl[1], &fine)) {
            rc = vf_fail(err, errlen, "%s:%zu: expected 'path, fine_id, coarse_id'", file, lineno);
            break;
        }
        char *p = join(dir, fl[0]);
        if (!p || set_push(s, &cap, p, fine, NULL, NULL)) {
            free(p);
            rc = vf_fail(err, errlen, "out of memory");
            break;
        }
    }
    fclose(f);
    if (!rc && s->n == 0)
        rc = vf_fail(err, errlen, "%s: no images listed", file);
    free(file);
    if (rc) {
        ds_set_free(s);
        return -1;
    }
    if (limit && s->n > limit) { /* every k-th image, all classes kept */
        size_t step = (s->n + limit - 1) / limit, k = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (i % step == 0) {
                s->paths[k] = s->paths[i];
                s->label[k] = s->label[i];
                k++;
            } else
                free(s->paths[i]);
        }
        s->n = k;
    }
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            buf[i] = ' ';
    trim(buf);
    return strdup(buf);
}

static int load_classes(const char *dir, ds_grocery *g, char *err, size_t errlen)
{
    char *file = join(dir, "classes.csv");
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) {
        vf_fail(err, errlen, "%s: %s", file ? file : "classes.csv", strerror(errno));
        free(file);
        return -1;
    }
    char line[4096];
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (++lineno == 1)
            continue; /* header */
        trim(line);
        if (!line[0])
            continue;
        char *fl[7];
        int id;
        if (split_csv(line, fl, 7) != 6 || parse_int(fl[1], &id) || !fl[4][0]) {
            rc = vf_fail(err, errlen, "%s:%zu: expected 6 comma-separated fields", file, lineno);
            break;
        }
        char *p = join(dir, fl[4]), *title = strdup(fl[0]), *tp = join(dir, fl[5]);
        char *text = tp ? read_text(tp) : NULL;
        free(tp);
        if (!p || !title || set_push(&g->iconic, &cap, p, id, title, text)) {
            free(p), free(title), free(text);
            rc = vf_fail(err, errlen, "out of memory");
            break;
        }
        if (id + 1 > g->nclasses)
            g->nclasses = id + 1;
    }
    fclose(f);
    if (!rc && g->iconic.n == 0)
        rc = vf_fail(err, errlen, "%s: no classes", file);
    free(file);
    return rc ? -1 : 0;
}

int ds_grocery_load(const char *dir, size_t limit, ds_grocery *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if (load_classes(dir, g, err, errlen) || load_list(dir, "train.txt", limit, &g->train, err, errlen) ||
        load_list(dir, "test.txt", limit, &g->test, err, errlen)) {
        ds_grocery_free(g);
        return -1;
    }
    return 0;
}

void ds_grocery_free(ds_grocery *g)
{
    ds_set_free(&g->train);
    ds_set_free(&g->test);
    ds_set_free(&g->iconic);
}

int ds_ukbench_load(const char *dir, size_t limit, ds_set *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char *file = join(dir, "gt.tsv");
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) {
        vf_fail(err, errlen, "%s: %s", file ? file : "gt.tsv", strerror(errno));
        free(file);
        return -1;
    }
    char line[4096];
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (++lineno == 1)
            continue; /* header: image object_id */
        trim(line);
        if (!line[0])
            continue;
        char *tab = strchr(line, '\t');
        int obj;
        if (!tab || tab == line || parse_int(tab + 1, &obj)) {
            rc = vf_fail(err, errlen, "%s:%zu: expected 'image<TAB>object_id'", file, lineno);
            break;
        }
        *tab = 0;
        if (limit && (size_t)obj >= limit / 4 + (limit % 4 != 0))
            continue;
        char rel[4200];
        snprintf(rel, sizeof rel, "images/%s", line);
        char *p = join(dir, rel);
        if (!p || set_push(s, &cap, p, obj, NULL, NULL)) {
            free(p);
            rc = vf_fail(err, errlen, "out of memory");
            break;
        }
    }
    fclose(f);
    if (!rc && s->n == 0)
        rc = vf_fail(err, errlen, "%s: no images listed", file);
    free(file);
    if (rc) {
        ds_set_free(s);
        return -1;
    }
    return 0;
}
