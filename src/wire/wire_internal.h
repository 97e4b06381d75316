/* Internal to src/wire: helpers shared by the JSON and protobuf codecs. */
#ifndef TK_WIRE_INTERNAL_H
#define TK_WIRE_INTERNAL_H

#include "tinkerc/wire.h"

/* Largest dense tensor a decoder will materialise from a sparse CSR form (elements). Dense data
 * is bounded by the body size anyway; CSR is the one place a small body could ask for a huge
 * allocation. */
#define TK_WIRE_MAX_DENSE_ELEMS ((size_t)1 << 28)

/* product(shape[0..ndim)) into *out; false on a negative dim or overflow. */
bool tk_wire_shape_numel(const int64_t *shape, int ndim, size_t *out);

/* Expand a CSR tensor (values: nnz elements of dtype; crow: rows+1 row pointers; col: nnz column
 * indices) into a dense 2-D tensor of `shape`, allocated in a. `where` prefixes messages
 * ("data[0].loss_fn_inputs.weights"). */
int tk_wire_csr_expand(tk_arena *a, tk_wire_dtype dtype, const void *values, size_t nnz,
                       const int64_t *crow, size_t n_crow, const int64_t *col, size_t n_col,
                       const int64_t *shape, int ndim, tk_wire_tensor *out, const char *where,
                       tk_err *e);

/* Names of enums shared by both codecs. */
extern const char *const tk_wire_loss_fn_names[];
extern const char *const tk_wire_stop_reason_names[];

/* Is s "png" or "jpeg"? */
bool tk_wire_image_format_ok(const char *s);

#endif
