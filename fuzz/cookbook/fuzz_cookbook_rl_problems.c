/* libFuzzer: a problem file (tinkerc rl env=math / gsm8k) → tk_rl_dataset_new → batch 0's group
 * builders and their envs' first observations; the input as a response to the graders. Any input
 * must give a clean error or a usable dataset, nothing leaked; a normalised answer matches itself
 * exactly when it is not empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinkerc/rl.h"

static char g_path[64];
static tk_renderer *g_r;

static int enc(void *ctx, const char *text, size_t len, bool split, tk_vec_i32 *out, tk_err *e) {
    (void)ctx;
    (void)split;
    for (size_t i = 0; i < len; i++)
        if (tk_vec_push(out, (int32_t)(unsigned char)text[i])) return tk_err_set(e, TK_ENOMEM, "oom");
    return 0;
}
static int dec(void *ctx, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        char c = (char)ids[i];
        if (tk_buf_append(out, &c, 1)) return tk_err_set(e, TK_ENOMEM, "oom");
    }
    return 0;
}

static void graders(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return;
    memcpy(s, data, size);
    s[size] = 0;   /* the text up to the first NUL */
    long long v;
    (void)tk_rl_last_integer(s, &v);
    tk_buf b = {0}, n = {0};
    (void)tk_rl_extract_boxed(s, &b);
    tk_rl_normalize_answer(s, &n);
    if (tk_rl_answers_match(s, s) != (n.len > 0)) abort();
    tk_buf_free(&b);
    tk_buf_free(&n);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_err e = {0};
    if (!g_path[0]) {
        snprintf(g_path, sizeof g_path, "/tmp/fuzz-rl-%ld.jsonl", (long)getpid());
        tk_renderer_codec c = {.encode = enc, .decode = dec, .bos_id = -1, .eos_id = -1};
        if (tk_renderer_new_with_codec("role_colon", &c, NULL, &g_r, &e)) abort();
    }
    graders(data, size);
    if (tk_file_write_atomic(g_path, (const char *)data, size, 0600, &e)) return 0;
    const char *envs[] = {"math", "gsm8k"};
    for (int k = 0; k < 2; k++) {
        tk_rl_env_config c = {.env = envs[k], .dataset = g_path, .group_size = 2, .groups_per_batch = 1 + (int64_t)(size % 2),
                              .num_epochs = 1, .seed = size, .format_coef = 0.1, .fewshot = size % 3 == 0, .renderer = g_r};
        tk_rl_dataset *d = NULL;
        if (tk_rl_dataset_new(&c, &d, &e)) {
            if (d || !e.msg[0]) abort();
            continue;
        }
        if (d->ops->n_batches(d) < 1) abort();
        tk_rl_group_builder **b = NULL;
        size_t n = 0;
        if (d->ops->get_batch(d, 0, &b, &n, &e)) abort();
        for (size_t i = 0; i < n; i++) {
            tk_rl_env **envv = NULL;
            size_t ne = 0;
            if (!b[i]->ops->make_envs(b[i], &envv, &ne, &e)) {
                for (size_t j = 0; j < ne; j++) {
                    tk_vec_i32 ob = {0};
                    if (envv[j]->ops->initial_observation(envv[j], &ob, &e) == 0 && ob.len == 0) abort();
                    tk_vec_free(&ob);
                    envv[j]->ops->free(envv[j]);
                }
                free(envv);
            }
            b[i]->ops->free(b[i]);
        }
        free(b);
        d->ops->free(d);
    }
    return 0;
}
