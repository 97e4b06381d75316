/* The rest of the wire model against its references:
 *   number text      Python's repr() of doubles and numpy's shortest float32 (numbers.txt)
 *   metric merging   numpy + CPython per §6.5 (metrics.json)
 *   datum building   the worked example of reference/cookbook.md §3.1, and torch's float32
 *                    arithmetic for reduction="mean" (datum_mean.json)
 *   TensorData       the bridge to C arrays, narrowing and bf16 widening
 *   tinker:// paths  §1.5's rules
 *   loss functions   §6.4/§6.8 names, inputs and config defaults */
#include "test_util.h"
#include "tinkerc/wire.h"
#include "wire/json_internal.h"
#include "wire_testlib.h"

#include <jansson.h>
#include <math.h>

/* ---- numbers -------------------------------------------------------------------------------- */

static void number_text(void **state) {
    (void)state;
    size_t len;
    char *txt = tw_read_file("tests/data/wire/numbers.txt", &len);
    assert_non_null(txt);
    int nd = 0, nf = 0;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        char kind, ref[64];
        unsigned long long bits;
        assert_int_equal(sscanf(line, "%c %llx %63s", &kind, &bits, ref), 3);
        char ours[48];
        if (kind == 'd') {
            double v;
            uint64_t b = bits;
            memcpy(&v, &b, 8);
            size_t n = tk_fmt_f64(ours, v);
            ours[n] = '\0';
            /* Python's repr, exactly */
            if (strcmp(ours, ref) != 0) fail_msg("double %016llx: ours %s, Python %s", bits, ours, ref);
            /* and reading Python's text gives the same bits */
            tk_num num;
            assert_non_null(tk_num_scan(ref, ref + strlen(ref), &num));
            double back = tk_num_to_f64(&num);
            if (memcmp(&back, &v, 8)) fail_msg("reading %s gave %.17g", ref, back);
            nd++;
        } else {
            float v;
            uint32_t b = (uint32_t)bits;
            memcpy(&v, &b, 4);
            size_t n = tk_fmt_f32(ours, v);
            ours[n] = '\0';
            /* reads back to the same float32 (through a correctly rounded double, as numpy does) */
            float back = (float)strtod(ours, NULL);
            if (memcmp(&back, &v, 4)) fail_msg("float %08llx: %s reads back as %.9g", bits, ours, (double)back);
            /* with as few significant digits as numpy's shortest repr (Dragon4, unique=True) */
            int d_ours = 0, d_ref = 0;
            const char *p;
            bool lead = true;
            for (p = ours; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9' && !(lead && *p == '0')) { d_ours++; lead = false; }
            /* trailing zeros of an integral value are not significant */
            if (strstr(ours, ".0") && !strchr(ours, 'e') && ours[strlen(ours) - 1] == '0') {
                const char *q = strchr(ours, '.');
                for (const char *z = q - 1; z >= ours && *z == '0' && d_ours > 1; z--) d_ours--;
                d_ours--;   /* the ".0" */
                if (d_ours < 1) d_ours = 1;
            }
            for (p = ref; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9') d_ref++;
            if (d_ours > d_ref) fail_msg("float %08llx: ours %s has %d digits, numpy's %s has %d", bits, ours, d_ours, ref, d_ref);
            nf++;
        }
    }
    free(txt);
    assert_true(nd > 2500 && nf > 2900);
}

static void number_reading(void **state) {
    (void)state;
    /* float32 targets read like numpy: (float) of the correctly rounded double, on 300000 random
     * 17-digit texts (what Python prints for a widened float32) and random short ones */
    tk_rng r;
    tk_rng_seed(&r, 3);
    char buf[64];
    for (int i = 0; i < 300000; i++) {
        double d = (tk_rng_f64(&r) - 0.5) * pow(10, (int)tk_rng_below(&r, 60) - 30);
        int digits = i % 3 == 0 ? 17 : 1 + (int)tk_rng_below(&r, 19);
        int n = snprintf(buf, sizeof buf, "%.*g", digits, d);
        tk_num num;
        assert_non_null(tk_num_scan(buf, buf + n, &num));
        float ours = tk_num_to_f32(&num);
        float ref = (float)strtod(buf, NULL);
        if (memcmp(&ours, &ref, 4)) fail_msg("%s: ours %.9g, strtod %.9g", buf, (double)ours, (double)ref);
        double od = tk_num_to_f64(&num), rd = strtod(buf, NULL);
        if (memcmp(&od, &rd, 8)) fail_msg("%s: ours %.17g, strtod %.17g", buf, od, rd);
    }
    /* float32 text reads back for 300000 random finite float32 values (every exponent) */
    for (int i = 0; i < 300000; i++) {
        uint32_t u = (uint32_t)tk_rng_u64(&r);
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f)) continue;
        int n = (int)tk_fmt_f32(buf, f);
        buf[n] = '\0';
        float back = (float)strtod(buf, NULL);
        if (memcmp(&back, &f, 4)) fail_msg("%08x: %s reads back as %.9g", u, buf, (double)back);
    }
    /* float32 rounding midpoints exercised on purpose: exact decimal midpoints between floats */
    for (int i = 0; i < 100000; i++) {
        uint32_t u = (uint32_t)tk_rng_u64(&r) & 0x7effffff;
        float f, g;
        memcpy(&f, &u, 4);
        if (!isfinite(f) || f < 1e-30f) continue;
        g = nextafterf(f, INFINITY);
        double mid = ((double)f + (double)g) / 2;
        int n = snprintf(buf, sizeof buf, "%.25g", mid);
        tk_num num;
        assert_non_null(tk_num_scan(buf, buf + n, &num));
        float ours = tk_num_to_f32(&num), ref = (float)strtod(buf, NULL);
        if (memcmp(&ours, &ref, 4)) fail_msg("midpoint %s: ours %.9g, strtod %.9g", buf, (double)ours, (double)ref);
    }
}

/* The array reader has its own fast paths (SWAR digits, runs of equal values): a float32 tensor
 * of varied number texts must read exactly as strtod + (float) reads each one. */
static void number_arrays(void **state) {
    (void)state;
    tk_rng r;
    tk_rng_seed(&r, 17);
    for (int round = 0; round < 40; round++) {
        tk_buf js = {0};
        size_t n = 500;
        double *want = malloc(n * sizeof *want);
        char prev[64] = "0";
        assert_int_equal(tk_buf_puts(&js, "{\"dtype\":\"float32\",\"data\":["), 0);
        for (size_t i = 0; i < n; i++) {
            char t[64];
            switch (tk_rng_below(&r, 7)) {
            case 0: snprintf(t, sizeof t, "%.*f", (int)tk_rng_below(&r, 12), (tk_rng_f64(&r) - 0.5) * 100); break;
            case 1: snprintf(t, sizeof t, "%.*g", 1 + (int)tk_rng_below(&r, 19), (tk_rng_f64(&r) - 0.5) * pow(10, (int)tk_rng_below(&r, 40) - 20)); break;
            case 2: snprintf(t, sizeof t, "0.%0*d%d", (int)tk_rng_below(&r, 12), 0, (int)tk_rng_below(&r, 100000)); break;
            case 3: snprintf(t, sizeof t, "%.17g", (double)(float)(tk_rng_f64(&r) * 3)); break;
            case 4: snprintf(t, sizeof t, "%s", i ? "" : "0"); break;   /* "" repeats the previous text */
            case 5: snprintf(t, sizeof t, "%lld", (long long)(tk_rng_u64(&r) >> tk_rng_below(&r, 64)) % 100000000000LL); break;
            default: snprintf(t, sizeof t, "%d.%07d", (int)tk_rng_below(&r, 3), (int)tk_rng_below(&r, 10000000)); break;
            }
            if (!t[0]) snprintf(t, sizeof t, "%s", prev);
            snprintf(prev, sizeof prev, "%s", t);
            want[i] = strtod(t, NULL);
            if (i) assert_int_equal(tk_buf_putc(&js, ','), 0);
            if (tk_rng_below(&r, 10) == 0) assert_int_equal(tk_buf_putc(&js, ' '), 0);
            assert_int_equal(tk_buf_puts(&js, t), 0);
        }
        assert_int_equal(tk_buf_puts(&js, "]}"), 0);
        tk_arena *a = tk_arena_new(0);
        tk_wire_tensor t;
        tk_err e = {0};
        assert_ok(tk_wire_json_decode(TK_WIRE_MSG_TENSOR_DATA, js.data, js.len, a, &t, &e), &e);
        assert_int_equal(t.n, n);
        for (size_t i = 0; i < n; i++) {
            float ref = (float)want[i];
            if (memcmp(&ref, &t.data.f32[i], 4)) fail_msg("element %zu: ours %.9g, strtod %.9g", i, (double)t.data.f32[i], (double)ref);
        }
        tk_arena_free(a);
        tk_buf_free(&js);
        free(want);
    }
}

/* ---- metric merging ------------------------------------------------------------------------- */

static double from_bits(json_t *v) {
    uint64_t b = strtoull(json_string_value(v), NULL, 16);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static void metrics_merge_numpy(void **state) {
    (void)state;
    json_error_t je;
    json_t *cases = json_load_file("tests/data/wire/metrics.json", 0, &je);
    assert_non_null(cases);
    size_t ci;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, ci, c) {
        tk_arena *a = tk_arena_new(0);
        json_t *chunks = json_object_get(c, "chunks"), *counts = json_object_get(c, "counts");
        size_t n = json_array_size(chunks);
        tk_wire_f64_map *maps = tk_arena_zalloc(a, n * sizeof *maps);
        const tk_wire_f64_map **ptrs = tk_arena_zalloc(a, n * sizeof *ptrs);
        size_t *cnt = tk_arena_zalloc(a, n * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            json_t *ch = json_array_get(chunks, i);
            maps[i].present = true;
            maps[i].n = json_array_size(ch);
            maps[i].items = tk_arena_zalloc(a, maps[i].n * sizeof *maps[i].items);
            for (size_t k = 0; k < maps[i].n; k++) {
                json_t *kv = json_array_get(ch, k);
                maps[i].items[k].key = tk_arena_strdup(a, json_string_value(json_array_get(kv, 0)));
                maps[i].items[k].value = from_bits(json_array_get(kv, 1));
            }
            ptrs[i] = &maps[i];
            cnt[i] = (size_t)json_integer_value(json_array_get(counts, i));
        }
        tk_wire_f64_map out;
        tk_err e = {0};
        int rc = tk_wire_metrics_merge(ptrs, cnt, n, a, &out, &e);
        json_t *exp = json_object_get(c, "expected");
        if (json_is_string(exp)) {
            assert_err(rc, TK_EINVAL, &e, "must have the form name:reduction");
        } else {
            assert_ok(rc, &e);
            if (out.n != json_array_size(exp)) fail_msg("case %zu: %zu keys, numpy %zu", ci, out.n, json_array_size(exp));
            for (size_t k = 0; k < out.n; k++) {
                json_t *kv = json_array_get(exp, k);
                assert_string_equal(out.items[k].key, json_string_value(json_array_get(kv, 0)));
                double want = from_bits(json_array_get(kv, 1));
                if (memcmp(&want, &out.items[k].value, 8))
                    fail_msg("case %zu (%zu chunks) %s: ours %.17g, numpy/CPython %.17g", ci, n, out.items[k].key,
                             out.items[k].value, want);
                checked++;
            }
        }
        tk_arena_free(a);
    }
    json_decref(cases);
    assert_true(checked > 100);
}

static void metrics_merge_edges(void **state) {
    (void)state;
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_wire_kv_f64 kv1[] = {{"loss:mean", 1.0}}, kv2[] = {{"loss:mean", 3.0}};
    tk_wire_f64_map m1 = {true, kv1, 1}, m2 = {true, kv2, 1};
    const tk_wire_f64_map *ms[] = {&m1, &m2};
    size_t zero[] = {0, 0}, w[] = {1, 3};
    tk_wire_f64_map out;
    assert_err(tk_wire_metrics_merge(ms, zero, 2, a, &out, &e), TK_EINVAL, &e, "loss:mean: the chunks' datum counts sum to zero");
    assert_ok(tk_wire_metrics_merge(ms, w, 2, a, &out, &e), &e);
    assert_true(out.items[0].value == 2.5);   /* (1*1 + 3*3) / 4 */
    /* merging whole outputs: concatenation, type from chunk 0, weights = output counts */
    float v[1] = {-1};
    tk_wire_named_tensor nt = {"logprobs", tk_wire_tensor_view_f32(v, 1)};
    tk_wire_tensor_map maps[4] = {{&nt, 1}, {&nt, 1}, {&nt, 1}, {&nt, 1}};
    tk_wire_forward_backward_output parts[2] = {{"A", maps, 1, m1}, {"B", maps + 1, 3, m2}};
    tk_wire_forward_backward_output merged;
    assert_ok(tk_wire_forward_backward_output_merge(parts, 2, a, &merged, &e), &e);
    assert_string_equal(merged.loss_fn_output_type, "A");
    assert_int_equal(merged.n_loss_fn_outputs, 4);
    assert_true(merged.metrics.items[0].value == 2.5);
    assert_ok(tk_wire_forward_backward_output_merge(parts, 0, a, &merged, &e), &e);
    assert_string_equal(merged.loss_fn_output_type, "");
    tk_arena_free(a);
}

/* ---- datum construction --------------------------------------------------------------------- */

static tk_wire_chunk text(int32_t *t, size_t n) {
    tk_wire_chunk c = {0};
    c.type = TK_WIRE_CHUNK_ENCODED_TEXT;
    c.tokens = t;
    c.n_tokens = n;
    return c;
}

static tk_wire_chunk image(int64_t expected) {
    tk_wire_chunk c = {0};
    c.type = TK_WIRE_CHUNK_IMAGE;
    c.format = "png";
    c.has_expected_tokens = true;
    c.expected_tokens = expected;
    return c;
}

static void check_datum(const tk_wire_datum *d, const int32_t *in, size_t n_in, const int64_t *tgt, const float *w, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < d->model_input.n_chunks; i++) {
        const tk_wire_chunk *c = &d->model_input.chunks[i];
        if (c->type == TK_WIRE_CHUNK_ENCODED_TEXT)
            for (size_t j = 0; j < c->n_tokens; j++) assert_int_equal(c->tokens[j], in[k++]);
        else
            for (int64_t j = 0; j < c->expected_tokens; j++) assert_int_equal(-1, in[k++]);
    }
    assert_int_equal(k, n_in);
    assert_int_equal(d->loss_fn_inputs.n, 2);
    assert_string_equal(d->loss_fn_inputs.items[0].name, "weights");
    assert_string_equal(d->loss_fn_inputs.items[1].name, "target_tokens");
    const tk_wire_tensor *tw = &d->loss_fn_inputs.items[0].tensor, *tt = &d->loss_fn_inputs.items[1].tensor;
    assert_int_equal(tw->n, n);
    assert_int_equal(tt->n, n);
    assert_int_equal(tw->shape[0], (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tt->data.i64[i], tgt[i]);
        if (tw->data.f32[i] != w[i]) fail_msg("weights[%zu] = %.9g, expected %.9g", i, (double)tw->data.f32[i], (double)w[i]);
    }
}

static void cookbook_worked_example(void **state) {
    (void)state;
    /* tokens [A, B, C, D, E], weights [0, 0, 1, 1, 1] (prompt A B, completion C D E) */
    enum { A = 65, B, C, D, E };
    int32_t toks[] = {A, B, C, D, E};
    float wts[] = {0, 0, 1, 1, 1};
    tk_wire_chunk ch = text(toks, 5);
    tk_wire_model_input mi = {&ch, 1};
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_wire_datum d;
    /* -> model_input [A, B, C, D], target_tokens [B, C, D, E], weights [0, 1, 1, 1] ("none") */
    assert_ok(tk_wire_datum_from_model_input_weights(&mi, wts, 5, -1, TK_WIRE_REDUCTION_NONE, a, &d, &e), &e);
    check_datum(&d, (int32_t[]){A, B, C, D}, 4, (int64_t[]){B, C, D, E}, (float[]){0, 1, 1, 1}, 4);
    /* or [0, 1/3, 1/3, 1/3] ("mean") */
    assert_ok(tk_wire_datum_from_model_input_weights(&mi, wts, 5, -1, TK_WIRE_REDUCTION_MEAN, a, &d, &e), &e);
    float third = 1.0f / 3.0f;
    check_datum(&d, (int32_t[]){A, B, C, D}, 4, (int64_t[]){B, C, D, E}, (float[]){0, third, third, third}, 4);
    /* with max_length=4: cut to [A, B, C, D] -> inputs [A, B, C], targets [B, C, D], weights [0, 1, 1] */
    assert_ok(tk_wire_datum_from_model_input_weights(&mi, wts, 5, 4, TK_WIRE_REDUCTION_NONE, a, &d, &e), &e);
    check_datum(&d, (int32_t[]){A, B, C}, 3, (int64_t[]){B, C, D}, (float[]){0, 1, 1}, 3);
    /* the input was not modified */
    assert_int_equal(ch.n_tokens, 5);

    /* images: target 0 at image positions, dropped whole when truncation reaches them, trailing
     * images removed, empty text chunks removed */
    int32_t t1[] = {1, 2}, t2[] = {3, 4, 5};
    tk_wire_chunk chunks[] = {text(t1, 2), image(3), text(NULL, 0), text(t2, 3), image(2)};
    tk_wire_model_input mi2 = {chunks, 5};
    float w2[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_ok(tk_wire_datum_from_model_input_weights(&mi2, w2, 10, -1, TK_WIRE_REDUCTION_NONE, a, &d, &e), &e);
    /* kept: [1,2][img x3][3,4,5] -> N = 8 -> inputs 1,2,img,img,img,3,4 ; targets 2,0,0,0,3,4,5 */
    check_datum(&d, (int32_t[]){1, 2, -1, -1, -1, 3, 4}, 7, (int64_t[]){2, 0, 0, 0, 3, 4, 5},
                (float[]){1, 2, 3, 4, 5, 6, 7}, 7);
    assert_ok(tk_wire_datum_from_model_input_weights(&mi2, w2, 10, 4, TK_WIRE_REDUCTION_NONE, a, &d, &e), &e);
    /* max 4: image(2) popped, [3,4,5] popped (overflow 4 >= 3), empty popped, image(3) popped -> [1,2] */
    check_datum(&d, (int32_t[]){1}, 1, (int64_t[]){2}, (float[]){1}, 1);
    /* errors */
    assert_err(tk_wire_datum_from_model_input_weights(&mi, wts, 4, -1, TK_WIRE_REDUCTION_NONE, a, &d, &e), TK_EINVAL, &e,
               "datum: 4 weights for a model_input of length 5");
    assert_err(tk_wire_datum_from_model_input_weights(&mi, wts, 5, 1, TK_WIRE_REDUCTION_NONE, a, &d, &e), TK_EINVAL, &e,
               "need at least 2 tokens");
    tk_wire_chunk noexp = image(1);
    noexp.has_expected_tokens = false;
    tk_wire_model_input mi3 = {&noexp, 1};
    assert_err(tk_wire_datum_from_model_input_weights(&mi3, wts, 1, -1, TK_WIRE_REDUCTION_NONE, a, &d, &e), TK_EINVAL, &e,
               "chunks[0]: an image chunk needs expected_tokens");
    tk_arena_free(a);
}

static void datum_mean_torch(void **state) {
    (void)state;
    json_error_t je;
    json_t *cases = json_load_file("tests/data/wire/datum_mean.json", 0, &je);
    assert_non_null(cases);
    size_t ci;
    json_t *c;
    json_array_foreach(cases, ci, c) {
        json_t *w = json_object_get(c, "weights"), *exp = json_object_get(c, "expected");
        size_t n = json_array_size(w);
        float wts[128];
        int32_t toks[128];
        for (size_t i = 0; i < n; i++) {
            wts[i] = (float)json_number_value(json_array_get(w, i));
            toks[i] = (int32_t)i;
        }
        tk_wire_chunk ch = text(toks, n);
        tk_wire_model_input mi = {&ch, 1};
        tk_arena *a = tk_arena_new(0);
        tk_err e = {0};
        tk_wire_datum d;
        assert_ok(tk_wire_datum_from_model_input_weights(&mi, wts, n, -1, TK_WIRE_REDUCTION_MEAN, a, &d, &e), &e);
        const tk_wire_tensor *tw = tk_wire_tensor_map_get(&d.loss_fn_inputs, "weights");
        assert_int_equal(tw->n, json_array_size(exp));
        for (size_t i = 0; i < tw->n; i++) {
            uint32_t want = (uint32_t)json_integer_value(json_array_get(exp, i)), got;
            memcpy(&got, &tw->data.f32[i], 4);
            if (got != want) fail_msg("case %zu weights[%zu]: ours %08x, torch %08x", ci, i, got, want);
        }
        tk_arena_free(a);
    }
    json_decref(cases);
}

/* ---- TensorData bridge ---------------------------------------------------------------------- */

static void tensor_bridge(void **state) {
    (void)state;
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_wire_tensor t;
    int32_t i32[6] = {1, -2, 3, INT32_MAX, INT32_MIN, 0};
    int64_t shape[2] = {2, 3};
    assert_ok(tk_wire_tensor_from_i32(a, i32, 6, shape, 2, &t, &e), &e);
    assert_int_equal(t.dtype, TK_WIRE_INT64);
    assert_int_equal(t.data.i64[4], INT32_MIN);
    int32_t back32[6];
    assert_ok(tk_wire_tensor_to_i32(&t, "t", back32, 6, &e), &e);
    assert_memory_equal(back32, i32, sizeof i32);
    t.data.i64[2] = (int64_t)1 << 33;
    assert_err(tk_wire_tensor_to_i32(&t, "target_tokens", back32, 6, &e), TK_ERANGE, &e, "target_tokens[2]: 8589934592 does not fit in int32");
    float f[6];
    assert_err(tk_wire_tensor_to_f32(&t, "target_tokens", f, 6, &e), TK_EINVAL, &e, "target_tokens: dtype int64, expected float32");
    int64_t i64[6];
    assert_err(tk_wire_tensor_to_i64(&t, "t", i64, 5, &e), TK_EINVAL, &e, "t: has 6 elements, the destination 5");
    assert_err(tk_wire_tensor_from_i32(a, i32, 5, shape, 2, &t, &e), TK_EINVAL, &e, "5 elements but the shape needs 6");
    int64_t neg[2] = {2, -3};
    assert_err(tk_wire_tensor_from_i32(a, i32, 6, neg, 2, &t, &e), TK_EINVAL, &e, "negative or overflowing shape");
    assert_err(tk_wire_tensor_from_i32(a, i32, 6, shape, 9, &t, &e), TK_EINVAL, &e, "ndim 9 is outside 0..8");
    /* double -> float32 narrowing rounds to nearest; out of range is an error, not inf */
    double dd[3] = {0.1, -1e-50, 3.4e38};
    assert_ok(tk_wire_tensor_from_f64(a, dd, 3, NULL, 0, &t, &e), &e);
    assert_int_equal(t.ndim, 1);
    assert_true(t.data.f32[0] == 0.1f);
    assert_true(t.data.f32[1] == -0.0f);
    double huge[1] = {1e39};
    assert_err(tk_wire_tensor_from_f64(a, huge, 1, NULL, 0, &t, &e), TK_ERANGE, &e, "element 0 (1e+39) is out of float32 range");
    /* bfloat16 widening is exact: the bits become the top half */
    uint16_t bf[4] = {0x3F80, 0xC000, 0x4049, 0x7F80};
    assert_ok(tk_wire_tensor_from_bf16(a, bf, 4, NULL, 0, &t, &e), &e);
    assert_true(t.data.f32[0] == 1.0f && t.data.f32[1] == -2.0f && t.data.f32[2] == 3.140625f && isinf(t.data.f32[3]));
    double d4[4];
    assert_ok(tk_wire_tensor_to_f64(&t, "x", d4, 4, &e), &e);
    assert_true(d4[2] == 3.140625);
    /* views borrow, validate checks them */
    float vals[4] = {1, 2, 3, 4};
    tk_wire_tensor v = tk_wire_tensor_view_f32(vals, 4);
    assert_ok(tk_wire_tensor_validate(&v, "v", &e), &e);
    assert_ptr_equal(v.data.f32, vals);
    int64_t dims[1] = {4};
    assert_ok(tk_wire_tensor_check_shape(&v, "v", TK_WIRE_FLOAT32, 1, dims, &e), &e);
    dims[0] = 5;
    assert_err(tk_wire_tensor_check_shape(&v, "v", TK_WIRE_FLOAT32, 1, dims, &e), TK_EINVAL, &e, "v: shape[0] is 4, expected 5");
    v.shape[0] = 3;
    assert_err(tk_wire_tensor_validate(&v, "v", &e), TK_EINVAL, &e, "v: 4 elements but the shape needs 3");
    tk_arena_free(a);
}

/* ---- tinker:// paths ------------------------------------------------------------------------ */

static void tinker_paths(void **state) {
    (void)state;
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_wire_tinker_path p;
    assert_ok(tk_wire_tinker_path_parse("tinker://s-1:train:0/weights/step-0010", a, &p, &e), &e);
    assert_string_equal(p.run_id, "s-1:train:0");
    assert_int_equal(p.kind, TK_WIRE_CHECKPOINT_TRAINING);
    assert_string_equal(p.name, "step-0010");
    assert_string_equal(p.checkpoint_id, "weights/step-0010");
    assert_ok(tk_wire_tinker_path_parse("tinker://r/sampler_weights/x", a, &p, &e), &e);
    assert_int_equal(p.kind, TK_WIRE_CHECKPOINT_SAMPLER);
    assert_err(tk_wire_tinker_path_parse("http://r/weights/x", a, &p, &e), TK_EINVAL, &e, "must start with tinker://");
    assert_err(tk_wire_tinker_path_parse("tinker://r/weights", a, &p, &e), TK_EINVAL, &e, "expected tinker://<run>/");
    assert_err(tk_wire_tinker_path_parse("tinker://r/weights/x/y", a, &p, &e), TK_EINVAL, &e, "expected tinker://<run>/");
    assert_err(tk_wire_tinker_path_parse("tinker://r/checkpoints/x", a, &p, &e), TK_EINVAL, &e, "weights or sampler_weights");
    assert_err(tk_wire_tinker_path_parse("tinker:///weights/x", a, &p, &e), TK_EINVAL, &e, "empty run id");
    assert_err(tk_wire_tinker_path_parse("tinker://r/weights/", a, &p, &e), TK_EINVAL, &e, "empty checkpoint name");
    assert_err(tk_wire_tinker_path_parse("tinker://r/weights/a\nb", a, &p, &e), TK_EINVAL, &e, "control character");
    tk_buf b = {0};
    assert_ok(tk_wire_tinker_path_format("run", TK_WIRE_CHECKPOINT_SAMPLER, "s1", &b, &e), &e);
    assert_string_equal(b.data, "tinker://run/sampler_weights/s1");
    assert_err(tk_wire_tinker_path_format("run", TK_WIRE_CHECKPOINT_TRAINING, "a/b", &b, &e), TK_EINVAL, &e, "'/' in checkpoint name");
    tk_buf_free(&b);
    tk_wire_checkpoint_type k;
    const char *name;
    assert_ok(tk_wire_checkpoint_id_parse("sampler_weights/ss0_seq3", &k, &name, &e), &e);
    assert_int_equal(k, TK_WIRE_CHECKPOINT_SAMPLER);
    assert_string_equal(name, "ss0_seq3");
    assert_err(tk_wire_checkpoint_id_parse("step-1", &k, &name, &e), TK_EINVAL, &e, "expected weights/<name>");
    tk_arena_free(a);
}

/* ---- loss functions ------------------------------------------------------------------------- */

static void loss_functions(void **state) {
    (void)state;
    tk_err e = {0};
    const char *names[] = {"cross_entropy", "importance_sampling", "ppo", "cispo", "dro"};
    for (int i = 0; i < 5; i++) {
        tk_wire_loss_fn fn;
        assert_ok(tk_wire_loss_fn_parse(names[i], &fn, &e), &e);
        assert_int_equal(fn, i);
        assert_string_equal(tk_wire_loss_fn_name(fn), names[i]);
    }
    tk_wire_loss_fn fn;
    assert_err(tk_wire_loss_fn_parse("gspo", &fn, &e), TK_EINVAL, &e, "unknown loss function \"gspo\"");
    assert_null(tk_wire_loss_fn_get_info((tk_wire_loss_fn)5));
    const tk_wire_loss_fn_info *ce = tk_wire_loss_fn_get_info(TK_WIRE_LOSS_CROSS_ENTROPY);
    assert_string_equal(ce->required_inputs[0], "target_tokens");
    assert_string_equal(ce->required_inputs[1], "weights");
    assert_null(ce->required_inputs[2]);
    double v;
    tk_wire_f64_map none = {0};
    assert_ok(tk_wire_loss_config_value(TK_WIRE_LOSS_PPO, &none, "clip_low_threshold", &v, &e), &e);
    assert_true(v == 0.8);
    assert_ok(tk_wire_loss_config_value(TK_WIRE_LOSS_CISPO, NULL, "clip_high_threshold", &v, &e), &e);
    assert_true(v == 1.2);
    assert_ok(tk_wire_loss_config_value(TK_WIRE_LOSS_DRO, NULL, "beta", &v, &e), &e);
    assert_true(v == 0.05);
    tk_wire_kv_f64 kv[] = {{"clip_low_threshold", 0.7}};
    tk_wire_f64_map cfg = {true, kv, 1};
    assert_ok(tk_wire_loss_config_value(TK_WIRE_LOSS_PPO, &cfg, "clip_low_threshold", &v, &e), &e);
    assert_true(v == 0.7);
    assert_ok(tk_wire_loss_config_check(TK_WIRE_LOSS_PPO, &cfg, &e), &e);
    /* the protocol's own example sends clip_low_threshold with cross_entropy: decoders accept it,
     * a strict server refuses it with this check */
    assert_err(tk_wire_loss_config_check(TK_WIRE_LOSS_CROSS_ENTROPY, &cfg, &e), TK_EINVAL, &e,
               "cross_entropy takes no key \"clip_low_threshold\"");
    assert_err(tk_wire_loss_config_value(TK_WIRE_LOSS_DRO, NULL, "clip_low_threshold", &v, &e), TK_EINVAL, &e, "dro takes no key");

    /* datum contract */
    int32_t toks[3] = {1, 2, 3};
    int64_t tgt[3] = {2, 3, 4};
    float w[3] = {0, 1, 1}, w2[2] = {1, 1};
    tk_wire_chunk ch = text(toks, 3);
    tk_wire_named_tensor in[3] = {{"target_tokens", tk_wire_tensor_view_i64(tgt, 3)}, {"weights", tk_wire_tensor_view_f32(w, 3)},
                                  {"mask", tk_wire_tensor_view_f32(w, 3)}};
    tk_wire_datum d = {{&ch, 1}, {in, 2}};
    assert_ok(tk_wire_datum_check(&d, TK_WIRE_LOSS_CROSS_ENTROPY, "data[0]", &e), &e);
    assert_err(tk_wire_datum_check(&d, TK_WIRE_LOSS_PPO, "data[0]", &e), TK_EINVAL, &e, "data[0].loss_fn_inputs: ppo needs \"logprobs\"");
    d.loss_fn_inputs.n = 3;
    assert_err(tk_wire_datum_check(&d, TK_WIRE_LOSS_CROSS_ENTROPY, "data[0]", &e), TK_EINVAL, &e,
               "data[0].loss_fn_inputs.mask: cross_entropy does not take this input");
    d.loss_fn_inputs.n = 2;
    in[1].tensor = tk_wire_tensor_view_f32(w2, 2);
    assert_err(tk_wire_datum_check(&d, TK_WIRE_LOSS_CROSS_ENTROPY, "data[0]", &e), TK_EINVAL, &e,
               "data[0].loss_fn_inputs.weights: shape[0] is 2, expected 3");
    in[1].tensor = tk_wire_tensor_view_i64(tgt, 3);
    assert_err(tk_wire_datum_check(&d, TK_WIRE_LOSS_CROSS_ENTROPY, "data[0]", &e), TK_EINVAL, &e,
               "weights: dtype int64, expected float32");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(number_text),
        cmocka_unit_test(number_reading),
        cmocka_unit_test(number_arrays),
        cmocka_unit_test(metrics_merge_numpy),
        cmocka_unit_test(metrics_merge_edges),
        cmocka_unit_test(cookbook_worked_example),
        cmocka_unit_test(datum_mean_torch),
        cmocka_unit_test(tensor_bridge),
        cmocka_unit_test(tinker_paths),
        cmocka_unit_test(loss_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
