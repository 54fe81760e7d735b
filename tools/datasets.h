/* The evaluation sets of ../shared/README.md, read from their own list files:
 * GroceryStore (train / test photo lists, classes.csv with the iconic images
 * and descriptions) and UKBench (gt.tsv). Paths come back absolute (the data
 * directory joined with the listed relative path). */
#ifndef VIREO_TOOLS_DATASETS_H
#define VIREO_TOOLS_DATASETS_H

#include <stddef.h>

typedef struct ds_set {
    size_t n;
    char **paths;
    int *label;   /* fine class (GroceryStore) or object id (UKBench) */
    char **title; /* class name (GroceryStore iconic images), else NULL entries */
    char **text;  /* description text (GroceryStore iconic images), else NULL entries */
} ds_set;

typedef struct ds_grocery {
    ds_set train, test, iconic; /* iconic: one per class, label = class id */
    int nclasses;
} ds_grocery;

/* dir: the directory holding classes.csv, train.txt, test.txt. limit > 0 keeps
 * every k-th photo of train and test so that about `limit` remain (quick runs).
 * Returns 0, or -1 with a message. */
int ds_grocery_load(const char *dir, size_t limit, ds_grocery *g, char *err, size_t errlen);
void ds_grocery_free(ds_grocery *g);

/* dir: the directory holding gt.tsv and images/. limit > 0 keeps the first
 * `limit` objects' images (multiples of the 4 views). */
int ds_ukbench_load(const char *dir, size_t limit, ds_set *s, char *err, size_t errlen);
void ds_set_free(ds_set *s);

#endif
