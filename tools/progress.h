/* A progress line on stderr for long CLI jobs: "<what>: done/total (skipped),
 * rate/s, ETA". On a terminal one line is redrawn at most 4 times a second;
 * otherwise (logs, CI) a plain line every 10 s. */
#ifndef VIREO_TOOLS_PROGRESS_H
#define VIREO_TOOLS_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    const char *what, *unit;
    size_t total, done, skipped;
    double t0, last;
    int tty, quiet, shown;
} progress;

double progress_now(void); /* CLOCK_MONOTONIC seconds */
void progress_start(progress *p, const char *what, const char *unit, size_t total, int quiet);
/* One more item (skipped: it failed). Draws when due. */
void progress_step(progress *p, int skipped);
/* Clears the redrawn line so a message can be printed (call before fprintf). */
void progress_clear(progress *p);
/* Final line: count, elapsed, rate. Returns the elapsed seconds. */
double progress_end(progress *p);

#endif
