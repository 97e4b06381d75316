/* tinkerc render: show what a renderer makes of a conversation — the text with its trained
 * spans marked and the token count, or the token ids and weights as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinkerc/base.h"
#include "tinkerc/renderers.h"
#ifdef TK_RENDERERS_HAVE_TOKENIZER
#include "tinkerc/tokenizer.h"
#endif

int tk_cmd_render(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc render [--renderer NAME] --tokenizer NAME_OR_PATH\n"
            "                      [--mode generation|supervised] [--train-on WHAT] [--json]\n"
            "                      [--date YYYY-MM-DD] [--keep-thinking] FILE\n"
            "\n"
            "FILE holds {\"messages\": [...], \"tools\": [...]} in the cookbook's message format ('-' reads\n"
            "stdin). Tools, when given, are declared the renderer's own way, with the first system\n"
            "message as the system prompt.\n"
            "\n"
            "  --renderer NAME     a renderer (role_colon, llama3, qwen3, deepseekv3, gpt_oss_*, ...);\n"
            "                      default: the one the cookbook recommends for the --tokenizer model\n"
            "                      (llama3, qwen3, deepseekv3, gpt_oss_no_sysprompt for the families)\n"
            "  --tokenizer X       a tokenizer.json, a directory holding one, a family under\n"
            "                      .cache/tokenizers/ (llama3, qwen3, deepseek_v3, gptoss), or a model name\n"
            "  --mode M            supervised (default): training tokens and weights of the whole\n"
            "                      conversation; generation: the prompt for the next assistant turn\n"
            "  --train-on WHAT     last_assistant_message (default), last_assistant_turn,\n"
            "                      all_assistant_messages, all_messages, all_tokens,\n"
            "                      all_user_and_system_messages, customized\n"
            "  --json              print {\"tokens\": [...], \"weights\": [...]} (weights in supervised mode)\n"
            "  --date D            the date in gpt-oss's system prompt (default: today)\n"
            "  --keep-thinking     keep the reasoning of earlier turns (renderers that strip it)\n"
            "\n"
            "Without --json the rendered text is printed with trained tokens highlighted (green on a\n"
            "terminal, between \xe2\x9f\xa6 and \xe2\x9f\xa7 otherwise), then the token count.\n");
}

#ifdef TK_RENDERERS_HAVE_TOKENIZER

static int load_tokenizer(const char *arg, tk_tokenizer **out, tk_err *e) {
    if (tk_path_exists(arg)) return tk_tokenizer_load(arg, out, e);
    if (!strchr(arg, '/')) {
        char *p = tk_path_join(".cache/tokenizers", arg);
        int rc = p && tk_path_exists(p) ? tk_tokenizer_load(p, out, e) : 1;
        free(p);
        if (rc != 1) return rc;
    }
    int rc = tk_tokenizer_load_by_name(arg, out, e);
    if (rc && !strchr(arg, '/')) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        tk_err_set(e, rc, "%s (a family name such as qwen3 is looked up in .cache/tokenizers/ under the "
                          "current directory: run from the repository root)", msg);
    }
    return rc;
}

/* With no --renderer and a family name under .cache/tokenizers/, the renderer the cookbook
 * recommends for the model that tokenizer belongs to; NULL for anything else. */
static const char *family_renderer(const char *tokenizer) {
    static const char *const FAMILY[][2] = {{"llama3", "llama3"},
                                            {"qwen3", "qwen3"},
                                            {"deepseek_v3", "deepseekv3"},
                                            {"gptoss", "gpt_oss_no_sysprompt"}};
    for (size_t i = 0; i < sizeof FAMILY / sizeof FAMILY[0]; i++)
        if (!strcmp(tokenizer, FAMILY[i][0])) return FAMILY[i][1];
    return NULL;
}

/* The messages to render: the tool declarations first when FILE has tools. */
static int with_tools(const tk_renderer *r, const tk_conversation *in, tk_conversation *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    size_t from = 0;
    int rc = 0;
    if (in->n_tools) {
        const char *sp = NULL;
        if (in->n_messages && !strcmp(in->messages[0].role, "system")) {
            sp = in->messages[0].content_is_list ? NULL : in->messages[0].content;
            from = sp ? 1 : 0;
        }
        rc = tk_renderer_tool_prefix(r, in->tools, in->n_tools, sp, out, e);
    }
    for (size_t i = from; !rc && i < in->n_messages; i++) rc = tk_conversation_append(out, &in->messages[i], e);
    return rc;
}

static void print_json(const tk_vec_i32 *t, const tk_vec_f32 *w) {
    printf("{\"tokens\": [");
    for (size_t i = 0; i < t->len; i++) printf("%s%d", i ? ", " : "", (int)t->data[i]);
    printf("]");
    if (w) {
        printf(", \"weights\": [");
        for (size_t i = 0; i < w->len; i++) printf("%s%g", i ? ", " : "", (double)w->data[i]);
        printf("]");
    }
    printf("}\n");
}

/* Decode token by token so the marks fall on token boundaries. */
static int print_text(const tk_tokenizer *tok, const tk_vec_i32 *t, const tk_vec_f32 *w, bool color,
                      tk_err *e) {
    tk_buf out = {0};
    tk_stream_decoder *d = tk_stream_decoder_new(tok, false);
    if (!d) return tk_err_set(e, TK_ENOMEM, "out of memory");
    const char *on = color ? "\x1b[32m" : "\xe2\x9f\xa6", *off = color ? "\x1b[0m" : "\xe2\x9f\xa7";
    bool in = false;
    size_t trained = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i <= t->len; i++) {
        bool want = i < t->len && w && w->data[i] > 0;
        if (want != in) {
            rc = tk_buf_puts(&out, want ? on : off);
            in = want;
        }
        if (!rc && i < t->len) rc = tk_stream_decoder_push(d, &t->data[i], 1, &out, e);
        trained += want;
    }
    if (!rc) rc = tk_stream_decoder_finish(d, &out, e);
    tk_stream_decoder_free(d);
    if (!rc) {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        if (w)
            printf("\n\n%zu tokens, %zu trained\n", t->len, trained);
        else
            printf("\n\n%zu tokens\n", t->len);
    }
    tk_buf_free(&out);
    return rc;
}

int tk_cmd_render(int argc, char **argv) {
    const char *renderer = NULL, *tokenizer = NULL, *mode = "supervised", *train_on = NULL, *file = NULL;
    const char *date = NULL;
    bool json = false, keep = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--renderer")    ? &renderer
                            : !strcmp(a, "--tokenizer") ? &tokenizer
                            : !strcmp(a, "--mode")      ? &mode
                            : !strcmp(a, "--train-on")  ? &train_on
                            : !strcmp(a, "--date")      ? &date
                                                        : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tinkerc render: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--keep-thinking")) {
            keep = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tinkerc render: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (file) {
            fprintf(stderr, "tinkerc render: one FILE only (got %s and %s)\n", file, a);
            return 2;
        } else {
            file = a;
        }
    }
    if (!tokenizer || !file) {
        usage(stderr);
        return 2;
    }
    bool supervised = !strcmp(mode, "supervised");
    if (!supervised && strcmp(mode, "generation")) {
        fprintf(stderr, "tinkerc render: --mode must be generation or supervised, not \"%s\"\n", mode);
        return 2;
    }
    tk_err e = {0};
    tk_train_on_what what = TK_TRAIN_LAST_ASSISTANT_MESSAGE;
    if (train_on && tk_train_on_what_parse(train_on, &what, &e)) {
        fprintf(stderr, "tinkerc render: --train-on: %s\n", e.msg);
        return 2;
    }
    if (train_on && !supervised) {
        fprintf(stderr, "tinkerc render: --train-on applies to --mode supervised\n");
        return 2;
    }
    if (!renderer) renderer = family_renderer(tokenizer);
    if (!renderer && tk_renderer_for_model(tokenizer, &renderer, &e)) {
        fprintf(stderr, "tinkerc render: no --renderer given and %s; pass --renderer NAME\n", e.msg);
        return 2;
    }

    int status = 1;
    tk_buf text = {0};
    tk_conversation conv = {0}, msgs = {0};
    tk_tokenizer *tok = NULL;
    tk_renderer *r = NULL;
    tk_vec_i32 tokens = {0};
    tk_vec_f32 weights = {0};
    int rc = !strcmp(file, "-") ? 0 : tk_file_read(file, &text, 0, &e);
    if (!rc && !strcmp(file, "-")) {
        char chunk[65536];
        size_t n;
        while (!rc && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0) rc = tk_buf_append(&text, chunk, n);
    }
    if (!rc) rc = tk_conversation_parse(text.data ? text.data : "", text.len, file, &conv, &e);
    if (!rc) rc = load_tokenizer(tokenizer, &tok, &e);
    tk_renderer_opts opts = {.current_date = date, .keep_thinking_in_history = keep ? 1 : 0};
    if (!rc) rc = tk_renderer_new(renderer, tok, &opts, &r, &e);
    if (!rc) rc = with_tools(r, &conv, &msgs, &e);
    if (!rc)
        rc = supervised ? tk_renderer_build_supervised_example(r, msgs.messages, msgs.n_messages, what, &tokens, &weights, &e)
                        : tk_renderer_build_generation_prompt(r, msgs.messages, msgs.n_messages, NULL, NULL, &tokens, &e);
    if (!rc) {
        if (json)
            print_json(&tokens, supervised ? &weights : NULL);
        else
            rc = print_text(tok, &tokens, supervised ? &weights : NULL, isatty(STDOUT_FILENO), &e);
    }
    if (rc)
        fprintf(stderr, "tinkerc render: %s\n", e.msg[0] ? e.msg : tk_strerror(rc));
    else
        status = 0;
    tk_vec_free(&tokens);
    tk_vec_free(&weights);
    tk_renderer_free(r);
    tk_tokenizer_free(tok);
    tk_conversation_free(&msgs);
    tk_conversation_free(&conv);
    tk_buf_free(&text);
    return status;
}

#else /* built without the tokenizer layer */

int tk_cmd_render(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "tinkerc render: this build has no tokenizer layer (src/tokenizer), which rendering needs\n");
    return 1;
}

#endif
