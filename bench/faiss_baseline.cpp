// C++ shim: FAISS peers of `vireo-bench index` (see faiss_baseline.h).
#include "faiss_baseline.h"

#include <dlfcn.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <faiss/IndexFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/utils/distances.h>
#include <faiss/utils/utils.h>

struct bf_index {
    faiss::Index *ix;
};

static int fail(char *err, size_t errlen, const char *what, const char *msg)
{
    if (err && errlen)
        std::snprintf(err, errlen, "faiss %s: %s", what, msg);
    return -1;
}

extern "C" bf_index *bf_create(bf_kind kind, int dim, char *err, size_t errlen)
{
    try {
        faiss::Index *ix;
        if (kind == BF_FLAT_IP)
            ix = new faiss::IndexFlatIP(dim);
        else
            ix = new faiss::IndexScalarQuantizer(
                dim, kind == BF_SQ8 ? faiss::ScalarQuantizer::QT_8bit : faiss::ScalarQuantizer::QT_4bit,
                faiss::METRIC_INNER_PRODUCT);
        return new bf_index{ix};
    } catch (const std::exception &e) {
        fail(err, errlen, "create", e.what());
        return nullptr;
    }
}

extern "C" int bf_build(bf_index *b, size_t n, const float *x, char *err, size_t errlen)
{
    try {
        if (!b->ix->is_trained)
            b->ix->train((faiss::Index::idx_t)n, x);
        b->ix->add((faiss::Index::idx_t)n, x);
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errlen, "build", e.what());
    }
}

extern "C" int bf_search(bf_index *b, size_t nq, const float *q, int k, float *dist,
                         int64_t *labels, char *err, size_t errlen)
{
    try {
        b->ix->search((faiss::Index::idx_t)nq, q, k, dist, reinterpret_cast<faiss::Index::idx_t *>(labels));
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errlen, "search", e.what());
    }
}

extern "C" void bf_free(bf_index *b)
{
    if (b) {
        delete b->ix;
        delete b;
    }
}

extern "C" const char *bf_name(bf_kind kind)
{
    return kind == BF_FLAT_IP ? "faiss-flatip" : kind == BF_SQ8 ? "faiss-sq8" : "faiss-sq4";
}

// OpenBLAS's own controls, found at run time: libblas.so.3 is whichever BLAS
// the alternatives system points at, and the reference BLAS has neither.
typedef void (*set_threads_fn)(int);
typedef char *(*get_config_fn)(void);

static void *blas_sym(const char *name)
{
    void *s = dlsym(RTLD_DEFAULT, name);
    if (!s) {
        void *h = dlopen("libblas.so.3", RTLD_NOW | RTLD_NOLOAD);
        if (h)
            s = dlsym(h, name);
    }
    return s;
}

extern "C" void bf_set_threads(int t)
{
    omp_set_num_threads(t);
    set_threads_fn f = (set_threads_fn)blas_sym("openblas_set_num_threads");
    if (f)
        f(t);
}

extern "C" void bf_set_blas_threshold(int nq) { faiss::distance_compute_blas_threshold = nq; }

extern "C" const char *bf_blas_info(void)
{
    static std::string s;
    get_config_fn f = (get_config_fn)blas_sym("openblas_get_config");
    s = f ? std::string("OpenBLAS ") + f() : std::string("reference BLAS (no openblas_get_config)");
    return s.c_str();
}

extern "C" const char *bf_faiss_info(void)
{
    static std::string s;
    s = faiss::get_compile_options();
    return s.c_str();
}
