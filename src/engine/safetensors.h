/* safetensors: parse and validate a file image, memory-map files, write files. Internal to the
 * engine (and its tests and fuzzer). */
#ifndef TK_ENGINE_SAFETENSORS_H
#define TK_ENGINE_SAFETENSORS_H

#include "tinkerc/engine.h"

#define TK_ST_MAX_DIMS 8
#define TK_ST_MAX_HEADER (100u * 1024u * 1024u)

typedef struct tk_st_tensor {
    char *name;
    char dtype_name[16];          /* as in the header: "F32", "BF16", "I64", ... */
    tk_engine_dtype dtype;        /* 0 when not one the engine reads */
    size_t elem_size;
    int ndim;
    int64_t shape[TK_ST_MAX_DIMS];
    size_t numel;
    const uint8_t *data;          /* into the image; may be unaligned */
    size_t nbytes;
} tk_st_tensor;

typedef struct tk_st_file {
    char *path;                   /* for messages ("<memory>" when parsed from a buffer) */
    const uint8_t *base;          /* the whole image */
    size_t size;
    bool mapped;                  /* base came from mmap (unmapped by tk_st_close) */
    tk_st_tensor *tensors;
    size_t n_tensors;
} tk_st_file;

/* Parse an in-memory image (borrowed; must outlive f). Validates: header length within the file
 * and <= 100 MB, a JSON object header, known dtypes, shapes, offsets in range, numel*elem_size ==
 * end-begin, tensors that exactly cover the data area with no overlap, __metadata__ of strings.
 * TK_EPARSE naming `what` and the tensor. On failure f is left empty (tk_st_close is safe). */
int tk_st_parse(const void *image, size_t size, const char *what, tk_st_file *f, tk_err *e);

/* mmap path read-only and parse it. Close with tk_st_close. */
int tk_st_open(const char *path, tk_st_file *f, tk_err *e);
void tk_st_close(tk_st_file *f);

const tk_st_tensor *tk_st_find(const tk_st_file *f, const char *name);

/* Widen a tensor's elements (F32, F16 or BF16) into dst (numel floats). */
void tk_st_to_f32(const tk_st_tensor *t, float *dst);

/* float <-> half / bfloat16 bit patterns (round to nearest even). */
float tk_f16_to_f32(uint16_t h);
float tk_bf16_to_f32(uint16_t b);
uint16_t tk_f32_to_f16(float f);
uint16_t tk_f32_to_bf16(float f);

/* A tensor to write: fp32 source data converted to dtype on the way out. */
typedef struct tk_st_out {
    const char *name;
    int ndim;
    int64_t shape[TK_ST_MAX_DIMS];
    const float *data;
} tk_st_out;

/* Write a safetensors file atomically; tensors in the given order; header padded to 8 bytes. */
int tk_st_write(const char *path, const tk_st_out *tensors, size_t n, tk_engine_dtype dtype,
                tk_err *e);

#endif
