#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"cpu", cmd_cpu, "print the detected CPU features and, per op, the kernel chosen"},
    {"convert", cmd_convert, "convert a model (.tflite, TF.js model.json) into a vireo weight file"},
    {"run", cmd_run, "run a model on images (JPEG, BMP) or raw input tensors and print the top classes"},
    {"embed", cmd_embed, "run a model on images and write its outputs as f32 rows (N x D) to a file"},
    {"tokenize", cmd_tokenize, "print the CLIP token ids of texts, one line per text"},
    {"index", cmd_index, "build an index from a catalogue's images; add, rm, info"},
    {"search", cmd_search, "search an index with query images"},
    {"eval", cmd_eval, "retrieval metrics on GroceryStore / UKBench (models, codes, whitening, QE, re-ranking)"},
    {"info", cmd_info, "print a weight file's header, metadata and tensors (--verify: data checksum)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vireo COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nenvironment: VIREO_ISA=ref|avx512|amx|neon forces a lower kernel level\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "vireo: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
