/* Lists of image paths for the pipeline: a directory walked recursively, a
 * list file, or paths given one by one.
 *
 * Rules (the CLI's `--images DIR|@LIST` follows them):
 * - Directory: every regular file (or symlink to one) below it whose name ends
 *   in .jpg, .jpeg, .png or .bmp, case-insensitively. Names starting with '.'
 *   (hidden files, macOS "._x.jpg" resource forks, .git) are skipped, files
 *   and directories alike. Symlinked directories are not descended into, so a
 *   link cycle cannot loop. Paths are "DIR/sub/name" (DIR as given, one '/'
 *   between parts) and the whole list is sorted byte-wise (strcmp), so the
 *   order is the same on every machine and locale. A subdirectory that cannot
 *   be opened is an error, not a silent gap in the catalogue.
 * - List file (@LIST): one path per line, taken as written (no extension
 *   filter): a trailing '\r' is removed (CRLF files), empty lines and lines
 *   whose first character is '#' are skipped. A relative path is relative to
 *   the directory of the list file, not to the working directory, so a list
 *   can live beside its images and be used from anywhere ("-" = standard
 *   input: relative to the working directory). A line with a NUL byte or
 *   longer than 4095 bytes is an error naming the line. The order is kept.
 * - Whether each file exists and decodes is not checked here: the pipeline
 *   reports and skips unreadable images.
 */
#ifndef VIREO_RUNTIME_FILELIST_H
#define VIREO_RUNTIME_FILELIST_H

#include <stddef.h>

#define VR_FILELIST_MAX_LINE 4095

typedef struct vr_filelist {
    char **paths; /* n malloc'd strings */
    size_t n, cap;
} vr_filelist;

/* All functions append to fl (zero-initialise it first) and return 0, or -1
 * with a message (fl keeps what it had before the call). */
int vr_filelist_add(vr_filelist *fl, const char *path);
int vr_filelist_add_dir(vr_filelist *fl, const char *dir, char *err, size_t errlen);
int vr_filelist_add_listfile(vr_filelist *fl, const char *listpath, char *err, size_t errlen);
/* "@LIST" → list file; anything else → directory. */
int vr_filelist_add_spec(vr_filelist *fl, const char *spec, char *err, size_t errlen);
void vr_filelist_free(vr_filelist *fl); /* accepts NULL and a zeroed list */

/* 1 if name ends in .jpg/.jpeg/.png/.bmp, case-insensitively. */
int vr_filelist_is_image_name(const char *name);

#endif
