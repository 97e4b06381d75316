/* Internal to src/wire: the JSON machinery behind tk_wire_json_encode/decode.
 *
 * Why not jansson here: a forward_backward body of 128 x 2048 tokens holds ~800k numbers, and a
 * DOM of one json_t per number costs more than the whole budget (bench/wire measures both). So
 * the wire layer reads JSON with a small pull reader that decodes straight into the C structs
 * (arena-allocated) and writes it with a buffer writer; a table of field descriptors per message
 * type drives both directions. */
#ifndef TK_WIRE_JSON_INTERNAL_H
#define TK_WIRE_JSON_INTERNAL_H

#include "tinkerc/wire.h"

#define TK_JSON_MAX_DEPTH 64
#define TK_JSON_PATH_MAX 384

/* ---- number text ---------------------------------------------------------------------------- */

/* A scanned JSON number: value = (neg ? -1 : 1) * mant * 10^exp10, exactly unless trunc (more
 * than 19 significant digits, the rest dropped). */
typedef struct tk_num {
    uint64_t mant;
    int32_t exp10;
    bool neg;
    bool is_int;     /* no fraction and no exponent in the text */
    bool trunc;
    const char *start, *end;
} tk_num;

/* Scan the JSON number at p (RFC 8259 grammar). Returns the end, or NULL when p does not start a
 * valid number. */
const char *tk_num_scan(const char *p, const char *end, tk_num *n);
/* Correctly rounded double of the number. */
double tk_num_to_f64(const tk_num *n);
/* (float) of the correctly rounded double, which is what numpy does with a Python float. */
float tk_num_to_f32(const tk_num *n);

/* Text of finite values; dst needs 32 bytes. Floats use Python's repr style with the shortest
 * digits that read back to the same float32 / double: "0.1", "1.0", "1e-05", "1.5e+20". */
size_t tk_fmt_i64(char *dst, int64_t v);
size_t tk_fmt_f32(char *dst, float v);
size_t tk_fmt_f64(char *dst, double v);

/* Integer text, inlined into the array writers: the digit count from the bit length (log10
 * estimate, then one comparison), then two digits at a time from the end. */
extern const char tk_digit_pairs[201];
extern const uint64_t tk_pow10_u64[20];
static inline size_t tk_fmt_u64(char *dst, uint64_t v) {
    int t = ((64 - __builtin_clzll(v | 1)) * 1233) >> 12;
    int n = t + (v >= tk_pow10_u64[t]);
    if (n == 0) n = 1;
    char *p = dst + n;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        p -= 2;
        p[0] = tk_digit_pairs[i];
        p[1] = tk_digit_pairs[i + 1];
    }
    if (v >= 10) {
        p -= 2;
        p[0] = tk_digit_pairs[v * 2];
        p[1] = tk_digit_pairs[v * 2 + 1];
    } else {
        *--p = (char)('0' + v);
    }
    return (size_t)n;
}
static inline size_t tk_fmt_i64_inline(char *dst, int64_t v) {
    if (v < 0) {
        dst[0] = '-';
        return 1 + tk_fmt_u64(dst + 1, (uint64_t)0 - (uint64_t)v);
    }
    return tk_fmt_u64(dst, (uint64_t)v);
}

/* strtod in the C locale (thread-safe). */
double tk_strtod_c(const char *s, char **endp);

/* ---- reader ---------------------------------------------------------------------------------- */

typedef struct tk_jr {
    const char *begin, *p, *end;
    tk_arena *a;
    tk_err *e;
    bool strict;             /* request side: unknown fields are errors */
    int depth;
    size_t path_len;
    char path[TK_JSON_PATH_MAX];
    void *scratch;           /* growable scratch for numeric arrays, freed by tk_jr_finish */
    size_t scratch_cap;
} tk_jr;

void tk_jr_init(tk_jr *r, const char *json, size_t len, tk_arena *a, bool strict, tk_err *e);
void tk_jr_finish(tk_jr *r);

/* "<path>: <message>" with code. */
int tk_jr_fail(tk_jr *r, int code, const char *fmt, ...) TK_PRINTF(3, 4);
/* TK_EPARSE "<path>: invalid JSON at byte N: <what>". */
int tk_jr_syntax(tk_jr *r, const char *what);
/* TK_EINVAL "<path>: expected <want>, got <type of the value at p>". */
int tk_jr_type_error(tk_jr *r, const char *want);

size_t tk_jr_push_key(tk_jr *r, const char *k, size_t kl);
size_t tk_jr_push_index(tk_jr *r, size_t i);
static inline void tk_jr_pop(tk_jr *r, size_t saved) {
    r->path_len = saved;
    r->path[saved] = '\0';
}

static inline void tk_jr_ws(tk_jr *r) {
    const char *p = r->p, *end = r->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    r->p = p;
}
/* The next non-space byte, or 0 at the end. */
static inline char tk_jr_peek(tk_jr *r) {
    tk_jr_ws(r);
    return r->p < r->end ? *r->p : 0;
}

int tk_jr_obj_begin(tk_jr *r);
/* 1: a key follows (k/kl set, ':' consumed; k points into the input or the arena and is NOT
 * NUL-terminated); 0: '}' consumed; < 0: error. *first must start true. */
int tk_jr_obj_next(tk_jr *r, bool *first, const char **k, size_t *kl);
int tk_jr_arr_begin(tk_jr *r);
/* 1: an element follows; 0: ']' consumed; < 0 error. */
int tk_jr_arr_next(tk_jr *r, bool *first);
/* Consume a null if one is next. */
bool tk_jr_null(tk_jr *r);

int tk_jr_str(tk_jr *r, char **out, size_t *len);     /* arena copy, NUL-terminated */
int tk_jr_i64(tk_jr *r, int64_t *out);
int tk_jr_f64(tk_jr *r, double *out);                 /* also NaN / Infinity / -Infinity */
int tk_jr_bool(tk_jr *r, bool *out);
int tk_jr_skip(tk_jr *r);
/* Skip a value, fast when it is an array of numbers (the text is checked when it is parsed). */
int tk_jr_skip_numbers(tk_jr *r);
/* Capture the value (which must be an object) as compact JSON text in the arena. */
int tk_jr_raw_object(tk_jr *r, char **out);
/* Numeric arrays, arena-allocated (NULL when empty). */
int tk_jr_i64_array(tk_jr *r, int64_t **out, size_t *n);
int tk_jr_i32_array(tk_jr *r, int32_t **out, size_t *n);
int tk_jr_f32_array(tk_jr *r, float **out, size_t *n);
/* After the top-level value: only whitespace may follow. */
int tk_jr_end(tk_jr *r);

/* Arena growth helper for arrays of structs decoded one by one: a malloc'ed vector copied into
 * the arena at the end (tk_jr_vec_finish), freed on every path by the caller via free(). */
typedef struct tk_jr_vec {
    char *data;
    size_t len, cap, elem;
} tk_jr_vec;
void *tk_jr_vec_push(tk_jr *r, tk_jr_vec *v);          /* zeroed slot, NULL on OOM (reported) */
int tk_jr_vec_finish(tk_jr *r, tk_jr_vec *v, void **out, size_t *n);

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct tk_jw {
    tk_buf *b;
    tk_err *e;
    size_t path_len;
    char path[TK_JSON_PATH_MAX];
} tk_jw;

void tk_jw_init(tk_jw *w, tk_buf *b, tk_err *e);
int tk_jw_fail(tk_jw *w, int code, const char *fmt, ...) TK_PRINTF(3, 4);
size_t tk_jw_push_key(tk_jw *w, const char *k);
size_t tk_jw_push_index(tk_jw *w, size_t i);
static inline void tk_jw_pop(tk_jw *w, size_t saved) {
    w->path_len = saved;
    w->path[saved] = '\0';
}

int tk_jw_raw(tk_jw *w, const char *s, size_t n);
static inline int tk_jw_lit(tk_jw *w, const char *s) { return tk_jw_raw(w, s, strlen(s)); }
/* ',' unless *first, then "\"key\":" (key is escaped). */
int tk_jw_key(tk_jw *w, bool *first, const char *key);
int tk_jw_str(tk_jw *w, const char *s);              /* escaped; invalid UTF-8 is an error */
int tk_jw_i64(tk_jw *w, int64_t v);
int tk_jw_f64(tk_jw *w, double v);                   /* non-finite is an error */
int tk_jw_bool(tk_jw *w, bool v);
int tk_jw_i64_array(tk_jw *w, const int64_t *v, size_t n);
int tk_jw_i32_array(tk_jw *w, const int32_t *v, size_t n);
int tk_jw_f32_array(tk_jw *w, const float *v, size_t n);
/* A raw JSON object supplied by the user: checked to be one object, then copied. NULL -> {}. */
int tk_jw_raw_object(tk_jw *w, const char *json);

/* ---- message schema -------------------------------------------------------------------------- */

enum tk_field_kind {
    TK_FK_STR,          /* char * */
    TK_FK_DATETIME,     /* char *, ISO-8601 checked on decode */
    TK_FK_I64,          /* int64_t */
    TK_FK_F64,          /* double */
    TK_FK_BOOL,         /* bool */
    TK_FK_ENUM,         /* int-sized enum; aux = NULL-terminated name table */
    TK_FK_TAG,          /* no storage: the "type" literal aux */
    TK_FK_STR_LIST,     /* tk_wire_str_list */
    TK_FK_STR_MAP,      /* tk_wire_str_map */
    TK_FK_F64_MAP,      /* tk_wire_f64_map */
    TK_FK_RAW_OBJ,      /* char *, raw JSON object */
    TK_FK_OBJ,          /* nested struct; aux = const tk_msg_desc * */
    TK_FK_OBJ_ARRAY,    /* T * + size_t at n_off; aux = const tk_msg_desc * of T */
    TK_FK_I32_ARRAY,    /* int32_t * + size_t at n_off */
    TK_FK_F32_ARRAY,    /* float * + size_t at n_off */
    TK_FK_CUSTOM,       /* aux = const tk_custom_codec * */
};

enum tk_field_flags {
    TK_F_REQ = 1,       /* must be present and non-null on decode; must be set on encode */
    TK_F_OPT = 2,       /* may be absent or null; omitted on encode when absent */
    TK_F_DEF = 4,       /* always sent; an absent value decodes as the default */
    TK_F_NULL = 8,      /* sent as null when absent */
    TK_F_LITERAL = 16,  /* TK_FK_STR whose value must equal aux */
    TK_F_LENIENT = 32,  /* TK_FK_ENUM: an unknown name decodes as value 0 */
};

struct tk_field;
typedef struct tk_custom_codec {
    int (*decode)(tk_jr *r, void *obj, const struct tk_field *f);
    int (*encode)(tk_jw *w, const void *obj, const struct tk_field *f);
    bool (*present)(const void *obj, const struct tk_field *f);
} tk_custom_codec;

typedef struct tk_field {
    const char *name;
    uint8_t kind;
    uint8_t flags;
    int32_t off;        /* member offset (-1 for TK_FK_TAG) */
    int32_t has_off;    /* offset of bool has_x, or -1 */
    int32_t n_off;      /* offset of size_t n_x for arrays, or -1 */
    const void *aux;
    double dnum;        /* default of numbers, bools and enums (TK_F_DEF) */
    const char *dstr;   /* default of strings (TK_F_DEF) */
} tk_field;

typedef struct tk_msg_desc {
    tk_wire_msg_info info;
    const tk_field *fields;
    size_t n_fields;
    /* optional extra validation after a decode / before an encode */
    int (*check_decoded)(tk_jr *r, void *obj);
    int (*check_encode)(tk_jw *w, const void *obj);
    /* optional whole-object codecs replacing the field walk */
    int (*decode)(tk_jr *r, void *obj);
    int (*encode)(tk_jw *w, const void *obj);
} tk_msg_desc;

int tk_schema_decode(tk_jr *r, const tk_msg_desc *d, void *obj);
int tk_schema_encode(tk_jw *w, const tk_msg_desc *d, const void *obj);
void tk_schema_init(const tk_msg_desc *d, void *obj);
/* Is field f of obj present (for encoding)? */
bool tk_schema_present(const void *obj, const tk_field *f);

/* The descriptor of each message type (json_messages.c); NULL when out of range. */
const tk_msg_desc *tk_wire_msg_desc(tk_wire_msg type);

/* Customs defined in json_tensor.c / json_sample.c / json_forward_backward.c. */
extern const tk_custom_codec tk_cc_tensor_map;        /* tk_wire_tensor_map */
extern const tk_custom_codec tk_cc_tensor_map_array;  /* tk_wire_tensor_map * + n */
extern const tk_custom_codec tk_cc_model_input;       /* tk_wire_model_input */
extern const tk_custom_codec tk_cc_loss_fn;           /* tk_wire_loss_fn */
extern const tk_custom_codec tk_cc_stop;              /* the stop_* members of sampling params */
extern const tk_custom_codec tk_cc_prompt_logprobs;   /* sample response prompt_logprobs */
extern const tk_custom_codec tk_cc_topk;              /* sample response topk_prompt_logprobs */

int tk_json_tensor_decode(tk_jr *r, tk_wire_tensor *t);
int tk_json_tensor_encode(tk_jw *w, const tk_wire_tensor *t);
int tk_json_model_input_decode(tk_jr *r, tk_wire_model_input *mi);
int tk_json_model_input_encode(tk_jw *w, const tk_wire_model_input *mi);

extern const tk_msg_desc tk_desc_datum;
extern const tk_msg_desc tk_desc_forward_backward_input;
int tk_json_fb_request_decode(tk_jr *r, void *obj);
int tk_json_fb_request_encode(tk_jw *w, const void *obj);

#endif
