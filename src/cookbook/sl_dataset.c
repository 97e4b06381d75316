/* The supervised recipe's dataset: a JSONL file of conversations ({"messages": [...]} per line),
 * shuffled with shuffle_seed and split (the first test_size rows are the test set), rendered
 * into datums with reduction=mean, reshuffled every epoch with the epoch index as the seed
 * (cookbook FromConversationFileBuilder + SupervisedDatasetFromHFDataset). Bad lines are an
 * error naming file:line, or, with skip_bad, skipped and counted. */
#include "tinkerc/cookbook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    int64_t line;                /* 1-based line in the file */
    tk_conversation conv;
} row;

struct tk_sl_dataset {
    tk_sl_dataset_options o;
    char *path;
    TK_VEC(row) rows;            /* parsed, shuffled with shuffle_seed; test rows first */
    size_t n_test_rows;
    tk_arena *arena;             /* datums and their tokens */
    tk_wire_datum *train, *test;
    int64_t *train_lines;
    size_t n_train, n_test;
    size_t *order;               /* this epoch's permutation of train */
    tk_sl_dataset_stats stats;
};

static void shuffle_split(tk_sl_dataset *d);

static const char *const k_roles[] = {"system", "user", "assistant", "tool", "developer", "tool_declare", NULL};

/* A bad example: an error (raise), or a warning and a count (skip). */
static int bad(tk_sl_dataset *d, int rc, tk_err *why, tk_err *e) {
    if (!d->o.skip_bad) {
        if (e) *e = *why;
        return rc;
    }
    d->stats.skipped++;
    if (d->stats.skipped <= 20) tk_warn("skipping a bad example (on_bad_example=skip): %s", why->msg);
    else if (d->stats.skipped == 21) tk_warn("skipping more bad examples; only the count is reported from here on");
    if (d->stats.skipped == 1) snprintf(d->stats.first_skipped, sizeof d->stats.first_skipped, "%s", why->msg);
    return 0;
}

static int check_roles(const tk_conversation *c, const char *where, tk_err *e) {
    if (c->n_messages == 0) return tk_err_set(e, TK_EINVAL, "%s: \"messages\" is empty", where);
    for (size_t i = 0; i < c->n_messages; i++) {
        const char *role = c->messages[i].role;
        bool ok = false;
        for (const char *const *r = k_roles; *r && !ok; r++) ok = role && !strcmp(role, *r);
        if (!ok)
            return tk_err_set(e, TK_EINVAL, "%s: messages[%zu].role: unknown role \"%s\" (expected system, user, "
                                            "assistant, tool, developer or tool_declare)", where, i, role ? role : "");
    }
    return 0;
}

/* One line: a JSON object with "messages" (other top-level keys are ignored, as upstream). */
static int parse_line(const char *text, size_t len, const char *where, tk_conversation *out, tk_err *e) {
    json_t *v = NULL;
    int rc = tk_json_parse(text, len, where, &v, e);
    if (rc) return rc;
    if (!json_is_object(v)) {
        rc = tk_err_set(e, TK_EINVAL, "%s: expected a JSON object {\"messages\": [...]}, got %s", where,
                        tk_json_type_name(v));
    } else if (!json_object_get(v, "messages")) {
        rc = tk_err_set(e, TK_EINVAL, "%s: no \"messages\" key (each line must be {\"messages\": [...]})", where);
    } else {
        json_t *only = json_object();
        if (!only) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) rc = json_object_set(only, "messages", json_object_get(v, "messages")) ? TK_ENOMEM : 0;
        if (!rc && json_object_get(v, "tools"))
            rc = json_object_set(only, "tools", json_object_get(v, "tools")) ? TK_ENOMEM : 0;
        if (rc) tk_err_set(e, rc, "out of memory");
        if (!rc) rc = tk_conversation_from_json(only, where, out, e);
        if (!rc && (rc = check_roles(out, where, e))) tk_conversation_free(out);
        json_decref(only);
    }
    json_decref(v);
    return rc;
}

void tk_sl_dataset_free(tk_sl_dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->rows.len; i++) tk_conversation_free(&d->rows.data[i].conv);
    tk_vec_free(&d->rows);
    tk_arena_free(d->arena);
    free(d->train);
    free(d->test);
    free(d->train_lines);
    free(d->order);
    free(d->path);
    free(d);
}

int tk_sl_dataset_load(const tk_sl_dataset_options *o, tk_sl_dataset **out, tk_err *e) {
    *out = NULL;
    if (!o->path || !*o->path) return tk_err_set(e, TK_EINVAL, "dataset is required (a JSONL file of {\"messages\": [...]})");
    if (o->test_size < 0) return tk_err_set(e, TK_EINVAL, "test_size=%lld: must be >= 0", (long long)o->test_size);
    tk_sl_dataset *d = calloc(1, sizeof *d);
    if (!d) return tk_err_set(e, TK_ENOMEM, "out of memory");
    d->o = *o;
    d->path = tk_path_expand_user(o->path);
    d->o.path = d->path;
    d->arena = tk_arena_new(0);
    tk_buf text = {0};
    int rc = (!d->path || !d->arena) ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
    if (!rc && (rc = tk_file_read(d->path, &text, 0, e))) tk_err_prefix(e, "dataset: ");
    tk_lines it = tk_lines_of(text.data, text.len);   /* blank lines are not examples */
    const char *s;
    size_t n;
    while (!rc && tk_lines_next(&it, &s, &n)) {
        int64_t line = it.line_no;
        d->stats.lines++;
        char where[1100];
        snprintf(where, sizeof where, "%s:%lld", d->path, (long long)line);
        row r = {.line = line};
        tk_err why = {0};
        int prc = parse_line(s, n, where, &r.conv, &why);
        if (prc == TK_ENOMEM) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (prc) rc = bad(d, prc, &why, e);
        else if (tk_vec_push(&d->rows, r)) {
            tk_conversation_free(&r.conv);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        }
    }
    tk_buf_free(&text);
    if (!rc && d->rows.len == 0)
        rc = tk_err_set(e, TK_EINVAL, "dataset %s: no examples%s", d->path,
                        d->stats.skipped ? " left after skipping the bad ones" : " (the file is empty)");
    if (rc) {
        tk_sl_dataset_free(d);
        return rc;
    }
    shuffle_split(d);
    *out = d;
    return 0;
}

int tk_sl_dataset_from_conversations(const tk_sl_dataset_options *o, tk_conversation *convs, const int64_t *lines,
                                     size_t n, tk_sl_dataset **out, tk_err *e) {
    *out = NULL;
    tk_sl_dataset *d = calloc(1, sizeof *d);
    int rc = d ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) {
        d->o = *o;
        d->path = tk_strdup(o->path ? o->path : "(conversations)");
        d->o.path = d->path;
        d->arena = tk_arena_new(0);
        if (!d->path || !d->arena) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc && n == 0) rc = tk_err_set(e, TK_EINVAL, "dataset %s: no examples", d->path);
    for (size_t i = 0; i < n; i++) {
        row r = {.line = lines ? lines[i] : (int64_t)i + 1, .conv = convs[i]};
        memset(&convs[i], 0, sizeof convs[i]);
        if (!rc && tk_vec_push(&d->rows, r)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (rc) tk_conversation_free(&r.conv);
    }
    if (rc) {
        tk_sl_dataset_free(d);
        return rc;
    }
    d->stats.lines = n;
    shuffle_split(d);
    *out = d;
    return 0;
}

/* Shuffle the rows with shuffle_seed, then the first test_size rows are the test set. */
static void shuffle_split(tk_sl_dataset *d) {
    const tk_sl_dataset_options *o = &d->o;
    /* shuffle with shuffle_seed, then the first test_size rows are the test set; a test_size
     * that leaves nothing to train on means no test set (as upstream) */
    tk_rng rng;
    tk_rng_seed(&rng, o->shuffle_seed);
    tk_rng_shuffle(&rng, d->rows.data, d->rows.len, sizeof *d->rows.data);
    if (o->test_size > 0 && (size_t)o->test_size < d->rows.len) d->n_test_rows = (size_t)o->test_size;
    else if (o->test_size > 0)
        tk_warn("test_size=%lld is not smaller than the %zu examples of %s: no test set, all of them train",
                (long long)o->test_size, d->rows.len, d->path);
}

/* Render one conversation into a datum in the arena. */
static int render_row(tk_sl_dataset *d, const tk_renderer *r, const row *rw, tk_wire_datum *out, tk_err *e) {
    char where[1100];
    snprintf(where, sizeof where, "%s:%lld", d->path, (long long)rw->line);
    tk_vec_i32 tokens = {0};
    tk_vec_f32 weights = {0};
    int rc = tk_renderer_build_supervised_example(r, rw->conv.messages, rw->conv.n_messages, d->o.train_on_what,
                                                  &tokens, &weights, e);
    if (rc) tk_err_prefix(e, "%s: ", where);
    if (!rc && d->o.first_trained_token_only) {   /* as ComparisonRendererFromChatRenderer */
        for (size_t i = 0; i < weights.len; i++)
            if (weights.data[i] == 1.0f) {
                tokens.len = weights.len = i + 1;
                break;
            }
    }
    if (!rc && d->o.max_length > 0 && (int64_t)tokens.len > d->o.max_length && !d->o.truncate_long)
        rc = tk_err_set(e, TK_ERANGE, "%s: %zu tokens, longer than max_length=%lld (raise max_length, or pass "
                                      "on_bad_example=skip or truncate_long_examples=true)",
                        where, tokens.len, (long long)d->o.max_length);
    if (!rc) {
        size_t n = tokens.len;
        if (d->o.max_length > 0 && (int64_t)n > d->o.max_length) n = (size_t)d->o.max_length;
        double wsum = 0;
        for (size_t i = 1; i < n; i++) wsum += weights.data[i];
        if (n < 2) rc = tk_err_set(e, TK_EINVAL, "%s: renders to %zu token(s); an example needs at least 2", where, n);
        else if (!(wsum > 0))
            rc = tk_err_set(e, TK_EINVAL, "%s: nothing to train on: train_on_what=%s gives no token weight 1 "
                                          "(no such message in this conversation)",
                            where, tk_train_on_what_name(d->o.train_on_what));
    }
    if (!rc) {
        int32_t *tok = tk_arena_alloc(d->arena, tokens.len * sizeof *tok);
        tk_wire_chunk *ch = tk_arena_zalloc(d->arena, sizeof *ch);
        if (!tok || !ch) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) {
            memcpy(tok, tokens.data, tokens.len * sizeof *tok);
            *ch = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = tok, .n_tokens = tokens.len};
            tk_wire_model_input mi = {ch, 1};
            rc = tk_wire_datum_from_model_input_weights(&mi, weights.data, weights.len, d->o.max_length > 0 ? d->o.max_length : -1,
                                                        TK_WIRE_REDUCTION_MEAN, d->arena, out, e);
            if (rc) tk_err_prefix(e, "%s: ", where);
        }
    }
    tk_vec_free(&tokens);
    tk_vec_free(&weights);
    return rc;
}

int tk_sl_dataset_render(tk_sl_dataset *d, const tk_renderer *r, tk_err *e) {
    size_t n = d->rows.len;
    d->test = calloc(d->n_test_rows ? d->n_test_rows : 1, sizeof *d->test);
    d->train = calloc(n - d->n_test_rows ? n - d->n_test_rows : 1, sizeof *d->train);
    d->train_lines = calloc(n - d->n_test_rows ? n - d->n_test_rows : 1, sizeof *d->train_lines);
    d->order = calloc(n - d->n_test_rows ? n - d->n_test_rows : 1, sizeof *d->order);
    if (!d->test || !d->train || !d->train_lines || !d->order) return tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bool is_test = i < d->n_test_rows;
        tk_wire_datum *slot = is_test ? &d->test[d->n_test] : &d->train[d->n_train];
        tk_err why = {0};
        int rc = render_row(d, r, &d->rows.data[i], slot, &why);
        if (rc == TK_ENOMEM) return tk_err_set(e, TK_ENOMEM, "out of memory");
        if (rc) {
            if ((rc = bad(d, rc, &why, e))) return rc;
            continue;
        }
        if (is_test) d->n_test++;
        else d->train_lines[d->n_train++] = d->rows.data[i].line;
    }
    d->stats.train = d->n_train;
    d->stats.test = d->n_test;
    if (d->n_train == 0)
        return tk_err_set(e, TK_EINVAL, "dataset %s: no training examples%s", d->path,
                          d->stats.skipped ? " left after skipping the bad ones" : "");
    tk_sl_dataset_set_epoch(d, 0);
    return 0;
}

size_t tk_sl_dataset_n_train(const tk_sl_dataset *d) { return d->n_train; }

const tk_wire_datum *tk_sl_dataset_test(const tk_sl_dataset *d, size_t *n) {
    *n = d->n_test;
    return d->n_test ? d->test : NULL;
}

void tk_sl_dataset_set_epoch(tk_sl_dataset *d, int64_t epoch) {
    for (size_t i = 0; i < d->n_train; i++) d->order[i] = i;
    tk_rng rng;
    tk_rng_seed(&rng, (uint64_t)epoch);
    tk_rng_shuffle(&rng, d->order, d->n_train, sizeof *d->order);
}

int tk_sl_dataset_get_batch(const tk_sl_dataset *d, size_t batch_idx, size_t batch_size, tk_wire_datum *out,
                            int64_t *lines, tk_err *e) {
    if (batch_size == 0 || batch_idx >= d->n_train / batch_size)
        return tk_err_set(e, TK_ERANGE, "batch %zu of size %zu: the dataset has %zu full batches", batch_idx,
                          batch_size, batch_size ? d->n_train / batch_size : 0);
    for (size_t k = 0; k < batch_size; k++) {
        size_t i = d->order[batch_idx * batch_size + k];
        out[k] = d->train[i];
        if (lines) lines[k] = d->train_lines[i];
    }
    return 0;
}

const tk_sl_dataset_stats *tk_sl_dataset_get_stats(const tk_sl_dataset *d) { return &d->stats; }
