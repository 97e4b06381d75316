/* The protobuf codec against python3-protobuf: the committed fixtures (tests/data/wire/proto,
 * made by gen_fixtures.py from a .proto written from tinker-protocol.md §5) decode to the same
 * objects as their JSON twins, and our encoder reproduces python's bytes exactly. Then bad input
 * of every kind, zstd bodies (including a bomb) and random corruption of every fixture. */
#include "test_util.h"
#include "tinkerc/wire.h"
#include "wire_testlib.h"

#include <math.h>

#define DATA "tests/data/wire/proto/"

typedef int (*enc_fn)(const void *, tk_buf *, tk_err *);
typedef int (*dec_fn)(const void *, size_t, tk_arena *, void *, tk_err *);

typedef struct kind {
    const char *name;
    tk_wire_msg msg;
    enc_fn enc;
    dec_fn dec;
} kind;

static const kind k_kinds[] = {
    {"forward_backward_request", TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST,
     (enc_fn)tk_wire_proto_encode_forward_backward_request, (dec_fn)tk_wire_proto_decode_forward_backward_request},
    {"forward_backward_output", TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT,
     (enc_fn)tk_wire_proto_encode_forward_backward_output, (dec_fn)tk_wire_proto_decode_forward_backward_output},
    {"sample_response", TK_WIRE_MSG_SAMPLE_RESPONSE, (enc_fn)tk_wire_proto_encode_sample_response,
     (dec_fn)tk_wire_proto_decode_sample_response},
};

static const kind *kind_of(const char *name) {
    for (size_t i = 0; i < sizeof k_kinds / sizeof k_kinds[0]; i++)
        if (strcmp(k_kinds[i].name, name) == 0) return &k_kinds[i];
    return NULL;
}

typedef struct fixture {
    char name[64];
    const kind *k;
    int encode;
    char *pb, *json;
    size_t pb_len, json_len;
} fixture;

static int load_fixtures(fixture *out, int max) {
    size_t len;
    char *man = tw_read_file(DATA "manifest.txt", &len);
    if (!man) fail_msg("cannot read " DATA "manifest.txt (run from the repository root)");
    int n = 0;
    for (char *line = strtok(man, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        char kname[64];
        fixture *f = &out[n];
        if (sscanf(line, "%63s %63s %d", f->name, kname, &f->encode) != 3) fail_msg("bad manifest line %s", line);
        f->k = kind_of(kname);
        assert_non_null(f->k);
        char path[256];
        snprintf(path, sizeof path, DATA "%s.pb", f->name);
        f->pb = tw_read_file(path, &f->pb_len);
        snprintf(path, sizeof path, DATA "%s.json", f->name);
        f->json = tw_read_file(path, &f->json_len);
        if (!f->pb || !f->json) fail_msg("missing fixture files for %s", f->name);
        n++;
    }
    free(man);
    return n;
}

static void free_fixtures(fixture *f, int n) {
    for (int i = 0; i < n; i++) {
        free(f[i].pb);
        free(f[i].json);
    }
}

static void python_fixtures(void **state) {
    (void)state;
    fixture fx[32];
    int n = load_fixtures(fx, 32);
    assert_true(n >= 10);
    char why[512];
    for (int i = 0; i < n; i++) {
        fixture *f = &fx[i];
        tk_arena *a = tk_arena_new(0);
        size_t size = tk_wire_msg_get_info(f->k->msg)->size;
        void *from_pb = tk_arena_zalloc(a, size), *from_json = tk_arena_zalloc(a, size);
        tk_err e = {0};
        if (f->k->dec(f->pb, f->pb_len, a, from_pb, &e)) fail_msg("%s: our protobuf decoder: %s", f->name, e.msg);
        if (tk_wire_json_decode(f->k->msg, f->json, f->json_len, a, from_json, &e))
            fail_msg("%s: our JSON decoder: %s", f->name, e.msg);
        if (!tw_equal(f->k->msg, from_json, from_pb, why, sizeof why))
            fail_msg("%s: protobuf and JSON forms decode differently at %s", f->name, why);
        if (f->encode) {
            tk_buf b = {0};
            if (f->k->enc(from_json, &b, &e)) fail_msg("%s: our encoder: %s", f->name, e.msg);
            if (b.len != f->pb_len || memcmp(b.data, f->pb, b.len)) {
                size_t at = 0;
                while (at < b.len && at < f->pb_len && b.data[at] == f->pb[at]) at++;
                fail_msg("%s: our bytes differ from python3-protobuf's at byte %zu (ours %zu bytes, python %zu)", f->name,
                         at, b.len, f->pb_len);
            }
            tk_buf_free(&b);
        }
        tk_arena_free(a);
    }
    free_fixtures(fx, n);
}

/* ---- specific decoded values of the fixtures ------------------------------------------------ */

static void fixture_values(void **state) {
    (void)state;
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    size_t len;
    char *pb = tw_read_file(DATA "fwdbwd_output_records.pb", &len);
    tk_wire_forward_backward_output o;
    assert_ok(tk_wire_proto_decode_forward_backward_output(pb, len, a, &o, &e), &e);
    /* "text after the last ':'", several records, int32 and bfloat16 widened */
    assert_string_equal(o.loss_fn_output_type, "TorchLossReturn");
    assert_int_equal(o.n_loss_fn_outputs, 3);
    const tk_wire_tensor *t = tk_wire_tensor_map_get(&o.loss_fn_outputs[1], "logprobs");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 2);
    t = tk_wire_tensor_map_get(&o.loss_fn_outputs[2], "logprobs");
    assert_int_equal(t->dtype, TK_WIRE_FLOAT32);
    assert_true(t->data.f32[0] == 1.0f && t->data.f32[1] == -2.0f && t->data.f32[2] == 3.140625f);
    t = tk_wire_tensor_map_get(&o.loss_fn_outputs[2], "ids");
    assert_int_equal(t->dtype, TK_WIRE_INT64);
    assert_int_equal(t->data.i64[0], -1);
    assert_int_equal(t->data.i64[1], INT32_MAX);
    free(pb);

    pb = tw_read_file(DATA "sample_response_full.pb", &len);
    tk_wire_sample_response s;
    assert_ok(tk_wire_proto_decode_sample_response(pb, len, a, &s, &e), &e);
    assert_int_equal(s.n_sequences, 3);
    assert_int_equal(s.sequences[0].stop_reason, TK_WIRE_STOP_REASON_LENGTH);
    assert_false(s.sequences[1].has_logprobs);
    assert_true(isnan(s.prompt_logprobs[0]));
    assert_int_equal(s.topk_prompt_logprobs.k, 2);
    assert_int_equal(s.prompt_cache_hit_tokens, 17);
    free(pb);

    pb = tw_read_file(DATA "fwdbwd_request_ppo_image.pb", &len);
    tk_wire_forward_backward_request r;
    assert_ok(tk_wire_proto_decode_forward_backward_request(pb, len, a, &r, &e), &e);
    assert_int_equal(r.seq_id, -5);
    assert_true(r.forward_only);
    assert_int_equal(r.input.loss_fn, TK_WIRE_LOSS_PPO);
    assert_int_equal(r.input.data[0].model_input.chunks[1].type, TK_WIRE_CHUNK_IMAGE);
    assert_int_equal(r.input.data[0].model_input.chunks[1].n_data, 40);
    assert_string_equal(r.input.data[1].model_input.chunks[0].format, "jpeg");
    assert_false(r.input.data[1].model_input.chunks[0].has_expected_tokens);
    free(pb);
    tk_arena_free(a);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void expect_pb_err(const kind *k, const void *buf, size_t len, int code, const char *needle) {
    tk_arena *a = tk_arena_new(0);
    char obj[1024];
    tk_err e = {0};
    int rc = k->dec(buf, len, a, obj, &e);
    tk_arena_free(a);
    if (rc != code) fail_msg("%s: %s (%s), expected %s", k->name, tk_code_name(rc), e.msg, tk_code_name(code));
    if (!strstr(e.msg, needle)) fail_msg("%s: message \"%s\" lacks \"%s\"", k->name, e.msg, needle);
}

/* a tiny protobuf writer for hand-made bad messages */
typedef struct pw {
    uint8_t b[512];
    size_t n;
} pw;
static void pw_varint(pw *w, uint64_t v) {
    while (v >= 0x80) { w->b[w->n++] = (uint8_t)(v | 0x80); v >>= 7; }
    w->b[w->n++] = (uint8_t)v;
}
static void pw_tag(pw *w, unsigned f, unsigned wt) { pw_varint(w, ((uint64_t)f << 3) | wt); }
static void pw_bytes(pw *w, unsigned f, const void *p, size_t n) {
    pw_tag(w, f, 2);
    pw_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void pw_sub(pw *w, unsigned f, const pw *sub) { pw_bytes(w, f, sub->b, sub->n); }
static void pw_i64s(pw *w, unsigned f, const int64_t *v, size_t n) { pw_bytes(w, f, v, n * 8); }

/* ForwardBackwardOutput with one record of one float32 field */
static pw fbo(const int64_t *offs, size_t n_offs, size_t data_bytes, uint64_t dtype, const int64_t *trail, size_t n_trail,
              int64_t num_datums) {
    pw bt = {0}, entry = {0}, rec = {0}, top = {0};
    uint8_t data[64] = {0};
    pw_bytes(&bt, 1, data, data_bytes);
    pw_i64s(&bt, 2, offs, n_offs);
    pw_tag(&bt, 3, 0);
    pw_varint(&bt, dtype);
    if (n_trail) {
        pw packed = {0};
        for (size_t i = 0; i < n_trail; i++) pw_varint(&packed, (uint64_t)trail[i]);
        pw_sub(&bt, 4, &packed);
    }
    pw_bytes(&entry, 1, "logprobs", 8);
    pw_sub(&entry, 2, &bt);
    pw_sub(&rec, 2, &entry);
    pw_tag(&rec, 3, 0);
    pw_varint(&rec, (uint64_t)num_datums);
    pw_bytes(&top, 1, "T", 1);
    pw_sub(&top, 2, &rec);
    return top;
}

static void bad_protobuf(void **state) {
    (void)state;
    const kind *REQ = &k_kinds[0], *OUT = &k_kinds[1], *SMP = &k_kinds[2];
    /* varints: 11 continuation bytes, a 10th byte above 1, truncation */
    uint8_t v11[] = {0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    v11[0] = 0x10; /* field 2 (seq_id), varint */
    expect_pb_err(REQ, v11, sizeof v11, TK_EPARSE, "malformed varint");
    uint8_t v10[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    expect_pb_err(REQ, v10, sizeof v10, TK_EPARSE, "malformed varint (more than 64 bits)");
    uint8_t vt[] = {0x10, 0xff};
    expect_pb_err(REQ, vt, sizeof vt, TK_EPARSE, "truncated varint");
    /* a length that runs past the end; field number 0; a group wire type */
    uint8_t past[] = {0x0a, 0x05, 'a', 'b'};
    expect_pb_err(REQ, past, sizeof past, TK_EPARSE, "ForwardBackwardRequest: length 5 runs past the end (2 bytes left)");
    uint8_t f0[] = {0x02, 0x00};
    expect_pb_err(REQ, f0, sizeof f0, TK_EPARSE, "invalid field number 0");
    uint8_t grp[] = {0x7b};
    expect_pb_err(REQ, grp, sizeof grp, TK_EPARSE, "unsupported wire type 3");
    /* a known field with the wrong wire type */
    uint8_t wt[] = {0x08, 0x01};
    expect_pb_err(REQ, wt, sizeof wt, TK_EPARSE, "model_id: wire type 0, expected 2");
    /* unknown loss function, missing loss_fn */
    pw w = {0};
    pw_bytes(&w, 4, "mse", 3);
    expect_pb_err(REQ, w.b, w.n, TK_EINVAL, "loss_fn: unknown loss function \"mse\"");
    expect_pb_err(REQ, "", 0, TK_EINVAL, "loss_fn: required field is missing");
    /* tokens not a multiple of 4 bytes; dmel; a tensor whose data does not match its shape */
    pw txt = {0}, chunk = {0}, datum = {0};
    pw_bytes(&txt, 1, "abcdef", 6);
    pw_sub(&chunk, 1, &txt);
    pw_sub(&datum, 1, &chunk);
    w.n = 0;
    pw_sub(&w, 3, &datum);
    pw_bytes(&w, 4, "ppo", 3);
    expect_pb_err(REQ, w.b, w.n, TK_EINVAL, "ForwardBackwardRequest.data[0].model_input[0]: encoded_text.tokens: 6 bytes is not a multiple of 4");
    chunk.n = 0;
    datum.n = 0;
    pw_bytes(&chunk, 3, "x", 1);
    pw_sub(&datum, 1, &chunk);
    w.n = 0;
    pw_sub(&w, 3, &datum);
    expect_pb_err(REQ, w.b, w.n, TK_EUNSUPPORTED, "dmel (audio) chunks are not supported");
    pw tensor = {0}, entry = {0};
    int64_t vals[3] = {1, 2, 3};
    pw_i64s(&tensor, 1, vals, 3);
    pw_tag(&tensor, 3, 0);
    pw_varint(&tensor, 2);
    pw packed = {0};
    pw_varint(&packed, 2);
    pw_varint(&packed, 2);
    pw_sub(&tensor, 4, &packed);
    pw_bytes(&entry, 1, "target_tokens", 13);
    pw_sub(&entry, 2, &tensor);
    datum.n = 0;
    pw_sub(&datum, 2, &entry);
    w.n = 0;
    pw_sub(&w, 3, &datum);
    pw_bytes(&w, 4, "cross_entropy", 13);
    expect_pb_err(REQ, w.b, w.n, TK_EINVAL, "data[0].loss_fn_inputs[0]: data has 3 elements but the shape needs 4");
    /* negative (varint-encoded) dims */
    tensor.n = 0;
    pw_i64s(&tensor, 1, vals, 3);
    pw_tag(&tensor, 3, 0);
    pw_varint(&tensor, 2);
    pw_tag(&tensor, 4, 0);
    pw_varint(&tensor, (uint64_t)-3);
    entry.n = 0;
    pw_bytes(&entry, 1, "target_tokens", 13);
    pw_sub(&entry, 2, &tensor);
    datum.n = 0;
    pw_sub(&datum, 2, &entry);
    w.n = 0;
    pw_sub(&w, 3, &datum);
    pw_bytes(&w, 4, "cross_entropy", 13);
    expect_pb_err(REQ, w.b, w.n, TK_EINVAL, "shape[0]: negative dimension -3");
    /* DTYPE_UNSPECIFIED */
    tensor.n = 0;
    pw_i64s(&tensor, 1, vals, 1);
    entry.n = 0;
    pw_bytes(&entry, 1, "w", 1);
    pw_sub(&entry, 2, &tensor);
    datum.n = 0;
    pw_sub(&datum, 2, &entry);
    w.n = 0;
    pw_sub(&w, 3, &datum);
    pw_bytes(&w, 4, "cross_entropy", 13);
    expect_pb_err(REQ, w.b, w.n, TK_EINVAL, "dtype: unsupported value 0");

    /* BatchedTensor offsets: out of range, decreasing, misaligned, not starting at 0, leftovers */
    int64_t ok_offs[] = {0, 4, 8};
    pw o = fbo(ok_offs, 3, 8, 1, NULL, 0, 2);
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_output out;
    tk_err e = {0};
    assert_ok(tk_wire_proto_decode_forward_backward_output(o.b, o.n, a, &out, &e), &e);
    assert_int_equal(out.n_loss_fn_outputs, 2);
    tk_arena_free(a);
    int64_t past_end[] = {0, 4, 12};
    o = fbo(past_end, 3, 8, 1, NULL, 0, 2);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "loss_fn_outputs[0].fields: logprobs.offsets[2] = 12 is past the 8 data bytes");
    int64_t decreasing[] = {0, 8, 4};
    o = fbo(decreasing, 3, 8, 1, NULL, 0, 2);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs.offsets[2] = 4 decreases");
    int64_t misaligned[] = {0, 3, 8};
    o = fbo(misaligned, 3, 8, 1, NULL, 0, 2);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs.offsets[1] = 3 is not a multiple of the 4-byte element");
    int64_t nonzero[] = {4, 8};
    o = fbo(nonzero, 2, 8, 1, NULL, 0, 1);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs.offsets[0] is 4, must be 0");
    int64_t short_offs[] = {0, 4};
    o = fbo(short_offs, 2, 8, 1, NULL, 0, 1);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs: 4 data bytes after the last offset");
    o = fbo(ok_offs, 3, 8, 1, NULL, 0, 5);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs has 2 datums, the record 5");
    int64_t trail3[] = {3};
    o = fbo(ok_offs, 3, 8, 1, trail3, 1, 2);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs: datum 0 has 1 elements, not a multiple of the trailing shape's 3");
    o = fbo(ok_offs, 3, 8, 9, NULL, 0, 2);
    expect_pb_err(OUT, o.b, o.n, TK_EINVAL, "logprobs.dtype: unsupported value 9");
    o = fbo(ok_offs, 2, 8, 1, NULL, 0, 1);
    o.b[o.n - 1] = 0xff;   /* num_datums varint now truncated */
    expect_pb_err(OUT, o.b, o.n, TK_EPARSE, "truncated varint");

    /* SampleResponse: bad stop reason, ragged byte arrays, top-k size mismatch */
    pw seq = {0}, top = {0};
    pw_tag(&seq, 1, 0);
    pw_varint(&seq, 7);
    pw_sub(&top, 1, &seq);
    expect_pb_err(SMP, top.b, top.n, TK_EINVAL, "SampleResponse.sequences[0]: stop_reason: unknown value 7");
    seq.n = top.n = 0;
    pw_bytes(&seq, 3, "abcde", 5);
    pw_sub(&top, 1, &seq);
    expect_pb_err(SMP, top.b, top.n, TK_EINVAL, "logprobs: 5 bytes is not a multiple of 4");
    pw tk = {0};
    pw_bytes(&tk, 1, "12345678", 8);
    pw_bytes(&tk, 2, "1234", 4);
    pw_tag(&tk, 3, 0);
    pw_varint(&tk, 2);
    pw_tag(&tk, 4, 0);
    pw_varint(&tk, 1);
    top.n = 0;
    pw_sub(&top, 3, &tk);
    expect_pb_err(SMP, top.b, top.n, TK_EINVAL, "topk_prompt_logprobs: token_ids has 8 bytes and logprobs 4");
}

static void truncation_and_corruption(void **state) {
    (void)state;
    fixture fx[32];
    int n = load_fixtures(fx, 32);
    tk_rng rng;
    tk_rng_seed(&rng, 99);
    for (int i = 0; i < n; i++) {
        fixture *f = &fx[i];
        size_t size = tk_wire_msg_get_info(f->k->msg)->size;
        /* every prefix: either a (shorter) valid message or an error with a message; never a crash */
        for (size_t cut = 0; cut < f->pb_len; cut += 1 + f->pb_len / 200) {
            tk_arena *a = tk_arena_new(0);
            void *obj = tk_arena_zalloc(a, size);
            tk_err e = {0};
            int rc = f->k->dec(f->pb, cut, a, obj, &e);
            if (rc) assert_true(strlen(e.msg) > 0);
            tk_arena_free(a);
        }
        /* random byte corruption */
        char *copy = malloc(f->pb_len + 1);
        for (int m = 0; m < 300 && f->pb_len; m++) {
            memcpy(copy, f->pb, f->pb_len);
            int flips = 1 + (int)tk_rng_below(&rng, 4);
            for (int k = 0; k < flips; k++) copy[tk_rng_below(&rng, f->pb_len)] = (char)tk_rng_u64(&rng);
            tk_arena *a = tk_arena_new(0);
            void *obj = tk_arena_zalloc(a, size);
            tk_err e = {0};
            int rc = f->k->dec(copy, f->pb_len, a, obj, &e);
            if (rc) assert_true(strlen(e.msg) > 0);
            tk_arena_free(a);
        }
        free(copy);
        /* and the JSON twins, corrupted the same way */
        copy = malloc(f->json_len + 1);
        for (int m = 0; m < 100; m++) {
            memcpy(copy, f->json, f->json_len);
            copy[tk_rng_below(&rng, f->json_len)] = "{}[],:\"\\0x-e"[tk_rng_below(&rng, 12)];
            tk_arena *a = tk_arena_new(0);
            void *obj = tk_arena_zalloc(a, size);
            tk_err e = {0};
            int rc = tk_wire_json_decode(f->k->msg, copy, f->json_len, a, obj, &e);
            if (rc) assert_true(strlen(e.msg) > 0);
            tk_arena_free(a);
        }
        free(copy);
    }
    free_fixtures(fx, n);
}

/* ---- zstd ----------------------------------------------------------------------------------- */

static void zstd_bodies(void **state) {
    (void)state;
    fixture fx[32];
    int n = load_fixtures(fx, 32);
    tk_err e = {0};
    for (int i = 0; i < n; i++) {
        fixture *f = &fx[i];
        if (f->k->msg != TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST || !f->pb_len) continue;
        tk_buf z = {0};
        assert_ok(tk_wire_zstd_compress(f->pb, f->pb_len, 3, &z, &e), &e);
        tk_arena *a = tk_arena_new(0);
        tk_wire_forward_backward_request x, y;
        assert_ok(tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/x-protobuf", "zstd", z.data,
                                      z.len, 0, a, &x, &e), &e);
        assert_ok(tk_wire_proto_decode_forward_backward_request(f->pb, f->pb_len, a, &y, &e), &e);
        char why[256];
        assert_true(tw_equal(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &x, &y, why, sizeof why));
        /* a cap below the real size refuses it; truncation and garbage are parse errors */
        assert_err(tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/x-protobuf", "zstd", z.data,
                                       z.len, f->pb_len - 1, a, &x, &e), TK_ENOMEM, &e, "exceeds");
        tk_buf plain = {0};
        assert_err(tk_wire_zstd_decompress(z.data, z.len - 3, 1 << 20, &plain, &e), TK_EPARSE, &e, "truncated");
        tk_buf_free(&plain);
        tk_buf_free(&z);
        tk_arena_free(a);
    }
    free_fixtures(fx, n);
    tk_buf plain = {0};
    assert_err(tk_wire_zstd_decompress("not zstd at all", 15, 1 << 20, &plain, &e), TK_EPARSE, &e, "zstd body: corrupt");
    assert_err(tk_wire_zstd_decompress("", 0, 1 << 20, &plain, &e), TK_EPARSE, &e, "empty");
    tk_buf_free(&plain);

    /* a bomb: 256 MiB of zeros compress to a few KiB; the cap stops decompression at 1 MiB */
    size_t big = (size_t)256 << 20;
    char *zeros = calloc(1, big);
    tk_buf z = {0};
    assert_ok(tk_wire_zstd_compress(zeros, big, 19, &z, &e), &e);
    free(zeros);
    assert_true(z.len < 64 * 1024);
    assert_err(tk_wire_zstd_decompress(z.data, z.len, (size_t)1 << 20, &plain, &e), TK_ENOMEM, &e,
               "zstd body: decompressed body exceeds 1048576 bytes");
    assert_true(plain.len <= ((size_t)1 << 20) + 1);
    tk_buf_free(&plain);
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_request x;
    assert_err(tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/x-protobuf", " zstd ", z.data, z.len,
                                   (size_t)4 << 20, a, &x, &e), TK_ENOMEM, &e, "exceeds 4194304 bytes");
    assert_err(tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/x-protobuf", "gzip", z.data, z.len,
                                   0, a, &x, &e), TK_EUNSUPPORTED, &e, "Content-Encoding \"gzip\" is not supported");
    assert_err(tk_wire_body_decode(TK_WIRE_MSG_OPTIM_STEP_REQUEST, "application/x-protobuf", NULL, "", 0, 0, a, &x, &e),
               TK_EUNSUPPORTED, &e, "optim_step request: no protobuf form");
    /* JSON through the same entry point */
    const char *js = "{\"model_id\":\"m\",\"forward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[]}}";
    assert_ok(tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, "application/json", "identity", js, strlen(js), 0,
                                  a, &x, &e), &e);
    assert_true(x.forward_only);
    tk_arena_free(a);
    tk_buf_free(&z);
}

static void body_encode_by_accept(void **state) {
    (void)state;
    tk_err e = {0};
    tk_buf b = {0};
    const char *ct = NULL;
    tk_wire_sample_response s;
    tk_wire_init(TK_WIRE_MSG_SAMPLE_RESPONSE, &s);
    s.prompt_cache_hit_tokens = 3;
    /* SDK 0.25 asks for protobuf only; 0.18-0.24 for either */
    assert_ok(tk_wire_body_encode(TK_WIRE_MSG_SAMPLE_RESPONSE, "application/x-protobuf", &s, &b, &ct, &e), &e);
    assert_string_equal(ct, "application/x-protobuf");
    assert_int_equal(b.len, 2);   /* field 4 = 3 */
    tk_buf_clear(&b);
    assert_ok(tk_wire_body_encode(TK_WIRE_MSG_SAMPLE_RESPONSE, "application/x-protobuf, application/json", &s, &b, &ct, &e), &e);
    assert_string_equal(ct, "application/x-protobuf");
    tk_buf_clear(&b);
    assert_ok(tk_wire_body_encode(TK_WIRE_MSG_SAMPLE_RESPONSE, "application/json", &s, &b, &ct, &e), &e);
    assert_string_equal(ct, "application/json");
    assert_string_equal(b.data, "{\"type\":\"sample\",\"sequences\":[],\"prompt_cache_hit_tokens\":3}");
    /* results without a protobuf form are JSON whatever Accept says */
    tk_wire_model_id_response cm = {"m"};
    tk_buf_clear(&b);
    assert_ok(tk_wire_body_encode(TK_WIRE_MSG_CREATE_MODEL_RESPONSE, "application/x-protobuf", &cm, &b, &ct, &e), &e);
    assert_string_equal(ct, "application/json");
    assert_string_equal(b.data, "{\"model_id\":\"m\",\"type\":\"create_model\"}");
    tk_buf_free(&b);
}

static void encoder_refusals(void **state) {
    (void)state;
    tk_err e = {0};
    tk_buf b = {0};
    tk_wire_chunk ptr = {.type = TK_WIRE_CHUNK_IMAGE_ASSET_POINTER, .format = "png", .location = "s3://x"};
    tk_wire_datum d = {{&ptr, 1}, {NULL, 0}};
    tk_wire_forward_backward_request r;
    tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &r);
    r.model_id = "m";
    r.input.data = &d;
    r.input.n_data = 1;
    assert_err(tk_wire_proto_encode_forward_backward_request(&r, &b, &e), TK_EUNSUPPORTED, &e,
               "ForwardBackwardRequest.data[0].model_input.chunks[0]: image_asset_pointer chunks cannot be sent as protobuf");
    r.input.n_data = 0;
    r.has_seq_id = true;
    r.seq_id = (int64_t)1 << 40;
    assert_err(tk_wire_proto_encode_forward_backward_request(&r, &b, &e), TK_ERANGE, &e, "seq_id");
    /* outputs whose datums carry different fields cannot be batched */
    float v[2] = {1, 2};
    tk_wire_named_tensor a1 = {"logprobs", tk_wire_tensor_view_f32(v, 2)}, a2 = {"other", tk_wire_tensor_view_f32(v, 2)};
    tk_wire_tensor_map maps[2] = {{&a1, 1}, {&a2, 1}};
    tk_wire_forward_backward_output o = {"T", maps, 2, {true, NULL, 0}};
    assert_err(tk_wire_proto_encode_forward_backward_output(&o, &b, &e), TK_EINVAL, &e,
               "loss_fn_outputs[1].logprobs: missing (datum 0 has it)");
    a2.name = "logprobs";
    a2.tensor.ndim = 0;
    a2.tensor.n = 1;
    assert_err(tk_wire_proto_encode_forward_backward_output(&o, &b, &e), TK_EINVAL, &e,
               "a scalar cannot be batched");
    assert_int_equal(b.len, 0);
    tk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(python_fixtures),
        cmocka_unit_test(fixture_values),
        cmocka_unit_test(bad_protobuf),
        cmocka_unit_test(truncation_and_corruption),
        cmocka_unit_test(zstd_bodies),
        cmocka_unit_test(body_encode_by_accept),
        cmocka_unit_test(encoder_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
