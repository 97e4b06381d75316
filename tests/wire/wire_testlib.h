/* Test helpers for the wire layer: random valid objects of every message type (seeded), deep
 * equality, and small file/JSON utilities. They walk the same field tables as the codec, so they
 * prove round trips (encode -> decode -> equal); the field NAMES and shapes are proven separately
 * by the golden tests against the protocol reference and the python3-protobuf fixtures. */
#ifndef TK_WIRE_TESTLIB_H
#define TK_WIRE_TESTLIB_H

#include "tinkerc/wire.h"

/* Restrictions that keep a random object inside what the protobuf form can carry (no image
 * pointers, ndim >= 1, no empty-but-present optional arrays, seq_id set and int32, …). */
#define TW_FOR_PROTO 1u

void tw_random(tk_wire_msg type, tk_rng *rng, tk_arena *a, void *obj, unsigned flags);
/* Deep equality; on a difference, why[] says where. NaN == NaN for float arrays (bitwise). */
bool tw_equal(tk_wire_msg type, const void *x, const void *y, char *why, size_t why_len);

/* Read a whole file into a malloc'ed NUL-terminated buffer; NULL if it cannot be read. */
char *tw_read_file(const char *path, size_t *len);

/* Semantic JSON equality (jansson): numbers compare by value (1 == 1.0), objects by key set,
 * and members whose value is null count as absent. */
bool tw_json_same(const char *a, size_t alen, const char *b, size_t blen, char *why, size_t why_len);

#endif
