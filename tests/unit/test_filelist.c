/* runtime/filelist: directory walks (extensions, hidden entries, symlinks,
 * sorting), list files (relative paths, CRLF, comments, broken lines), and
 * that a failed call leaves the list as it was. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "runtime/filelist.h"

static char g_root[256];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mkd(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void lnk(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
    snprintf(g_root, sizeof g_root, "/tmp/vireo_filelist_XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect(const vr_filelist *fl, const char *const *want, size_t n)
{
    for (size_t i = 0; i < fl->n && i < n; i++)
        if (strcmp(fl->paths[i], want[i]))
            tu_fail("entry %zu: got '%s', want '%s'", i, fl->paths[i], want[i]);
    if (fl->n != n)
        tu_fail("got %zu entries, want %zu", fl->n, n);
}

static void test_image_names(void **state)
{
    assert_true(vr_filelist_is_image_name("a.jpg"));
    assert_true(vr_filelist_is_image_name("a.JPG"));
    assert_true(vr_filelist_is_image_name("a.b.JpEg"));
    assert_true(vr_filelist_is_image_name("x.png"));
    assert_true(vr_filelist_is_image_name("x.BMP"));
    assert_false(vr_filelist_is_image_name(".jpg")); /* a name, not an extension */
    assert_false(vr_filelist_is_image_name("jpg"));
    assert_false(vr_filelist_is_image_name("a.jpgx"));
    assert_false(vr_filelist_is_image_name("a.gif"));
    assert_false(vr_filelist_is_image_name("a_jpg"));
    assert_false(vr_filelist_is_image_name(""));
}

static void test_directory_walk(void **state)
{
    put("b.jpeg", "x");
    put("a.JPG", "x");
    put("c.png", "x");
    put("d.bmp", "x");
    put("e.txt", "x");
    put("noext", "x");
    put(".hidden.jpg", "x");
    mkd("sub");
    put("sub/f.jpg", "x");
    mkd("sub/.git");
    put("sub/.git/g.jpg", "x");
    mkd("sub/deeper");
    put("sub/deeper/h.Png", "x");
    mkd("x.jpg"); /* a directory with an image's name: walked, not listed */
    put("x.jpg/i.bmp", "x");
    lnk("a.JPG", "link.jpg");      /* a link to a file is listed */
    lnk(".", "loop");              /* a link to a directory is not followed */
    lnk("nowhere.jpg", "dangling.jpg"); /* nothing to list */

    char dir[300];
    const char *rel[] = {"a.JPG", "b.jpeg", "c.png", "d.bmp", "link.jpg",
                         "sub/deeper/h.Png", "sub/f.jpg", "x.jpg/i.bmp"};
    char want[8][320];
    const char *wp[8];
    for (int i = 0; i < 8; i++) {
        snprintf(want[i], sizeof want[i], "%s/%s", g_root, rel[i]);
        wp[i] = want[i];
    }
    char err[256];
    for (int slash = 0; slash < 3; slash++) { /* "dir", "dir/", "dir//" list the same */
        snprintf(dir, sizeof dir, "%s%s", g_root, slash == 0 ? "" : slash == 1 ? "/" : "//");
        vr_filelist fl = {0};
        if (vr_filelist_add_dir(&fl, dir, err, sizeof err))
            tu_fail("%s: %s", dir, err);
        expect(&fl, wp, 8);
        vr_filelist_free(&fl);
    }
    /* Through add_spec, appended after what is there. */
    vr_filelist fl = {0};
    assert_int_equal(vr_filelist_add(&fl, "first.jpg"), 0);
    snprintf(dir, sizeof dir, "%s/sub", g_root);
    assert_int_equal(vr_filelist_add_spec(&fl, dir, err, sizeof err), 0);
    assert_int_equal(fl.n, 3);
    assert_string_equal(fl.paths[0], "first.jpg");
    assert_string_equal(fl.paths[1], want[5]);
    assert_string_equal(fl.paths[2], want[6]);
    vr_filelist_free(&fl);
    vr_filelist_free(&fl); /* a freed list is zeroed: freeing again is fine */
    vr_filelist_free(NULL);
}

static void test_directory_errors(void **state)
{
    char err[256], p[300];
    vr_filelist fl = {0};
    assert_int_equal(vr_filelist_add(&fl, "kept.jpg"), 0);
    snprintf(p, sizeof p, "%s/missing", g_root);
    assert_int_equal(vr_filelist_add_dir(&fl, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing"));
    put("plain.jpg", "x");
    snprintf(p, sizeof p, "%s/plain.jpg", g_root);
    assert_int_equal(vr_filelist_add_dir(&fl, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a directory"));
    assert_int_equal(vr_filelist_add_dir(&fl, "", err, sizeof err), -1);
    /* An unopenable subdirectory fails the walk and drops what it had found
     * (root ignores permissions, so this part needs a normal user). */
    if (geteuid() != 0) {
        mkd("locked");
        put("locked/a.jpg", "x");
        mkd("locked/inner");
        snprintf(p, sizeof p, "%s/locked/inner", g_root);
        assert_int_equal(chmod(p, 0), 0);
        snprintf(p, sizeof p, "%s/locked", g_root);
        assert_int_equal(vr_filelist_add_dir(&fl, p, err, sizeof err), -1);
        assert_non_null(strstr(err, "inner"));
        snprintf(p, sizeof p, "%s/locked/inner", g_root);
        chmod(p, 0755);
    }
    assert_int_equal(fl.n, 1);
    assert_string_equal(fl.paths[0], "kept.jpg");
    vr_filelist_free(&fl);
}

static void test_list_file(void **state)
{
    mkd("lists");
    /* CRLF, blank lines, comments, absolute and relative paths, spaces kept. */
    put("lists/l.txt", "one.jpg\r\n\n# a comment\n/abs/two.png\nsub/three 3.bmp\r\n"
                       "  four.jpg\n../up.jpg\nnot-an-image.txt\nlast-without-newline.jpg");
    char lp[300], err[256];
    snprintf(lp, sizeof lp, "@%s/lists/l.txt", g_root);
    vr_filelist fl = {0};
    if (vr_filelist_add_spec(&fl, lp, err, sizeof err))
        tu_fail("%s", err);
    char w[7][320];
    snprintf(w[0], sizeof w[0], "%s/lists/one.jpg", g_root);
    snprintf(w[1], sizeof w[1], "/abs/two.png");
    snprintf(w[2], sizeof w[2], "%s/lists/sub/three 3.bmp", g_root);
    snprintf(w[3], sizeof w[3], "%s/lists/  four.jpg", g_root);
    snprintf(w[4], sizeof w[4], "%s/lists/../up.jpg", g_root);
    snprintf(w[5], sizeof w[5], "%s/lists/not-an-image.txt", g_root);
    snprintf(w[6], sizeof w[6], "%s/lists/last-without-newline.jpg", g_root);
    const char *wp[7] = {w[0], w[1], w[2], w[3], w[4], w[5], w[6]};
    expect(&fl, wp, 7);
    vr_filelist_free(&fl);

    /* A list named without a directory: paths stay relative to the cwd. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(lp, sizeof lp, "%s/lists", g_root);
    assert_int_equal(chdir(lp), 0);
    put("lists/plain.txt", "a.jpg\nb/c.jpg\n");
    assert_int_equal(vr_filelist_add_listfile(&fl, "plain.txt", err, sizeof err), 0);
    assert_int_equal(chdir(cwd), 0);
    const char *wp2[2] = {"a.jpg", "b/c.jpg"};
    expect(&fl, wp2, 2);
    vr_filelist_free(&fl);
}

static void test_list_file_errors(void **state)
{
    char lp[300], err[256];
    vr_filelist fl = {0};
    assert_int_equal(vr_filelist_add(&fl, "kept.jpg"), 0);
    snprintf(lp, sizeof lp, "%s/no-such-list.txt", g_root);
    assert_int_equal(vr_filelist_add_listfile(&fl, lp, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-list.txt"));

    /* A NUL byte on line 3: an error naming the line; lines 1-2 are dropped. */
    snprintf(lp, sizeof lp, "%s/nul.txt", g_root);
    FILE *f = fopen(lp, "wb");
    assert_non_null(f);
    fwrite("a.jpg\nb.jpg\nc\0d.jpg\n", 1, 20, f);
    fclose(f);
    assert_int_equal(vr_filelist_add_listfile(&fl, lp, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3: NUL"));

    /* A line longer than the limit. */
    snprintf(lp, sizeof lp, "%s/long.txt", g_root);
    f = fopen(lp, "wb");
    assert_non_null(f);
    fputs("ok.jpg\n/", f);
    for (int i = 0; i < VR_FILELIST_MAX_LINE + 10; i++)
        fputc('x', f);
    fputs(".jpg\n", f);
    fclose(f);
    assert_int_equal(vr_filelist_add_listfile(&fl, lp, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: path longer"));

    /* A directory given as a list. */
    snprintf(lp, sizeof lp, "@%s", g_root);
    assert_int_equal(vr_filelist_add_spec(&fl, lp, err, sizeof err), -1);

    assert_int_equal(fl.n, 1);
    assert_string_equal(fl.paths[0], "kept.jpg");
    vr_filelist_free(&fl);
}

/* The real catalogue: GroceryStore's train/ gives exactly the 2,640 photos
 * train.txt lists, sorted. */
static void test_grocery_train(void **state)
{
    const char *sh = tu_require_shared();
    char dir[512], err[256];
    snprintf(dir, sizeof dir, "%s/data/grocery/train", sh);
    vr_filelist fl = {0};
    if (vr_filelist_add_dir(&fl, dir, err, sizeof err))
        tu_fail("%s", err);
    assert_int_equal(fl.n, 2640);
    for (size_t i = 1; i < fl.n; i++)
        assert_true(strcmp(fl.paths[i - 1], fl.paths[i]) < 0);
    snprintf(dir, sizeof dir, "%s/data/grocery/train.txt", sh);
    size_t len;
    char *raw = tu_read_file(dir, &len);
    assert_non_null(raw);
    char *txt = malloc(len + 1); /* tu_read_file gives bytes, not a string */
    assert_non_null(txt);
    memcpy(txt, raw, len);
    txt[len] = 0;
    free(raw);
    size_t lines = 0;
    for (char *s = txt; (s = strstr(s, ".jpg,")); s++) {
        char *b = s;
        while (b > txt && b[-1] != '\n')
            b--;
        char p[1024];
        snprintf(p, sizeof p, "%s/data/grocery/%.*s.jpg", sh, (int)(s - b), b);
        int found = 0;
        for (size_t i = 0; i < fl.n && !found; i++)
            found = !strcmp(fl.paths[i], p);
        if (!found)
            tu_fail("%s is in train.txt but not in the walk", p);
        lines++;
    }
    assert_int_equal(lines, 2640);
    free(txt);
    vr_filelist_free(&fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_names),
        cmocka_unit_test_setup_teardown(test_directory_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_file_errors, setup, teardown),
        cmocka_unit_test(test_grocery_train),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
