/* tinker_public.ForwardBackwardOutput (§5) in both directions.
 *
 *   ForwardBackwardOutput { 1 loss_fn_output_type; 2 repeated ArrayRecord; 3 map<string,double> metrics }
 *   ArrayRecord { 1 type_tag; 2 map<string,BatchedTensor> fields; 3 int64 num_datums }
 *   BatchedTensor { 1 data (every datum's flat array, concatenated); 2 offsets (int64 LE,
 *                   num_datums+1 BYTE offsets into data); 3 dtype; 4 repeated int64 trailing_shape }
 *
 * A datum's tensor of shape [L, *trailing] is stored flat; its shape comes back as
 * [elements / prod(trailing), *trailing]. */
#include "proto_internal.h"
#include "wire_internal.h"

#include <stdio.h>

#define MAX_DATUMS ((size_t)1 << 20)

/* ---- encoding ------------------------------------------------------------------------------- */

typedef struct enc {
    const tk_wire_forward_backward_output *o;
    size_t nf;              /* fields per datum (datum 0's) */
    const char **names;     /* datum 0's names, sorted */
    const tk_wire_tensor **t; /* t[i * nf + f]: datum i's tensor for names[f] */
    size_t *rec_start;      /* record r covers datums rec_start[r] .. rec_start[r+1] */
    size_t n_rec;
} enc;

static size_t es_of(tk_wire_dtype d) { return d == TK_WIRE_INT64 ? 8 : 4; }

static bool same_layout(const tk_wire_tensor *a, const tk_wire_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int k = 1; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k]) return false;
    return true;
}

static size_t bt_payload(const enc *x, size_t r, size_t f) {
    size_t s0 = x->rec_start[r], s1 = x->rec_start[r + 1];
    const tk_wire_tensor *t0 = x->t[s0 * x->nf + f];
    size_t bytes = 0;
    for (size_t i = s0; i < s1; i++) bytes += x->t[i * x->nf + f]->n * es_of(t0->dtype);
    size_t s = (bytes ? pb_len_size(1, bytes) : 0) + pb_len_size(2, (s1 - s0 + 1) * 8) + pb_varint_field_size(3, 1);
    if (t0->ndim > 1) s += pb_len_size(4, pb_packed_i64_payload(t0->shape + 1, (size_t)t0->ndim - 1));
    return s;
}

static size_t entry_payload(const enc *x, size_t r, size_t f) {
    return pb_len_size(1, strlen(x->names[f])) + pb_len_size(2, bt_payload(x, r, f));
}

static size_t record_payload(const enc *x, size_t r) {
    size_t s = 0;
    const char *tag = x->o->loss_fn_output_type;
    if (*tag) s += pb_len_size(1, strlen(tag));
    for (size_t f = 0; f < x->nf; f++) s += pb_len_size(2, entry_payload(x, r, f));
    s += pb_varint_field_size(3, x->rec_start[r + 1] - x->rec_start[r]);
    return s;
}

static int plan(enc *x, tk_err *e) {
    const tk_wire_forward_backward_output *o = x->o;
    size_t n = o->n_loss_fn_outputs;
    if (n && !o->loss_fn_outputs) return tk_err_set(e, TK_EINVAL, "loss_fn_outputs: NULL array");
    if (n == 0) return 0;
    const tk_wire_tensor_map *m0 = &o->loss_fn_outputs[0];
    x->nf = m0->n;
    x->names = tk_malloc_array(x->nf ? x->nf : 1, sizeof *x->names);
    size_t *order = tk_malloc_array(x->nf ? x->nf : 1, sizeof *order);
    size_t cells;
    x->t = tk_mul_size(n, x->nf ? x->nf : 1, &cells) ? tk_malloc_array(cells, sizeof *x->t) : NULL;
    x->rec_start = tk_malloc_array(n + 1, sizeof *x->rec_start);
    if (!x->names || !order || !x->t || !x->rec_start) {
        free(order);
        return tk_err_set(e, TK_ENOMEM, "ForwardBackwardOutput: out of memory");
    }
    const char **raw = tk_malloc_array(x->nf ? x->nf : 1, sizeof *raw);
    if (!raw) { free(order); return tk_err_set(e, TK_ENOMEM, "ForwardBackwardOutput: out of memory"); }
    for (size_t f = 0; f < x->nf; f++) {
        raw[f] = m0->items[f].name;
        if (!raw[f]) { free(order); free(raw); return tk_err_set(e, TK_EINVAL, "loss_fn_outputs[0]: a tensor without a name"); }
    }
    pb_sort_keys(raw, x->nf, order);
    for (size_t f = 0; f < x->nf; f++) x->names[f] = raw[order[f]];
    free(order);
    free(raw);
    for (size_t i = 0; i < n; i++) {
        const tk_wire_tensor_map *m = &o->loss_fn_outputs[i];
        if (m->n != x->nf)
            return tk_err_set(e, TK_EINVAL, "loss_fn_outputs[%zu]: %zu fields, datum 0 has %zu (every datum needs the same fields)",
                              i, m->n, x->nf);
        for (size_t f = 0; f < x->nf; f++) {
            char name[200];
            snprintf(name, sizeof name, "loss_fn_outputs[%zu].%s", i, x->names[f]);
            const tk_wire_tensor *t = tk_wire_tensor_map_get(m, x->names[f]);
            if (!t) return tk_err_set(e, TK_EINVAL, "%s: missing (datum 0 has it)", name);
            int rc = tk_wire_tensor_validate(t, name, e);
            if (rc) return rc;
            if (t->ndim < 1) return tk_err_set(e, TK_EINVAL, "%s: a scalar cannot be batched (ndim must be >= 1)", name);
            x->t[i * x->nf + f] = t;
        }
    }
    x->rec_start[0] = 0;
    x->n_rec = 1;
    for (size_t i = 1; i < n; i++) {
        size_t s = x->rec_start[x->n_rec - 1];
        bool same = true;
        for (size_t f = 0; f < x->nf && same; f++) same = same_layout(x->t[s * x->nf + f], x->t[i * x->nf + f]);
        if (!same) x->rec_start[x->n_rec++] = i;
    }
    x->rec_start[x->n_rec] = n;
    return 0;
}

int tk_wire_proto_encode_forward_backward_output(const tk_wire_forward_backward_output *o, tk_buf *out, tk_err *e) {
    if (!o->loss_fn_output_type)
        return tk_err_set(e, TK_EINVAL, "ForwardBackwardOutput.loss_fn_output_type: required field is not set");
    enc x = {.o = o};
    int rc = plan(&x, e);
    const tk_wire_f64_map *mt = &o->metrics;
    size_t *morder = NULL;
    const char **mkeys = NULL;
    if (rc) { tk_err_prefix(e, "ForwardBackwardOutput."); goto done; }
    if (mt->n && !mt->items) { rc = tk_err_set(e, TK_EINVAL, "ForwardBackwardOutput.metrics: NULL items"); goto done; }
    size_t size = 0;
    if (*o->loss_fn_output_type) size += pb_len_size(1, strlen(o->loss_fn_output_type));
    if (o->n_loss_fn_outputs)
        for (size_t r = 0; r < x.n_rec; r++) size += pb_len_size(2, record_payload(&x, r));
    morder = tk_malloc_array(mt->n ? mt->n : 1, sizeof *morder);
    mkeys = tk_malloc_array(mt->n ? mt->n : 1, sizeof *mkeys);
    if (!morder || !mkeys) { rc = tk_err_set(e, TK_ENOMEM, "ForwardBackwardOutput: out of memory"); goto done; }
    for (size_t i = 0; i < mt->n; i++) {
        if (!(mkeys[i] = mt->items[i].key)) { rc = tk_err_set(e, TK_EINVAL, "ForwardBackwardOutput.metrics[%zu]: NULL key", i); goto done; }
        size += pb_len_size(3, pb_len_size(1, strlen(mkeys[i])) + pb_tag_size(2) + 8);
    }
    pb_sort_keys(mkeys, mt->n, morder);
    uint8_t *start = pb_reserve(out, size), *p = start;
    if (!start) { rc = tk_err_set(e, TK_ENOMEM, "ForwardBackwardOutput: out of memory for %zu bytes", size); goto done; }
    if (*o->loss_fn_output_type) p = pb_put_string(p, 1, o->loss_fn_output_type);
    for (size_t r = 0; o->n_loss_fn_outputs && r < x.n_rec; r++) {
        size_t s0 = x.rec_start[r], s1 = x.rec_start[r + 1];
        p = pb_put_len(p, 2, record_payload(&x, r));
        if (*o->loss_fn_output_type) p = pb_put_string(p, 1, o->loss_fn_output_type);
        for (size_t f = 0; f < x.nf; f++) {
            const tk_wire_tensor *t0 = x.t[s0 * x.nf + f];
            size_t es = es_of(t0->dtype), bytes = 0;
            for (size_t i = s0; i < s1; i++) bytes += x.t[i * x.nf + f]->n * es;
            p = pb_put_len(p, 2, entry_payload(&x, r, f));
            p = pb_put_string(p, 1, x.names[f]);
            p = pb_put_len(p, 2, bt_payload(&x, r, f));
            if (bytes) {
                p = pb_put_len(p, 1, bytes);
                for (size_t i = s0; i < s1; i++) {
                    const tk_wire_tensor *t = x.t[i * x.nf + f];
                    if (t->n) memcpy(p, t->data.ptr, t->n * es);
                    p += t->n * es;
                }
            }
            p = pb_put_len(p, 2, (s1 - s0 + 1) * 8);
            int64_t off = 0;
            for (size_t i = s0; i <= s1; i++) {
                memcpy(p, &off, 8);
                p += 8;
                if (i < s1) off += (int64_t)(x.t[i * x.nf + f]->n * es);
            }
            p = pb_put_varint_field(p, 3, t0->dtype == TK_WIRE_INT64 ? PB_DTYPE_INT64 : PB_DTYPE_FLOAT32);
            if (t0->ndim > 1) p = pb_put_packed_i64(p, 4, t0->shape + 1, (size_t)t0->ndim - 1);
        }
        p = pb_put_varint_field(p, 3, s1 - s0);
    }
    for (size_t j = 0; j < mt->n; j++) {
        const tk_wire_kv_f64 *kv = &mt->items[morder[j]];
        p = pb_put_len(p, 3, pb_len_size(1, strlen(kv->key)) + pb_tag_size(2) + 8);
        p = pb_put_string(p, 1, kv->key);
        p = pb_put_double_field(p, 2, kv->value);
    }
    rc = pb_commit(out, start, p, size, "ForwardBackwardOutput", e);
done:
    free(x.names);
    free(x.t);
    free(x.rec_start);
    free(morder);
    free(mkeys);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------------- */

typedef struct bfield {
    char *name;
    const uint8_t *data, *off;
    size_t dlen, olen;
    uint64_t dtype;
    int64_t *trailing;      /* arena */
    size_t ntrail;
    bool seen;
} bfield;

typedef struct brec {
    int64_t num_datums;
    bfield *fields;         /* malloc'ed */
    size_t nf, cf;
} brec;

static int bt_value(tk_pr *r, int wt, void *ctx) {
    bfield *bf = ctx;
    const uint8_t *d;
    size_t len;
    int rc;
    if ((rc = tk_pr_want(r, wt, PB_LEN, "value")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
    const uint8_t *old = tk_pr_enter(r, d, len);
    int64_t *tr = NULL;
    size_t ntr = 0;
    bf->data = bf->off = NULL;
    bf->dlen = bf->olen = 0;
    bf->dtype = 0;
    uint32_t f;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "data")) || (rc = tk_pr_bytes(r, &bf->data, &bf->dlen))) break;
        } else if (f == 2) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "offsets")) || (rc = tk_pr_bytes(r, &bf->off, &bf->olen))) break;
        } else if (f == 3) {
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "dtype")) || (rc = tk_pr_varint(r, &bf->dtype))) break;
        } else if (f == 4) {
            if ((rc = tk_pr_repeated_i64(r, wt, &tr, &ntr, TK_WIRE_MAX_NDIM - 1))) break;
        } else if ((rc = tk_pr_skip(r, wt))) {
            break;
        }
    }
    if (rc == 0) {
        bf->ntrail = ntr;
        bf->trailing = tk_pr_copy(r, tr, ntr * sizeof *tr);
        if (ntr && !bf->trailing) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
        bf->seen = true;
        tk_pr_leave(r, old);
    }
    free(tr);
    return rc < 0 ? rc : 0;
}

static int read_record(tk_pr *r, brec *rec) {
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            char *tag;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "type_tag")) || (rc = tk_pr_string(r, &tag))) return rc;
        } else if (f == 2) {
            const uint8_t *d;
            size_t len;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "fields")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
            const uint8_t *old = tk_pr_enter(r, d, len);
            bfield bf = {0};
            char *key;
            if ((rc = tk_pr_map_entry(r, &key, bt_value, &bf))) return rc;
            tk_pr_leave(r, old);
            if (!bf.seen) return tk_pr_fail(r, TK_EINVAL, "fields.%s: entry without a tensor", key);
            bf.name = key;
            size_t j;
            for (j = 0; j < rec->nf; j++)
                if (strcmp(rec->fields[j].name, key) == 0) break;
            if (j == rec->nf) {
                if (rec->nf == rec->cf) {
                    size_t nc = rec->cf ? rec->cf * 2 : 4;
                    bfield *nv = tk_realloc_array(rec->fields, nc, sizeof *nv);
                    if (!nv) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
                    rec->fields = nv;
                    rec->cf = nc;
                }
                rec->nf++;
            }
            rec->fields[j] = bf;
        } else if (f == 3) {
            uint64_t v;
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "num_datums")) || (rc = tk_pr_varint(r, &v))) return rc;
            rec->num_datums = (int64_t)v;
            if (rec->num_datums < 0 || (uint64_t)rec->num_datums > MAX_DATUMS)
                return tk_pr_fail(r, TK_EINVAL, "num_datums: %lld is out of range", (long long)rec->num_datums);
        } else if ((rc = tk_pr_skip(r, wt))) {
            return rc;
        }
    }
    return rc < 0 ? rc : 0;
}

/* Datums of one field of one record, after checking its offsets. */
static int field_count(tk_pr *r, const bfield *bf, size_t *count) {
    if (bf->olen % 8) return tk_pr_fail(r, TK_EINVAL, "%s.offsets: %zu bytes is not a multiple of 8", bf->name, bf->olen);
    if (bf->olen == 0) {
        if (bf->dlen) return tk_pr_fail(r, TK_EINVAL, "%s: data without offsets", bf->name);
        *count = 0;
        return 0;
    }
    *count = bf->olen / 8 - 1;
    return 0;
}

static int slice_field(tk_pr *r, const bfield *bf, size_t count, tk_wire_tensor_map *outs, size_t fi) {
    size_t es;
    tk_wire_dtype dt;
    switch (bf->dtype) {
    case PB_DTYPE_FLOAT32: es = 4; dt = TK_WIRE_FLOAT32; break;
    case PB_DTYPE_INT64: es = 8; dt = TK_WIRE_INT64; break;
    case PB_DTYPE_INT32: es = 4; dt = TK_WIRE_INT64; break;
    case PB_DTYPE_BFLOAT16: es = 2; dt = TK_WIRE_FLOAT32; break;
    default: return tk_pr_fail(r, TK_EINVAL, "%s.dtype: unsupported value %llu", bf->name, (unsigned long long)bf->dtype);
    }
    if (bf->olen == 0) return 0;   /* no datums (field_count checked there is no data) */
    size_t prod = 1;
    for (size_t k = 0; k < bf->ntrail; k++) {
        if (bf->trailing[k] < 0)
            return tk_pr_fail(r, TK_EINVAL, "%s.trailing_shape[%zu]: negative dimension", bf->name, k);
        if (!tk_mul_size(prod, (size_t)bf->trailing[k], &prod))
            return tk_pr_fail(r, TK_ERANGE, "%s.trailing_shape overflows", bf->name);
    }
    int64_t prev = 0;
    for (size_t j = 0; j <= count; j++) {
        int64_t o;
        memcpy(&o, bf->off + 8 * j, 8);
        if (j == 0 && o != 0) return tk_pr_fail(r, TK_EINVAL, "%s.offsets[0] is %lld, must be 0", bf->name, (long long)o);
        if (o < prev) return tk_pr_fail(r, TK_EINVAL, "%s.offsets[%zu] = %lld decreases", bf->name, j, (long long)o);
        if ((uint64_t)o > bf->dlen)
            return tk_pr_fail(r, TK_EINVAL, "%s.offsets[%zu] = %lld is past the %zu data bytes", bf->name, j, (long long)o, bf->dlen);
        if (o % (int64_t)es)
            return tk_pr_fail(r, TK_EINVAL, "%s.offsets[%zu] = %lld is not a multiple of the %zu-byte element", bf->name, j,
                              (long long)o, es);
        if (j > 0) {
            size_t n = (size_t)(o - prev) / es;
            if (prod ? n % prod : n)
                return tk_pr_fail(r, TK_EINVAL, "%s: datum %zu has %zu elements, not a multiple of the trailing shape's %zu",
                                  bf->name, j - 1, n, prod);
            tk_wire_named_tensor *nt = &outs[j - 1].items[fi];
            tk_wire_tensor *t = &nt->tensor;
            nt->name = bf->name;
            t->dtype = dt;
            t->ndim = 1 + (int)bf->ntrail;
            t->shape[0] = prod ? (int64_t)(n / prod) : 0;
            for (size_t k = 0; k < bf->ntrail; k++) t->shape[1 + k] = bf->trailing[k];
            t->n = n;
            const uint8_t *src = bf->data + prev;
            if (n) {
                if (!(t->data.ptr = tk_arena_alloc(r->a, n * (dt == TK_WIRE_INT64 ? 8 : 4))))
                    return tk_pr_fail(r, TK_ENOMEM, "out of memory");
                if (bf->dtype == PB_DTYPE_INT32) {
                    for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, src + 4 * i, 4); t->data.i64[i] = v; }
                } else if (bf->dtype == PB_DTYPE_BFLOAT16) {
                    for (size_t i = 0; i < n; i++) {
                        uint16_t v;
                        memcpy(&v, src + 2 * i, 2);
                        uint32_t b = (uint32_t)v << 16;
                        memcpy(&t->data.f32[i], &b, 4);
                    }
                } else {
                    memcpy(t->data.ptr, src, n * es);
                }
            }
        }
        prev = o;
    }
    if ((size_t)prev != bf->dlen)
        return tk_pr_fail(r, TK_EINVAL, "%s: %zu data bytes after the last offset", bf->name, bf->dlen - (size_t)prev);
    return 0;
}

int tk_wire_proto_decode_forward_backward_output(const void *buf, size_t len, tk_arena *a,
                                                 tk_wire_forward_backward_output *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    out->metrics.present = true;
    if (!a) return tk_err_set(e, TK_EINVAL, "ForwardBackwardOutput: an arena is needed");
    tk_pr rd, *r = &rd;
    tk_pr_init(r, buf, len, a, "ForwardBackwardOutput", e);
    brec *recs = NULL;
    tk_wire_kv_f64 *mets = NULL;
    size_t nr = 0, cr = 0, nm = 0, cm = 0;
    char *type = NULL;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "loss_fn_output_type")) || (rc = tk_pr_string(r, &type))) goto out;
        } else if (f == 2) {
            const uint8_t *d;
            size_t l;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "loss_fn_outputs")) || (rc = tk_pr_bytes(r, &d, &l))) goto out;
            VEC_PUSH(recs, nr, cr, brec, r);
            size_t saved = tk_pr_push(r, "loss_fn_outputs[%zu]", nr - 1);
            const uint8_t *old = tk_pr_enter(r, d, l);
            if ((rc = read_record(r, &recs[nr - 1]))) goto out;
            tk_pr_leave(r, old);
            tk_pr_pop(r, saved);
        } else if (f == 3) {
            const uint8_t *d;
            size_t l;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "metrics")) || (rc = tk_pr_bytes(r, &d, &l))) goto out;
            const uint8_t *old = tk_pr_enter(r, d, l);
            double v = 0;
            char *key;
            size_t saved = tk_pr_push(r, "metrics");
            if ((rc = tk_pr_map_entry(r, &key, tk_pr_f64_value, &v))) goto out;
            tk_pr_pop(r, saved);
            tk_pr_leave(r, old);
            size_t j;
            for (j = 0; j < nm; j++)
                if (strcmp(mets[j].key, key) == 0) break;
            if (j == nm) VEC_PUSH(mets, nm, cm, tk_wire_kv_f64, r);
            mets[j].key = key;
            mets[j].value = v;
        } else if ((rc = tk_pr_skip(r, wt))) {
            goto out;
        }
    }
    if (rc < 0) goto out;
    rc = 0;
    out->metrics.n = nm;
    out->metrics.items = tk_pr_copy(r, mets, nm * sizeof *mets);
    if (nm && !out->metrics.items) { rc = tk_pr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
    if (nr == 0) {
        out->loss_fn_output_type = tk_arena_strdup(a, type && *type ? type : "ArrayRecord");
        if (!out->loss_fn_output_type) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
        goto out;
    }
    const char *colon = type ? strrchr(type, ':') : NULL;
    out->loss_fn_output_type = tk_arena_strdup(a, colon ? colon + 1 : type ? type : "");
    if (!out->loss_fn_output_type) { rc = tk_pr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
    /* counts per record, and the same fields everywhere */
    size_t total = 0, nf = recs[0].nf;
    size_t *counts = tk_malloc_array(nr, sizeof *counts);
    if (!counts) { rc = tk_pr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < nr && rc == 0; i++) {
        brec *rec = &recs[i];
        size_t saved = tk_pr_push(r, "loss_fn_outputs[%zu].fields", i);
        if (rec->nf != nf) rc = tk_pr_fail(r, TK_EINVAL, "%zu fields, record 0 has %zu", rec->nf, nf);
        for (size_t k = 0; k < rec->nf && rc == 0; k++) {
            size_t j;
            for (j = 0; j < nf; j++)
                if (strcmp(recs[0].fields[j].name, rec->fields[k].name) == 0) break;
            if (j == nf) rc = tk_pr_fail(r, TK_EINVAL, "field \"%s\" is not in record 0", rec->fields[k].name);
        }
        size_t c = (size_t)rec->num_datums;
        for (size_t k = 0; k < rec->nf && rc == 0; k++) {
            size_t fc = 0;
            if ((rc = field_count(r, &rec->fields[k], &fc))) break;
            if (rec->num_datums == 0 && k == 0) c = fc;
            else if (fc != c) rc = tk_pr_fail(r, TK_EINVAL, "%s has %zu datums, the record %zu", rec->fields[k].name, fc, c);
        }
        counts[i] = c;
        total += c;
        if (rc == 0 && total > MAX_DATUMS) rc = tk_pr_fail(r, TK_EINVAL, "more than %zu datums", MAX_DATUMS);
        tk_pr_pop(r, saved);
    }
    if (rc == 0) {
        out->n_loss_fn_outputs = total;
        out->loss_fn_outputs = total ? tk_arena_zalloc(a, total * sizeof *out->loss_fn_outputs) : NULL;
        if (total && !out->loss_fn_outputs) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
        for (size_t i = 0; i < total && rc == 0; i++) {
            out->loss_fn_outputs[i].n = nf;
            if (nf && !(out->loss_fn_outputs[i].items = tk_arena_zalloc(a, nf * sizeof(tk_wire_named_tensor))))
                rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
        }
        size_t base = 0;
        for (size_t i = 0; i < nr && rc == 0; i++) {
            size_t saved = tk_pr_push(r, "loss_fn_outputs[%zu].fields", i);
            for (size_t k = 0; k < nf && rc == 0; k++) {
                size_t j;   /* this record's entry for record 0's k-th field name */
                for (j = 0; j < nf; j++)
                    if (strcmp(recs[i].fields[j].name, recs[0].fields[k].name) == 0) break;
                recs[i].fields[j].name = recs[0].fields[k].name;
                rc = slice_field(r, &recs[i].fields[j], counts[i], out->loss_fn_outputs + base, k);
            }
            tk_pr_pop(r, saved);
            base += counts[i];
        }
    }
    free(counts);
out:
    for (size_t i = 0; i < nr; i++) free(recs[i].fields);
    free(recs);
    free(mets);
    return rc;
}
