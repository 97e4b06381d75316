/* The shared run setup (tk_run_*), end to end on the embedded engine with a tiny random Qwen3
 * model that carries the real Qwen3 tokenizer:
 *   - model refs: a relative local directory becomes absolute, config.json gives the family,
 *     hidden size, renderer and the get_lr value (checked against the formula by hand);
 *   - tk_run_open writes nothing under log_path; tk_run_begin writes config.json;
 *   - checkpoints: the record is appended only after the save completed, in the cookbook's key
 *     order; a failed save appends nothing;
 *   - resume: the last record's state is loaded with its optimizer, so the next step's loss is
 *     bit-identical to continuing without a restart (the engine is deterministic); metrics rows
 *     from the resume step on are dropped; a torn checkpoints.jsonl tail is cut;
 *   - log_path behaviours: raise refuses, delete replaces only at tk_run_begin;
 *   - load_checkpoint_path: weights only (a fresh optimizer: the next loss differs from resuming);
 *   - bad input: unknown renderer, a directory without config.json, a malformed config.json. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "tinkerc/cookbook.h"
#include "tinkerc/engine.h"
#include "tinkerc/local.h"

static char *g_dir;
static char g_model[512];

static void quiet(tk_log_level l, const char *m, void *u) {}

static int setup_all(void **state) {
    g_dir = tk_test_tmpdir();
    snprintf(g_model, sizeof g_model, "%s/tiny-qwen3", g_dir);
    tk_engine_init_options o;
    memset(&o, 0, sizeof o);
    tk_engine_config_default(&o.config, TK_ENGINE_ARCH_QWEN3);
    o.config.num_layers = 1;
    o.config.hidden_size = 16;
    o.config.num_heads = 2;
    o.config.num_kv_heads = 1;
    o.config.head_dim = 8;
    o.config.intermediate_size = 32;
    o.config.max_position_embeddings = 512;
    o.seed = 3;
    o.dtype = TK_ENGINE_F32;
    o.tokenizer = ".cache/tokenizers/qwen3";
    o.out_dir = g_model;
    tk_err e = {0};
    if (tk_engine_model_init(&o, &e)) {
        fprintf(stderr, "model init: %s\n", e.msg);
        return -1;
    }
    char data[600];
    snprintf(data, sizeof data, "%s/data", g_dir);
    setenv("TINKERC_DATA_DIR", data, 1);
    unsetenv("TINKER_BASE_URL");
    unsetenv("TINKER_API_KEY");
    unsetenv("TINKER_CREDENTIAL_CMD");
    if (tk_local_register(NULL, &e)) return -1;
    return 0;
}

static int teardown_all(void **state) {
    tk_local_unregister();
    tk_err e = {0};
    tk_remove_tree(g_dir, &e);
    free(g_dir);
    return 0;
}

static char *path2(const char *a, const char *b) { return tk_path_join(a, b); }

static void put(const char *path, const char *text) {
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(path, text, strlen(text), 0644, &e), &e);
}

static void test_model_ref(void **state) {
    tk_err e = {0};
    tk_model_ref m;
    /* a relative path to the model directory becomes absolute */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_dir), 0);
    int rc = tk_model_ref_resolve("./tiny-qwen3", &m, &e);
    assert_int_equal(chdir(cwd), 0);
    assert_ok(rc, &e);
    assert_string_equal(m.dir, g_model);
    assert_string_equal(m.base_model, g_model);
    assert_string_equal(m.name, "./tiny-qwen3");
    assert_string_equal(m.model_type, "qwen3");
    assert_int_equal(m.hidden_size, 16);
    const char *r;
    assert_ok(tk_model_ref_default_renderer(&m, &r, &e), &e);
    assert_string_equal(r, "qwen3");
    double lr;
    assert_ok(tk_model_ref_default_lr(&m, &lr, &e), &e);
    /* the cookbook's formula by hand: 5e-5 * 10 * (2000/16)^0.0775 */
    assert_true(fabs(lr - 5e-4 * pow(125.0, 0.0775)) < 1e-15);
    tk_model_ref_free(&m);

    /* a service-side name: the table */
    assert_ok(tk_model_ref_resolve("Qwen/Qwen3-8B", &m, &e), &e);
    assert_null(m.dir);
    assert_string_equal(m.base_model, "Qwen/Qwen3-8B");
    assert_int_equal(m.hidden_size, 4096);
    assert_ok(tk_model_ref_default_renderer(&m, &r, &e), &e);
    assert_string_equal(r, "qwen3");
    assert_ok(tk_model_ref_default_lr(&m, &lr, &e), &e);
    assert_true(fabs(lr - 4.73e-4) < 0.01e-4);   /* reference/cookbook.md §6: Qwen3-8B ≈ 4.73e-4 */
    tk_model_ref_free(&m);
    assert_ok(tk_model_ref_resolve("some-org/unknown-model", &m, &e), &e);
    assert_err(tk_model_ref_default_lr(&m, &lr, &e), TK_EUNSUPPORTED, &e, "learning_rate=");
    assert_err(tk_model_ref_default_renderer(&m, &r, &e), TK_ENOTFOUND, &e, "renderer");
    tk_model_ref_free(&m);

    /* bad local directories */
    char *bad = path2(g_dir, "not-a-model");
    assert_ok(tk_mkdir_p(bad, 0755, &e), &e);
    assert_err(tk_model_ref_resolve(bad, &m, &e), TK_ENOTFOUND, &e, "without config.json");
    char *cfg = path2(bad, "config.json");
    put(cfg, "{\"model_type\": \"qwen3\",");
    assert_err(tk_model_ref_resolve(bad, &m, &e), TK_EPARSE, &e, "config.json");
    put(cfg, "{\"model_type\": \"gpt2\", \"hidden_size\": \"x\"}");
    assert_err(tk_model_ref_resolve(bad, &m, &e), TK_EINVAL, &e, "hidden_size");
    put(cfg, "{\"model_type\": \"gpt2\", \"hidden_size\": 64}");
    assert_ok(tk_model_ref_resolve(bad, &m, &e), &e);
    assert_err(tk_model_ref_default_renderer(&m, &r, &e), TK_ENOTFOUND, &e, "renderer_name=");
    assert_err(tk_model_ref_default_lr(&m, &lr, &e), TK_EUNSUPPORTED, &e, "learning_rate=");
    tk_model_ref_free(&m);
    assert_err(tk_model_ref_resolve("", &m, &e), TK_EINVAL, &e, "model_name");
    free(cfg);
    free(bad);
}

/* ---- a few training steps through a run -------------------------------------------------------- */

#define SEQ 10
#define BATCH 2

typedef struct batch {
    tk_wire_datum d[BATCH];
    tk_arena *a;
} batch;

static void make_batch(batch *b, uint64_t seed) {
    b->a = tk_arena_new(0);
    tk_rng r;
    tk_rng_seed(&r, seed);
    for (int d = 0; d < BATCH; d++) {
        int32_t *tok = tk_arena_alloc(b->a, (SEQ + 1) * sizeof *tok);
        float w[SEQ + 1];
        for (int i = 0; i <= SEQ; i++) {
            tok[i] = (int32_t)(100 + tk_rng_below(&r, 5000));
            w[i] = i < 3 ? 0.0f : 1.0f;
        }
        tk_wire_chunk *ch = tk_arena_zalloc(b->a, sizeof *ch);
        *ch = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = tok, .n_tokens = SEQ + 1};
        tk_wire_model_input mi = {ch, 1};
        tk_err e = {0};
        assert_ok(tk_wire_datum_from_model_input_weights(&mi, w, SEQ + 1, -1, TK_WIRE_REDUCTION_MEAN, b->a,
                                                         &b->d[d], &e), &e);
    }
}

static double step(tk_run *r, const batch *b) {
    tk_wire_adam_params p;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &p);
    p.learning_rate = 0.05;
    tk_err e = {0};
    tk_client_task *fb = NULL, *opt = NULL;
    assert_ok(tk_client_training_forward_backward(r->training, b->d, BATCH, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                  &fb, &e), &e);
    assert_ok(tk_client_training_optim_step(r->training, &p, &opt, &e), &e);
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_output o;
    assert_ok(tk_client_fb_result(fb, -1, a, &o, &e), &e);
    assert_ok(tk_client_task_wait(opt, -1, &e), &e);
    const double *loss = tk_wire_f64_map_get(&o.metrics, "loss:sum");
    assert_non_null(loss);
    double v = *loss;
    tk_arena_free(a);
    tk_client_task_release(fb);
    tk_client_task_release(opt);
    return v;
}

static tk_run *open_run_r(const char *log, tk_logdir_behavior b, const char *load, const char *renderer,
                          tk_err *e, int *rc) {
    tk_run_options o;
    tk_run_options_init(&o);
    o.renderer_name = renderer;
    o.log_path = log;
    o.if_exists = b;
    o.model_name = g_model;
    o.lora_rank = 4;
    o.has_seed = true;
    o.seed = 7;
    o.load_checkpoint_path = load;
    o.recipe_name = "test_run";
    tk_run *r = NULL;
    *rc = tk_run_open(&o, &r, e);
    return r;
}

static tk_run *open_run(const char *log, tk_logdir_behavior b, const char *load, tk_err *e, int *rc) {
    return open_run_r(log, b, load, NULL, e, rc);
}

static size_t count_lines(const char *dir, const char *file) {
    char *p = path2(dir, file);
    tk_buf b = {0};
    tk_err e = {0};
    size_t n = 0;
    if (!tk_file_read(p, &b, 0, &e))
        for (size_t i = 0; i < b.len; i++) n += b.data[i] == '\n';
    tk_buf_free(&b);
    free(p);
    return n;
}

static void test_run_fresh_save_resume(void **state) {
    tk_err e = {0};
    int rc;
    char *log = path2(g_dir, "runs/a");
    batch b1, b2;
    make_batch(&b1, 1);
    make_batch(&b2, 2);

    tk_run *r = open_run(log, TK_LOGDIR_ASK, NULL, &e, &rc);
    assert_ok(rc, &e);
    assert_false(r->resuming);
    assert_null(r->resume);
    assert_int_equal(r->logdir, TK_LOGDIR_NEW);
    assert_string_equal(r->renderer_name, "qwen3");
    assert_non_null(r->renderer);
    assert_non_null(r->tokenizer);
    assert_true(tk_tokenizer_vocab_size(r->tokenizer) > 150000);   /* the real Qwen3 tokenizer */
    assert_true(fabs(r->default_lr - 5e-4 * pow(125.0, 0.0775)) < 1e-15);
    assert_false(tk_path_exists(log));   /* nothing written before tk_run_begin */
    json_t *cfg = json_pack("{s:s,s:i}", "model_name", g_model, "batch_size", 2);
    assert_ok(tk_run_begin(r, cfg, 0, &e), &e);
    assert_err(tk_run_begin(r, cfg, 0, &e), TK_ESTATE, &e, "twice");
    json_decref(cfg);
    char *cfgpath = path2(log, "config.json");
    json_t *back;
    assert_ok(tk_json_load_file(cfgpath, &back, &e), &e);
    assert_int_equal(json_integer_value(json_object_get(back, "batch_size")), 2);
    json_decref(back);

    /* step 0, then a checkpoint of exactly that state, recording batch 1 as the next */
    double l0 = step(r, &b1);
    assert_true(isfinite(l0));
    json_t *loop = json_pack("{s:i,s:i,s:i}", "epoch", 0, "batch", 1, "elapsed_tokens", 20);
    tk_run_saving *sv;
    assert_ok(tk_run_save_submit(r, "000000", TK_CKPT_BOTH, 0, loop, &sv, &e), &e);
    assert_int_equal(count_lines(log, "checkpoints.jsonl"), 0);   /* not before it completed */
    json_t *rec;
    assert_ok(tk_run_save_finish(sv, &rec, &e), &e);
    /* the cookbook's key order */
    const char *order[] = {"name", "batch", "epoch", "state_path", "sampler_path", "elapsed_tokens"};
    void *it = json_object_iter(rec);
    for (size_t i = 0; i < 6; i++, it = json_object_iter_next(rec, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    assert_null(it);
    char *state_path = tk_strdup(json_string_value(json_object_get(rec, "state_path")));
    assert_true(!strncmp(state_path, "tinker://", 9) && strstr(state_path, "/weights/000000"));
    assert_non_null(strstr(json_string_value(json_object_get(rec, "sampler_path")), "/sampler_weights/000000"));
    json_decref(rec);
    assert_int_equal(count_lines(log, "checkpoints.jsonl"), 1);

    /* a save that fails (the name exists) appends nothing */
    tk_log_set_hook(quiet, NULL);
    assert_err(tk_run_save(r, "000000", TK_CKPT_STATE, 0, loop, NULL, &e), TK_EREMOTE, &e, "000000");
    tk_log_set_hook(NULL, NULL);
    assert_int_equal(count_lines(log, "checkpoints.jsonl"), 1);
    json_decref(loop);

    json_t *m = json_pack("{s:f}", "train_mean_nll", l0);
    assert_ok(tk_run_log_metrics(r, 0, m, &e), &e);
    /* the continued run: step 1 on b2 */
    double l1 = step(r, &b2);
    assert_ok(tk_run_log_metrics(r, 1, m, &e), &e);
    double l2 = step(r, &b1);
    json_decref(m);
    tk_run_close(r);
    assert_int_equal(count_lines(log, "metrics.jsonl"), 2);

    /* raise: refused, nothing changed */
    r = open_run(log, TK_LOGDIR_RAISE, NULL, &e, &rc);
    assert_err(rc, TK_EEXIST, &e, "behavior_if_log_dir_exists");
    assert_null(r);

    /* resume: the checkpoint's state with its optimizer; the step-1 loss is bit-identical */
    char *ck = path2(log, "checkpoints.jsonl");
    FILE *f = fopen(ck, "a");
    fputs("{\"name\":\"000001\",\"sta", f);  /* a torn tail from a crash */
    fclose(f);
    tk_log_set_hook(quiet, NULL);
    r = open_run(log, TK_LOGDIR_RESUME, NULL, &e, &rc);
    tk_log_set_hook(NULL, NULL);
    assert_ok(rc, &e);
    assert_true(r->resuming);
    assert_int_equal(r->logdir, TK_LOGDIR_CONTINUE);
    assert_int_equal(tk_run_resume_i64(r, "batch", -1), 1);
    assert_int_equal(tk_run_resume_i64(r, "elapsed_tokens", -1), 20);
    assert_int_equal(tk_run_resume_i64(r, "missing", -5), -5);
    tk_log_set_hook(quiet, NULL);
    assert_ok(tk_run_begin(r, NULL, 1, &e), &e);
    tk_log_set_hook(NULL, NULL);
    assert_int_equal(count_lines(log, "metrics.jsonl"), 1);        /* step 1's row is redone */
    tk_buf ckb = {0};
    assert_ok(tk_file_read(ck, &ckb, 0, &e), &e);
    assert_int_equal(ckb.data[ckb.len - 1], '\n');                 /* the torn tail is gone */
    assert_int_equal(count_lines(log, "checkpoints.jsonl"), 1);
    tk_buf_free(&ckb);
    double l1r = step(r, &b2);
    if (l1r != l1) fail_msg("resumed step-1 loss %.17g != continued %.17g", l1r, l1);
    double l2r = step(r, &b1);   /* after an update that used the restored Adam moments */
    if (l2r != l2) fail_msg("resumed step-2 loss %.17g != continued %.17g", l2r, l2);
    tk_run_close(r);

    /* weights only (load_checkpoint_path) into a new log_path: the same weights (same step-1
     * loss) but a fresh optimizer, so the loss after the next update differs */
    char *log2 = path2(g_dir, "runs/b");
    r = open_run(log2, TK_LOGDIR_ASK, state_path, &e, &rc);
    assert_ok(rc, &e);
    assert_false(r->resuming);
    assert_ok(tk_run_begin(r, NULL, 0, &e), &e);
    double l1w = step(r, &b2);
    if (l1w != l1) fail_msg("weights-only step-1 loss %.17g != %.17g", l1w, l1);
    double l2w = step(r, &b1);
    assert_true(l2w != l2);
    tk_run_close(r);

    /* delete: decided at open, done only by tk_run_begin */
    r = open_run(log, TK_LOGDIR_DELETE, NULL, &e, &rc);
    assert_ok(rc, &e);
    assert_int_equal(r->logdir, TK_LOGDIR_REPLACE);
    assert_false(r->resuming);
    tk_run_close(r);
    assert_int_equal(count_lines(log, "metrics.jsonl"), 1);
    r = open_run(log, TK_LOGDIR_DELETE, NULL, &e, &rc);
    assert_ok(rc, &e);
    assert_ok(tk_run_begin(r, NULL, 0, &e), &e);
    assert_int_equal(count_lines(log, "metrics.jsonl"), 0);
    assert_int_equal(count_lines(log, "checkpoints.jsonl"), 0);
    assert_true(tk_path_is_dir(log));
    tk_run_close(r);

    /* an unknown renderer fails the open and writes nothing */
    char *log3 = path2(g_dir, "runs/c");
    r = open_run_r(log3, TK_LOGDIR_ASK, NULL, "no_such_renderer", &e, &rc);
    assert_err(rc, TK_ENOTFOUND, &e, "renderer_name=no_such_renderer");
    assert_null(r);
    assert_false(tk_path_exists(log3));
    free(log3);
    free(state_path);
    free(log2);
    tk_arena_free(b1.a);
    tk_arena_free(b2.a);
    free(ck);
    free(cfgpath);
    free(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_ref),
        cmocka_unit_test(test_run_fresh_save_resume),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
