/* vireo-bench models, between its files: the per-op profile (models_profile.c). */
#ifndef VIREO_BENCH_MODELS_INTERNAL_H
#define VIREO_BENCH_MODELS_INTERNAL_H

#include "runtime/graph.h"

#define MODELS_PROF_TOP 12

typedef struct models_prof {
    double op_ms[VR_OP_COUNT]; /* per op: median over the runs of the run's sum */
    double total_ms;           /* median over the runs */
    int nodes, ntop;
    int top_node[MODELS_PROF_TOP]; /* the slowest nodes, slowest first */
    double top_ms[MODELS_PROF_TOP];
} models_prof;

/* Times `runs` observed runs of plan on one thread (thread CPU time per node)
 * after `warmup` plain ones. Returns 0, or -1 (a run failed, out of memory). */
int models_profile(vr_plan *plan, const vr_graph *g, const void *in, void *out, int runs,
                   int warmup, models_prof *prof);
/* One row: "metric":"attention_share", the per-op shares, and with verbose the
 * slowest nodes. */
void models_profile_emit(int json, const char *model, const char *dtype, int batch,
                         const vr_graph *g, const models_prof *p, int runs, int verbose);

#endif
