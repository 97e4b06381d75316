/* libFuzzer: a comparison file (tinkerc dpo / rm) → tk_pref_dataset_load (raise and skip) →
 * every comparison as the reward model's conversation; the input as a preference-model answer.
 * Any input must give a clean error or consistent comparisons, nothing leaked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinkerc/cookbook.h"

static char g_path[64];

static void quiet(tk_log_level l, const char *m, void *u) {
    (void)l;
    (void)m;
    (void)u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_path[0]) {
        snprintf(g_path, sizeof g_path, "/tmp/fuzz-prefs-%ld.jsonl", (long)getpid());
        tk_log_set_hook(quiet, NULL);
    }
    tk_err e = {0};
    if (tk_file_write_atomic(g_path, (const char *)data, size, 0600, &e)) return 0;
    for (int mode = 0; mode < 2; mode++) {
        tk_pref_dataset_options o = {.path = g_path, .test_size = size % 3, .skip_bad = mode == 1,
                                     .keep_ties = size % 2 == 0};
        tk_pref_dataset *d = NULL;
        if (tk_pref_dataset_load(&o, &d, &e)) {
            if (d || !e.msg[0]) abort();
            continue;
        }
        size_t n, n_test;
        const tk_pref_comparison *c = tk_pref_dataset_comparisons(d, &n, &n_test);
        if (n == 0 || n_test > n) abort();
        for (size_t i = 0; i < n; i++) {
            if (!c[i].a.n_messages || !c[i].b.n_messages) abort();
            if (!o.keep_ties && c[i].label == TK_PREF_LABEL_TIE) abort();
            tk_conversation conv;
            if (tk_rm_comparison_conversation(&c[i], true, &conv, &e)) abort();
            if (conv.n_messages != c[i].prompt.n_messages + c[i].a.n_messages + c[i].b.n_messages + 4) abort();
            tk_conversation_free(&conv);
        }
        tk_pref_dataset_free(d);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    double score;
    if (!tk_preference_from_text(text, &score) && score != 0) abort();
    free(text);
    return 0;
}
