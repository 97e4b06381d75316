/* tinkerc sample: generate from a local model (optionally with a LoRA adapter) on the engine. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_model_path.h"
#include "tinkerc/base.h"
#include "tinkerc/engine.h"
#include "tinkerc/tokenizer.h"

int tk_cmd_sample(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc sample --model DIR_OR_NAME (--prompt TEXT | --prompt-tokens IDS) [options]\n"
            "\n"
            "  --model DIR_OR_NAME      a HF model directory, or a name in the Hugging Face cache\n"
            "  --adapter DIR            a LoRA adapter: a tinkerc checkpoint or a PEFT directory\n"
            "  --prompt TEXT            the prompt as text, encoded with the model's tokenizer (special\n"
            "                           tokens added as the tokenizer's post-processor says)\n"
            "  --prompt-tokens IDS      the prompt as token ids (\"1,2,3\" or \"1 2 3\")\n"
            "  --tokenizer NAME_OR_PATH tokenizer to use (default: the model directory's tokenizer.json)\n"
            "  --max-tokens N           tokens to generate at most (default 64)\n"
            "  --temperature T          0 is greedy (default 1)\n"
            "  --top-k K                -1 for no limit (default)\n"
            "  --top-p P                in (0, 1] (default 1)\n"
            "  --seed S                 same seed, same samples (default: random)\n"
            "  --num-samples K          samples sharing one prefill (default 1)\n"
            "  --stop STR               stop when the generated text contains STR (repeatable)\n"
            "  --stop-token ID          stop after this token (repeatable; default: the model's\n"
            "                           eos_token_id, unless --no-eos-stop)\n"
            "  --prompt-logprobs        also print the prompt's logprobs\n"
            "  --topk-prompt-logprobs K and its top-K alternatives per position (K <= 20)\n"
            "  --json                   print the SampleResponse as JSON (tokens, logprobs, stop reasons,\n"
            "                           and each sample's text when a tokenizer is available)\n"
            "  --decode-dtype f32|bf16  weights used while decoding (bf16 halves memory traffic)\n"
            "  --threads N              engine threads (default: OMP_NUM_THREADS, else all CPUs)\n"
            "\n"
            "Completions are printed as text when a tokenizer is available, and always as ids.\n"
            "--messages FILE and --renderer NAME need the renderer layer, which this build does not\n"
            "include yet.\n");
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "tinkerc sample: %s: \"%s\" is not a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_ids(const char *s, tk_vec_i32 *out) {
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "tinkerc sample: --prompt-tokens: \"%s\" is not a list of token ids\n", s);
            return -1;
        }
        if (tk_vec_push(out, (int32_t)v)) return -1;
        p = end;
    }
    if (!out->len) {
        fprintf(stderr, "tinkerc sample: --prompt-tokens: no token ids\n");
        return -1;
    }
    return 0;
}

static json_t *f32_or_null(float v) { return isfinite(v) ? json_real(v) : json_null(); }

static const char *token_bytes(void *user, int32_t id, size_t *len) {
    return tk_tokenizer_id_to_bytes(user, id, len);
}

/* The decoded text of a sequence (malloc'd), or NULL without a tokenizer. */
static char *seq_text(const tk_tokenizer *tok, const tk_engine_sequence *q) {
    if (!tok) return NULL;
    tk_buf b = {0};
    tk_err e = {0};
    if (tk_tokenizer_decode(tok, q->tokens, q->n_tokens, false, &b, &e) || tk_buf_putc(&b, 0)) {
        tk_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static void print_json(const tk_engine_sample_result *r, const tk_tokenizer *tok) {
    json_t *o = json_object(), *seqs = json_array();
    json_object_set_new(o, "type", json_string("sample"));
    for (size_t i = 0; i < r->n_sequences; i++) {
        const tk_engine_sequence *q = &r->sequences[i];
        json_t *s = json_object(), *t = json_array(), *l = json_array();
        for (size_t k = 0; k < q->n_tokens; k++) {
            json_array_append_new(t, json_integer(q->tokens[k]));
            json_array_append_new(l, json_real(q->logprobs[k]));
        }
        json_object_set_new(s, "stop_reason", json_string(q->stop_reason == TK_ENGINE_STOP_STOP ? "stop" : "length"));
        json_object_set_new(s, "tokens", t);
        json_object_set_new(s, "logprobs", l);
        char *text = seq_text(tok, q);
        if (text) json_object_set_new(s, "text", json_string(text));
        free(text);
        json_array_append_new(seqs, s);
    }
    json_object_set_new(o, "sequences", seqs);
    if (r->prompt_logprobs) {
        json_t *p = json_array();
        for (size_t i = 0; i < r->n_prompt; i++) json_array_append_new(p, f32_or_null(r->prompt_logprobs[i]));
        json_object_set_new(o, "prompt_logprobs", p);
    }
    if (r->topk > 0) {
        json_t *p = json_array();
        for (size_t i = 0; i < r->n_prompt; i++) {
            if (i == 0) {
                json_array_append_new(p, json_null());
                continue;
            }
            json_t *row = json_array();
            for (int k = 0; k < r->topk; k++) {
                float lp = r->topk_logprobs[i * (size_t)r->topk + (size_t)k];
                if (lp == TK_ENGINE_TOPK_EMPTY_LOGPROB) break;
                json_t *pair = json_array();
                json_array_append_new(pair, json_integer(r->topk_ids[i * (size_t)r->topk + (size_t)k]));
                json_array_append_new(pair, json_real(lp));
                json_array_append_new(row, pair);
            }
            json_array_append_new(p, row);
        }
        json_object_set_new(o, "topk_prompt_logprobs", p);
    }
    json_object_set_new(o, "prompt_cache_hit_tokens", json_integer(0));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (s) puts(s);
    free(s);
    json_decref(o);
}

static void print_text(const tk_engine_sample_result *r, const tk_tokenizer *tok) {
    for (size_t i = 0; i < r->n_sequences; i++) {
        const tk_engine_sequence *q = &r->sequences[i];
        double sum = 0;
        for (size_t k = 0; k < q->n_tokens; k++) sum += q->logprobs[k];
        printf("sample %zu (%s, %zu tokens, logprob %.3f):", i, q->stop_reason == TK_ENGINE_STOP_STOP ? "stop" : "length",
               q->n_tokens, sum);
        for (size_t k = 0; k < q->n_tokens; k++) printf(" %d", q->tokens[k]);
        putchar('\n');
        char *text = seq_text(tok, q);
        if (text) {
            /* JSON-quoted, so newlines and trailing spaces stay visible */
            json_t *js = json_string(text);
            char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            printf("  text: %s\n", quoted ? quoted : "?");
            free(quoted);
            json_decref(js);
            free(text);
        }
    }
    if (r->prompt_logprobs) {
        printf("prompt logprobs:");
        for (size_t i = 0; i < r->n_prompt; i++) printf(i ? " %.4f" : " -", (double)r->prompt_logprobs[i]);
        putchar('\n');
    }
    for (size_t i = 1; r->topk > 0 && i < r->n_prompt; i++) {
        printf("  position %zu top-%d:", i, r->topk);
        for (int k = 0; k < r->topk; k++) {
            float lp = r->topk_logprobs[i * (size_t)r->topk + (size_t)k];
            if (lp == TK_ENGINE_TOPK_EMPTY_LOGPROB) break;
            printf(" %d:%.4f", r->topk_ids[i * (size_t)r->topk + (size_t)k], (double)lp);
        }
        putchar('\n');
    }
}

int tk_cmd_sample(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *prompt_tokens = NULL, *prompt_text = NULL, *decode = NULL,
               *tok_name = NULL;
    tk_vec_str stop_strs = {0};
    tk_tokenizer *tok = NULL;
    tk_engine_sample_request req;
    memset(&req, 0, sizeof req);
    tk_engine_sampling_params_default(&req.params);
    req.params.max_tokens = 64;
    req.num_samples = 1;
    tk_vec_i32 prompt = {0}, stops = {0};
    bool json = false, no_eos = false;
    double threads = 0;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--prompt-logprobs")) { req.prompt_logprobs = true; continue; }
        if (!strcmp(a, "--no-eos-stop")) { no_eos = true; continue; }
        if (!strcmp(a, "--messages") || !strcmp(a, "--renderer")) {
            fprintf(stderr, "tinkerc sample: %s needs the renderer layer, which this build does not include yet; "
                            "give the prompt as --prompt TEXT or --prompt-tokens\n", a);
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tinkerc sample: %s needs a value\n", a);
            goto out;
        }
        const char *v = argv[++i];
        double d = 0;
        int rc = 0;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--adapter")) adapter = v;
        else if (!strcmp(a, "--prompt-tokens")) prompt_tokens = v;
        else if (!strcmp(a, "--prompt")) prompt_text = v;
        else if (!strcmp(a, "--tokenizer")) tok_name = v;
        else if (!strcmp(a, "--stop")) {
            if (!*v) {
                fprintf(stderr, "tinkerc sample: --stop: empty stop string\n");
                rc = -1;
            } else if (tk_vec_push(&stop_strs, (char *)v)) rc = -1;
        }
        else if (!strcmp(a, "--decode-dtype")) decode = v;
        else if (!strcmp(a, "--max-tokens")) { rc = parse_num(a, v, 1, 1 << 24, &d); req.params.max_tokens = (int32_t)d; }
        else if (!strcmp(a, "--temperature")) rc = parse_num(a, v, 0, 1e6, &req.params.temperature);
        else if (!strcmp(a, "--top-p")) rc = parse_num(a, v, 1e-9, 1, &req.params.top_p);
        else if (!strcmp(a, "--top-k")) { rc = parse_num(a, v, -1, 1 << 24, &d); req.params.top_k = (int32_t)d; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            req.params.seed = strtoull(v, &end, 10);
            req.params.has_seed = true;
            if (errno || *end || !*v || *v == '-') {
                fprintf(stderr, "tinkerc sample: --seed: \"%s\" is not an unsigned integer\n", v);
                rc = -1;
            }
        } else if (!strcmp(a, "--num-samples")) {
            rc = parse_num(a, v, 1, TK_ENGINE_MAX_NUM_SAMPLES, &d);
            req.num_samples = (int32_t)d;
        } else if (!strcmp(a, "--stop-token")) {
            rc = parse_num(a, v, 0, INT32_MAX, &d);
            if (!rc && tk_vec_push(&stops, (int32_t)d)) rc = -1;
        } else if (!strcmp(a, "--topk-prompt-logprobs")) {
            rc = parse_num(a, v, 0, TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS, &d);
            req.topk_prompt_logprobs = (int32_t)d;
        } else if (!strcmp(a, "--threads")) rc = parse_num(a, v, 1, 4096, &threads);
        else {
            fprintf(stderr, "tinkerc sample: unknown option %s\n\n", a);
            usage(stderr);
            goto out;
        }
        if (rc) goto out;
    }
    if (!model || (!prompt_tokens == !prompt_text)) {
        fprintf(stderr, "tinkerc sample: %s\n\n",
                !model ? "--model is required" : "give exactly one of --prompt-tokens and --prompt");
        usage(stderr);
        goto out;
    }
    if (prompt_tokens && parse_ids(prompt_tokens, &prompt)) goto out;
    tk_engine_dtype ddt = TK_ENGINE_F32;
    if (decode && !strcmp(decode, "bf16")) ddt = TK_ENGINE_BF16;
    else if (decode && strcmp(decode, "f32")) {
        fprintf(stderr, "tinkerc sample: --decode-dtype must be f32 or bf16\n");
        goto out;
    }
    status = 1;
    char msg[1024];
    char *dir = tk_cli_find_model_dir(model, msg, sizeof msg);
    if (!dir) {
        fprintf(stderr, "tinkerc sample: %s\n", msg);
        goto out;
    }
    tk_engine_set_num_threads((int)threads);
    tk_err e = {0};
    /* the tokenizer: required for --prompt and --stop, else used (when present) to show text */
    bool need_tok = prompt_text || stop_strs.len;
    char *model_tok = tk_path_join(dir, "tokenizer.json");
    if (tok_name || need_tok || (model_tok && tk_path_exists(model_tok))) {
        int trc = tok_name ? tk_tokenizer_load_by_name(tok_name, &tok, &e) : tk_tokenizer_load(dir, &tok, &e);
        if (trc && need_tok) {
            fprintf(stderr, "tinkerc sample: %s\n", e.msg);
            free(model_tok);
            free(dir);
            goto out;
        }
        if (trc) {
            tk_warn("tinkerc sample: no tokenizer (%s); printing token ids only", e.msg);
            tok = NULL;
        }
        tk_err_clear(&e);
    }
    free(model_tok);
    if (prompt_text) {
        tk_encode_opts eo = {.add_special_tokens = true, .split_special_tokens = false};
        if (tk_tokenizer_encode(tok, prompt_text, strlen(prompt_text), eo, &prompt, &e) || !prompt.len) {
            fprintf(stderr, "tinkerc sample: --prompt: %s\n", prompt.len ? e.msg : "encodes to no tokens");
            free(dir);
            goto out;
        }
    }
    tk_engine_model *m = NULL;
    tk_engine_adapter *ad = NULL;
    tk_engine_sample_result res;
    memset(&res, 0, sizeof res);
    int rc = tk_engine_model_load(dir, &m, &e);
    if (!rc && adapter) rc = tk_engine_checkpoint_load(m, adapter, false, &ad, &e);
    if (!rc) rc = tk_engine_model_set_decode_dtype(m, ddt, &e);
    if (!rc) {
        int32_t eos = tk_engine_model_config(m)->eos_token_id;
        if (eos < 0 && tok) eos = tk_tokenizer_eos_id(tok);
        if (!stops.len && !no_eos && eos >= 0 && tk_vec_push(&stops, eos)) rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
        req.adapter = ad;
        req.prompt = prompt.data;
        req.n_prompt = prompt.len;
        req.params.stop_tokens = stops.data;
        req.params.n_stop_tokens = stops.len;
        req.params.stop_strings = (const char *const *)stop_strs.data;
        req.params.n_stop_strings = stop_strs.len;
        if (stop_strs.len) {
            req.token_bytes = token_bytes;
            req.token_bytes_user = tok;
        }
    }
    if (!rc) rc = tk_engine_sample(m, &req, &res, &e);
    if (rc) {
        fprintf(stderr, "tinkerc sample: %s\n", e.msg);
    } else {
        if (json) print_json(&res, tok);
        else print_text(&res, tok);
        status = 0;
    }
    tk_engine_sample_result_free(&res);
    tk_engine_adapter_free(ad);
    tk_engine_model_free(m);
    free(dir);
out:
    tk_tokenizer_free(tok);
    tk_vec_free(&prompt);
    tk_vec_free(&stops);
    tk_vec_free(&stop_strs);
    return status;
}
