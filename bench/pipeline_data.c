/* vireo-bench pipeline: data sets, models, page cache (see pipeline.h). */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "formats/errmsg.h"
#include "runtime/convert.h"

#define CAMERA_DIR "/tmp/vireo-bench-camera"
#define WALLPAPER_DIR "/usr/share/wallpapers"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The source tree: this file is compiled by its absolute path. */
static void source_dir(char *buf, size_t len)
{
    snprintf(buf, len, "%s", __FILE__);
    for (int k = 0; k < 2; k++) {
        char *s = strrchr(buf, '/');
        if (s)
            *s = 0;
        else
            snprintf(buf, len, ".");
    }
}

const char *pb_shared_dir(void)
{
    static char path[4096];
    const char *env = getenv("VIREO_SHARED_DIR");
    if (env && *env)
        return is_dir(env) ? env : NULL;
    char src[3000];
    source_dir(src, sizeof src);
    snprintf(path, sizeof path, "%s/../shared", src);
    if (is_dir(path))
        return path;
    return is_dir("../shared") ? "../shared" : NULL;
}

/* Keeps every k-th of fl's entries so that at most max remain (spread over
 * the whole sorted list, so every class of a dataset is sampled). */
static void thin(vr_filelist *fl, size_t max)
{
    if (fl->n <= max || max == 0)
        return;
    size_t k = 0;
    for (size_t i = 0; i < fl->n; i++) {
        if (k < max && i * max / fl->n == k && i >= k) {
            char *p = fl->paths[i];
            fl->paths[i] = NULL;
            fl->paths[k++] = p;
        } else {
            free(fl->paths[i]);
            fl->paths[i] = NULL;
        }
    }
    fl->n = k;
}

static void measure(pb_set *s)
{
    tjhandle tj = tjInitDecompress();
    double mp = 0, kb = 0;
    size_t n = 0;
    for (size_t i = 0; i < s->files.n; i++) {
        FILE *f = fopen(s->files.paths[i], "rb");
        if (!f)
            continue;
        static unsigned char buf[1 << 16]; /* the header is near the start */
        size_t got = fread(buf, 1, sizeof buf, f);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        int w, h, ss, cs;
        if (tj && tjDecompressHeader3(tj, buf, (unsigned long)got, &w, &h, &ss, &cs) == 0) {
            mp += (double)w * h / 1e6;
            kb += (double)size / 1024;
            n++;
        }
    }
    if (tj)
        tjDestroy(tj);
    s->mean_mp = n ? mp / (double)n : 0;
    s->mean_kb = n ? kb / (double)n : 0;
}

static int generate_camera(const char *shared, char *err, size_t errlen)
{
    char script[3100], src[3000];
    source_dir(src, sizeof src);
    snprintf(script, sizeof script, "%s/bench/make_camera_set.py", src);
    if (access("/usr/bin/python3", X_OK) || access(script, R_OK))
        return vf_fail(err, errlen, "cannot generate it: needs /usr/bin/python3 and %s", script);
    fprintf(stderr, "vireo-bench: generating the camera-sized sets into %s (%s, ~1 min)\n",
            CAMERA_DIR, script);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {"/usr/bin/python3", script, CAMERA_DIR, (char *)shared, NULL};
        execv(av[0], av);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
        return vf_fail(err, errlen, "%s failed (python3-pil and python3-numpy installed?)", script);
    return 0;
}

int pb_set_load(pb_set *s, const char *name, size_t max, int generate, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    const char *shared = pb_shared_dir();
    char dir[4200];
    if (!strcmp(name, "grocery")) {
        if (!shared)
            return vf_fail(err, errlen, "no shared data (set VIREO_SHARED_DIR)");
        static const char *const parts[] = {"train", "val", "test"};
        for (int k = 0; k < 3; k++) {
            snprintf(dir, sizeof dir, "%s/data/grocery/%s", shared, parts[k]);
            if (vr_filelist_add_dir(&s->files, dir, err, errlen)) {
                pb_set_free(s);
                return -1;
            }
        }
        size_t all = s->files.n;
        thin(&s->files, max);
        snprintf(s->source, sizeof s->source,
                 "GroceryStore photos as the catalogue delivers them: %zu of the %zu in "
                 "%s/data/grocery/{train,val,test}, evenly spread", s->files.n, all, shared);
    } else if (!strncmp(name, "camera-", 7)) {
        const char *kind = name + 7;
        snprintf(dir, sizeof dir, "%s/%s", CAMERA_DIR, kind);
        if (!is_dir(dir)) {
            if (!generate)
                return vf_fail(err, errlen, "%s not found (run bench/make_camera_set.py %s "
                               "SHARED_DIR, or drop --no-generate)", dir, CAMERA_DIR);
            if (!shared)
                return vf_fail(err, errlen, "no shared data to make it from");
            if (generate_camera(shared, err, errlen))
                return -1;
        }
        if (vr_filelist_add_dir(&s->files, dir, err, errlen))
            return -1;
        thin(&s->files, max);
        char sp[4300], text[600] = "";
        snprintf(sp, sizeof sp, "%s/SOURCE", CAMERA_DIR);
        FILE *f = fopen(sp, "r");
        if (f) {
            if (!fgets(text, sizeof text, f))
                text[0] = 0;
            fclose(f);
            text[strcspn(text, "\n")] = 0;
        }
        snprintf(s->source, sizeof s->source, "%.150s: %.600s", dir,
                 text[0] ? text : "(no SOURCE note)");
    } else if (!strcmp(name, "wallpapers")) {
        if (!is_dir(WALLPAPER_DIR))
            return vf_fail(err, errlen, "%s not found (a Debian wallpaper package, e.g. "
                           "plasma-workspace-wallpapers, puts JPEGs there)", WALLPAPER_DIR);
        vr_filelist all = {0};
        if (vr_filelist_add_dir(&all, WALLPAPER_DIR, err, errlen))
            return -1;
        for (size_t i = 0; i < all.n; i++) {
            const char *p = all.paths[i];
            size_t k = strlen(p);
            int jpeg = (k > 4 && !strcasecmp(p + k - 4, ".jpg")) ||
                       (k > 5 && !strcasecmp(p + k - 5, ".jpeg"));
            if (jpeg && vr_filelist_add(&s->files, p)) {
                vr_filelist_free(&all);
                pb_set_free(s);
                return vf_fail(err, errlen, "out of memory");
            }
        }
        vr_filelist_free(&all);
        if (s->files.n == 0)
            return vf_fail(err, errlen, "no JPEG under %s", WALLPAPER_DIR);
        thin(&s->files, max);
        snprintf(s->source, sizeof s->source, "the JPEGs of Debian's wallpaper packages in %s",
                 WALLPAPER_DIR);
    } else {
        return vf_fail(err, errlen, "unknown set (grocery, camera-baseline, camera-progressive, "
                       "wallpapers)");
    }
    measure(s);
    return 0;
}

void pb_set_free(pb_set *s)
{
    vr_filelist_free(&s->files);
}

int pb_model_open(const char *short_name, vr_model **m, char *err, size_t errlen)
{
    static const struct {
        const char *name, *file;
    } models[] = {
        {"mnv1-embed", "mobilenet_v1_1.0_224_quant_embedding_extractor"},
        {"mnv2", "mobilenet_v2_1.0_224_quant"},
        {"mnv1-0.25", "mobilenet_v1_0.25_128_quant"},
    };
    const char *file = NULL;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        if (!strcmp(models[i].name, short_name))
            file = models[i].file;
    if (!file)
        return vf_fail(err, errlen, "unknown model %s (mnv1-embed, mnv2, mnv1-0.25)", short_name);
    const char *env = getenv("VIREO_BENCH_MODELS");
    const char *dir = env && *env ? env : "/tmp/vireo-bench-models";
    char dst[4300], src[4300];
    snprintf(dst, sizeof dst, "%s/pipeline-%s.vwt", dir, file);
    if (access(dst, R_OK)) {
        const char *shared = pb_shared_dir();
        if (!shared)
            return vf_fail(err, errlen, "%s: no shared data to convert it from", short_name);
        mkdir(dir, 0755);
        snprintf(src, sizeof src, "%s/models/coral/%s.tflite", shared, file);
        if (vr_convert_tflite(src, dst, NULL, err, errlen))
            return -1;
    }
    return vr_model_open(dst, m, err, errlen);
}

double pb_drop_cache(const vr_filelist *fl)
{
    size_t pages = 0, resident = 0;
    long psz = sysconf(_SC_PAGESIZE);
    int known = psz > 0;
    for (size_t i = 0; i < fl->n; i++) {
        int fd = open(fl->paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            size_t len = (size_t)st.st_size, np = known ? (len + (size_t)psz - 1) / (size_t)psz : 0;
            void *map = known ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
            unsigned char *vec = np ? malloc(np) : NULL;
            if (map != MAP_FAILED && vec && mincore(map, len, vec) == 0) {
                for (size_t k = 0; k < np; k++)
                    resident += vec[k] & 1;
                pages += np;
            } else {
                known = 0;
            }
            free(vec);
            if (map != MAP_FAILED)
                munmap(map, len);
        }
        close(fd);
    }
    return known && pages ? (double)resident / (double)pages : -1;
}
