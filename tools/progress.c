#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, const char *what, const char *unit, size_t total, int quiet)
{
    *p = (progress){.what = what, .unit = unit, .total = total, .quiet = quiet};
    p->tty = isatty(2);
    p->t0 = p->last = progress_now();
}

static void fmt_eta(char *b, size_t n, double s)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(progress *p, double t)
{
    double el = t - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : 0);
    fprintf(stderr, "%s%s: %zu/%zu %s (%zu skipped), %.1f %s/s, ETA %s%s", p->tty ? "\r\033[K" : "",
            p->what, p->done, p->total, p->unit, p->skipped, rate, p->unit, eta, p->tty ? "" : "\n");
    fflush(stderr);
    p->shown = p->tty;
    p->last = t;
}

void progress_step(progress *p, int skipped)
{
    p->done++;
    p->skipped += skipped != 0;
    if (p->quiet)
        return;
    double t = progress_now();
    if (t - p->last >= (p->tty ? 0.25 : 10.0))
        draw(p, t);
}

void progress_clear(progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);
    p->shown = 0;
}

double progress_end(progress *p)
{
    double el = progress_now() - p->t0;
    if (!p->quiet) {
        progress_clear(p);
        fprintf(stderr, "%s: %zu %s (%zu skipped) in %.2f s, %.1f %s/s\n", p->what, p->done, p->unit,
                p->skipped, el, el > 0 ? (double)p->done / el : 0.0, p->unit);
    }
    return el;
}
