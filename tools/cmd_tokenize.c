/* vireo tokenize: CLIP token ids of each text, one line per text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/tokenizer.h"

#define VOCAB_REL "models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz"

static void usage(void)
{
    fprintf(stderr,
            "usage: vireo tokenize [--vocab FILE] [--context N] [--pad] TEXT...|-\n"
            "  prints the CLIP token ids of each TEXT (or of each line of standard input\n"
            "  with -), space-separated, one line per text: [49406] + BPE + [49407]\n"
            "  --context N  truncate as CLIP does (first N-1 ids, then 49407); default %d,\n"
            "               0 = no truncation\n"
            "  --pad        print all N ids, zero-padded (the text tower's input row)\n"
            "  --vocab FILE bpe_simple_vocab_16e6.txt.gz; default $VIREO_SHARED_DIR/%s,\n"
            "               else ../shared/%s\n",
            VR_CLIP_CONTEXT, VOCAB_REL, VOCAB_REL);
}

static int print_ids(const vr_tokenizer *t, const char *text, size_t len, int context, int pad)
{
    char err[256];
    if (context == 0) {
        int32_t *ids;
        size_t n;
        if (vr_tokenizer_encode(t, text, len, &ids, &n, err, sizeof err)) {
            fprintf(stderr, "vireo tokenize: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
        free(ids);
        return 0;
    }
    int32_t *row = malloc((size_t)context * sizeof *row);
    int n = row ? vr_tokenizer_encode_context(t, text, len, context, row, err, sizeof err) : -1;
    if (n < 0) {
        fprintf(stderr, "vireo tokenize: %s\n", row ? err : "out of memory");
        free(row);
        return 1;
    }
    int shown = pad ? context : n;
    for (int i = 0; i < shown; i++)
        printf(i ? " %d" : "%d", (int)row[i]);
    printf("\n");
    free(row);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL;
    int context = VR_CLIP_CONTEXT, pad = 0, first = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab = argv[++i];
        } else if (!strcmp(argv[i], "--context") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || (v != 0 && (v < 2 || v > 1000000))) {
                fprintf(stderr, "vireo tokenize: --context %s: 0 or 2..1000000\n", argv[i]);
                return 2;
            }
            context = (int)v;
        } else if (!strcmp(argv[i], "--pad")) {
            pad = 1;
        } else if (!strcmp(argv[i], "--")) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vireo tokenize: unknown option %s\n", argv[i]);
            usage();
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (!first || first >= argc) {
        usage();
        return 2;
    }
    if (pad && context == 0) {
        fprintf(stderr, "vireo tokenize: --pad needs a context\n");
        return 2;
    }
    char path[4096], err[512];
    if (!vocab) {
        const char *shared = getenv("VIREO_SHARED_DIR");
        snprintf(path, sizeof path, "%s/%s", shared && shared[0] ? shared : "../shared", VOCAB_REL);
        vocab = path;
    }
    vr_tokenizer *t;
    if (vr_tokenizer_open(vocab, &t, err, sizeof err)) {
        fprintf(stderr, "vireo tokenize: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (int i = first; i < argc && !rc; i++) {
        if (strcmp(argv[i], "-") != 0) {
            rc = print_ids(t, argv[i], strlen(argv[i]), context, pad);
            continue;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
            if (got > 0 && line[got - 1] == '\n')
                got--;
            rc = print_ids(t, line, (size_t)got, context, pad);
        }
        free(line);
    }
    vr_tokenizer_free(t);
    return rc;
}
