/* bench_renderers: render + tokenize N seeded random conversations with one renderer and a real
 * tokenizer; prints JSON with the time and token counts of the generation prompts (all messages
 * but the last) and of the supervised examples. --dump FILE writes the conversations as JSONL
 * (the cookbook shape) so bench/renderers/reference.cjs can render the same ones.
 *   bench_renderers --renderer qwen3 --tokenizer .cache/tokenizers/qwen3 [--n 10000] [--dump F] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random_conv.h"
#include "tinkerc/tokenizer.h"

int main(int argc, char **argv) {
    const char *name = "qwen3", *tokdir = ".cache/tokenizers/qwen3", *dump = NULL;
    long n = 10000;
    bool thinking = true, tools = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--renderer") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tokdir = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--plain")) thinking = tools = false;
        else {
            fprintf(stderr, "bench_renderers: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    tk_err e = {0};
    tk_tokenizer *tok;
    tk_renderer *r;
    tk_renderer_opts o = {.current_date = "2025-01-01"};
    if (tk_tokenizer_load(tokdir, &tok, &e) || tk_renderer_new(name, tok, &o, &r, &e)) {
        fprintf(stderr, "bench_renderers: %s\n", e.msg);
        return 1;
    }
    tk_conversation *convs = calloc((size_t)n, sizeof *convs);
    FILE *df = dump ? fopen(dump, "w") : NULL;
    for (long i = 0; i < n; i++) {
        rc_generate((uint64_t)i + 1, (rc_opts){thinking, tools, true}, &convs[i]);
        if (df) {
            tk_buf b = {0};
            (void)!tk_messages_dump(convs[i].messages, convs[i].n_messages, &b);
            fprintf(df, "{\"messages\": %s}\n", b.data);
            tk_buf_free(&b);
        }
    }
    if (df) fclose(df);
    tk_vec_i32 t = {0};
    tk_vec_f32 w = {0};
    size_t gen_tokens = 0, sup_tokens = 0, chars = 0;
    double t0 = tk_now_s();
    for (long i = 0; i < n; i++) {
        t.len = 0;
        if (tk_renderer_build_generation_prompt(r, convs[i].messages, convs[i].n_messages - 1, NULL, NULL, &t, &e)) {
            fprintf(stderr, "bench_renderers: conversation %ld: %s\n", i, e.msg);
            return 1;
        }
        gen_tokens += t.len;
    }
    double t1 = tk_now_s();
    for (long i = 0; i < n; i++) {
        t.len = w.len = 0;
        if (tk_renderer_build_supervised_example(r, convs[i].messages, convs[i].n_messages,
                                                 TK_TRAIN_LAST_ASSISTANT_MESSAGE, &t, &w, &e)) {
            fprintf(stderr, "bench_renderers: conversation %ld: %s\n", i, e.msg);
            return 1;
        }
        sup_tokens += t.len;
        for (size_t k = 0; k < convs[i].n_messages; k++)
            chars += convs[i].messages[k].content ? strlen(convs[i].messages[k].content) : 0;
    }
    double t2 = tk_now_s();
    printf("{\"renderer\": \"%s\", \"conversations\": %ld, \"gen_seconds\": %.4f, \"gen_tokens\": %zu, "
           "\"sup_seconds\": %.4f, \"sup_tokens\": %zu}\n",
           name, n, t1 - t0, gen_tokens, t2 - t1, sup_tokens);
    tk_vec_free(&t);
    tk_vec_free(&w);
    for (long i = 0; i < n; i++) tk_conversation_free(&convs[i]);
    free(convs);
    tk_renderer_free(r);
    tk_tokenizer_free(tok);
    return 0;
}
