/* On-disk constants of the weight file, shared by reader and writer. */
#ifndef VIREO_FORMATS_WEIGHTS_INTERNAL_H
#define VIREO_FORMATS_WEIGHTS_INTERNAL_H

#define VW_MAGIC "VIREOWT\0"
#define VW_VERSION_MAJOR 1
#define VW_VERSION_MINOR 0
#define VW_HEADER_SIZE 64
#define VW_SECTION_ENTRY 32
#define VW_TENSOR_ENTRY 128
#define VW_KV_ENTRY 24
#define VW_ALIGN 64

enum {
    VW_SEC_STRINGS = 1,
    VW_SEC_KV = 2,
    VW_SEC_TENSORS = 3,
    VW_SEC_DATA = 4,
    VW_SEC_GRAPH = 5,
    VW_SEC_COUNT
};

#endif
