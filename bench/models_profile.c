/* vireo-bench models: where a model's forward pass spends its time.
 *
 * vr_plan_run_observed calls the observer on the calling thread after every
 * node, between nodes, so the clock read there splits the run into nodes. On
 * one thread the clock is that thread's CPU time (the whole run happens on
 * it), so other processes on a busy machine do not inflate the figures; with
 * more threads it would be the wall clock and the shares would include the
 * pool's barriers, so the rows are 1-thread only.
 *
 * Per run the nodes' times are summed by op; each op's figure (and the total)
 * is the median over the runs, so the shares need not add up to exactly 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "models_internal.h"

#define MAX_RUNS 64

typedef struct observe_ctx {
    double last;
    double *node_ms; /* this run's, per node */
} observe_ctx;

static double thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static void observe(void *ctx, const vr_plan *p, int node)
{
    (void)p;
    observe_ctx *o = ctx;
    double t = thread_ms();
    o->node_ms[node] = t - o->last;
    o->last = thread_ms(); /* the observer's own cost stays out of the next node */
}

int models_profile(vr_plan *plan, const vr_graph *g, const void *in, void *out, int runs,
                   int warmup, models_prof *prof)
{
    vr_pool *pool = bench_pool(1);
    int nn = vr_graph_node_count(g);
    if (!pool || nn < 1)
        return -1;
    if (runs > MAX_RUNS)
        runs = MAX_RUNS;
    double *node_ms = calloc((size_t)nn, sizeof *node_ms);
    double *node_runs = calloc((size_t)nn * runs, sizeof *node_runs);
    double (*op_runs)[MAX_RUNS] = calloc(VR_OP_COUNT, sizeof *op_runs);
    double total_runs[MAX_RUNS];
    int rc = -1;
    if (!node_ms || !node_runs || !op_runs)
        goto out;
    for (int i = 0; i < warmup; i++)
        if (vr_plan_run(plan, pool, in, out))
            goto out;
    for (int r = 0; r < runs; r++) {
        observe_ctx o = {.node_ms = node_ms};
        double t0 = thread_ms();
        o.last = t0;
        if (vr_plan_run_observed(plan, pool, in, out, observe, &o))
            goto out;
        double total = 0;
        for (int i = 0; i < nn; i++) {
            op_runs[vr_graph_node(g, i)->op][r] += node_ms[i];
            node_runs[(size_t)i * runs + r] = node_ms[i];
            total += node_ms[i];
        }
        total_runs[r] = total;
    }
    memset(prof, 0, sizeof *prof);
    prof->nodes = nn;
    for (int op = 0; op < VR_OP_COUNT; op++)
        prof->op_ms[op] = bench_median(op_runs[op], runs);
    prof->total_ms = bench_median(total_runs, runs);
    /* the slowest nodes (median per node), for the --profile listing */
    for (int i = 0; i < nn; i++) {
        double ms = bench_median(node_runs + (size_t)i * runs, runs);
        for (int k = 0; k < MODELS_PROF_TOP; k++) {
            if (k >= prof->ntop || ms > prof->top_ms[k]) {
                int last = prof->ntop < MODELS_PROF_TOP ? prof->ntop++ : MODELS_PROF_TOP - 1;
                for (int j = last; j > k; j--) {
                    prof->top_ms[j] = prof->top_ms[j - 1];
                    prof->top_node[j] = prof->top_node[j - 1];
                }
                prof->top_ms[k] = ms;
                prof->top_node[k] = i;
                break;
            }
        }
    }
    rc = 0;
out:
    free(node_ms);
    free(node_runs);
    free(op_runs);
    return rc;
}

static void node_desc(const vr_graph *g, int i, char *buf, size_t len)
{
    const vr_node *n = vr_graph_node(g, i);
    const vr_value *o = vr_graph_value(g, n->out);
    const vr_value *a = n->nin > 0 ? vr_graph_value(g, n->in[0]) : NULL;
    snprintf(buf, len, "#%d %s %dx%dx%d -> %dx%dx%d%s", i, vr_op_name(n->op), a ? a->h : 0,
             a ? a->w : 0, a ? a->c : 0, o->h, o->w, o->c, n->nin > 1 ? " +res" : "");
}

void models_profile_emit(int json, const char *model, const char *dtype, int batch,
                         const vr_graph *g, const models_prof *p, int runs, int verbose)
{
    double att = p->op_ms[VR_OP_ATTENTION], share = p->total_ms > 0 ? att / p->total_ms : 0;
    if (json) {
        printf("{\"model\":\"%s\",\"dtype\":\"%s\",\"batch\":%d,\"threads\":1,"
               "\"metric\":\"attention_share\",\"attention_share\":%.4f,"
               "\"attention_ms_per_image\":%.4g,\"ms_per_image\":%.4g,\"op_share\":{",
               model, dtype, batch, share, att / batch, p->total_ms / batch);
        int first = 1;
        for (int op = 0; op < VR_OP_COUNT; op++) {
            if (p->op_ms[op] <= 0)
                continue;
            printf("%s\"%s\":%.4f", first ? "" : ",", vr_op_name(op),
                   p->total_ms > 0 ? p->op_ms[op] / p->total_ms : 0);
            first = 0;
        }
        printf("},\"clock\":\"thread-cpu\",\"runs\":%d", runs);
        if (verbose) {
            printf(",\"top_nodes\":[");
            for (int k = 0; k < p->ntop; k++) {
                char d[160];
                node_desc(g, p->top_node[k], d, sizeof d);
                printf("%s{\"node\":\"%s\",\"ms_per_image\":%.4g}", k ? "," : "", d,
                       p->top_ms[k] / batch);
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("%s %s batch %d, 1 thread: attention %.1f %% of %.3f ms/img; by op:", model,
               dtype, batch, 100 * share, p->total_ms / batch);
        for (int op = 0; op < VR_OP_COUNT; op++)
            if (p->op_ms[op] > 0)
                printf(" %s %.1f %%", vr_op_name(op), 100 * p->op_ms[op] / p->total_ms);
        printf("\n");
        if (verbose)
            for (int k = 0; k < p->ntop; k++) {
                char d[160];
                node_desc(g, p->top_node[k], d, sizeof d);
                printf("    %8.3f ms/img  %s\n", p->top_ms[k] / batch, d);
            }
    }
    fflush(stdout);
}
