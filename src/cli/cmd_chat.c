/* tinkerc chat: talk to saved sampler weights through their renderer, turn by turn. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinkerc/cookbook.h"

int tk_cmd_chat(int argc, char **argv);

typedef struct chat_config {
    char *log_path;
    char *sampler_path;
    char *model_name;
    char *renderer_name;
    char *system;
    char *message;
    int64_t max_tokens;
    double temperature;
    int64_t seed;
    char *base_url;
} chat_config;

#define F(x) offsetof(chat_config, x)
#define OPT(n, t, f, d, h, ...) {.name = n, .type = t, .offset = F(f), .def = d, .help = h, __VA_ARGS__}
static const tk_opt k_opts[] = {
    OPT("log_path", TK_OPT_STRING, log_path, NULL, "a run: its last sampler checkpoint, model and renderer", .nullable = true),
    OPT("sampler_path", TK_OPT_STRING, sampler_path, NULL, "tinker://.../sampler_weights/... (instead of log_path)", .nullable = true),
    OPT("model_name", TK_OPT_STRING, model_name, NULL, "base model, for the default renderer (default: the sampler's)", .nullable = true),
    OPT("renderer_name", TK_OPT_STRING, renderer_name, NULL, "chat format (default: the run's, else the model's)", .nullable = true),
    OPT("system", TK_OPT_STRING, system, NULL, "a system prompt", .nullable = true),
    OPT("message", TK_OPT_STRING, message, NULL, "answer this one user message and exit (no prompt loop)", .nullable = true),
    OPT("max_tokens", TK_OPT_INT, max_tokens, "256", "tokens per answer at most"),
    OPT("temperature", TK_OPT_FLOAT, temperature, "0.7", "sampling temperature (0: greedy)"),
    OPT("seed", TK_OPT_INT, seed, NULL, "sampling seed (same seed, same answers)", .nullable = true),
    OPT("base_url", TK_OPT_STRING, base_url, NULL, "service URL (default: the run's, else as tinkerc sl)", .nullable = true),
    {.name = NULL},
};

static void usage(FILE *out) {
    fprintf(out, "usage: tinkerc chat (log_path=DIR | sampler_path=tinker://...) [key=value ...]\n\n"
                 "Talks to saved sampler weights through the model's renderer. Type a message and press Enter;\n"
                 "/reset starts over, /quit (or end of input) leaves. message=TEXT answers once and exits.\n\n");
    tk_opts_usage(k_opts, out);
}

static char *dup_json_str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? tk_strdup(s) : NULL;
}

/* log_path: fill what the user did not give from config.json and the last sampler record. */
static int from_run(chat_config *c, tk_err *e) {
    json_t *rec = NULL, *cfg = NULL;
    int rc = tk_runlog_last_checkpoint(c->log_path, "sampler_path", &rec, e);
    if (!rc && !rec) rc = tk_err_set(e, TK_ENOTFOUND, "%s: no checkpoint with sampler weights in checkpoints.jsonl", c->log_path);
    char *cfgp = tk_path_join(c->log_path, "config.json");
    if (!rc && cfgp && tk_path_exists(cfgp)) rc = tk_json_load_file(cfgp, &cfg, e);
    if (!rc) {
        if (!c->sampler_path) c->sampler_path = dup_json_str(rec, "sampler_path");
        if (!c->model_name) c->model_name = dup_json_str(cfg, "model_name");
        if (!c->renderer_name) c->renderer_name = dup_json_str(cfg, "renderer_name");
        if (!c->base_url) c->base_url = dup_json_str(cfg, "base_url");
    }
    free(cfgp);
    json_decref(rec);
    json_decref(cfg);
    return rc;
}

static int resolve_renderer_name(tk_client_service *svc, const char *sampler_id, chat_config *c, tk_err *e) {
    if (c->renderer_name) return 0;
    char *base = c->model_name ? tk_strdup(c->model_name) : NULL;
    if (!base) {   /* the sampler's base model */
        tk_client_task *t = NULL;
        tk_arena *a = tk_arena_new(0);
        tk_wire_sampler_response sr;
        int rc = tk_client_rest_get_sampler(svc, sampler_id, &t, e);
        if (!rc) rc = tk_client_task_result(t, -1, a, TK_WIRE_MSG_SAMPLER_RESPONSE, &sr, e);
        if (!rc && sr.base_model) base = tk_strdup(sr.base_model);
        tk_client_task_release(t);
        tk_arena_free(a);
        if (rc) return rc;
        if (!base) return tk_err_set(e, TK_ENOTFOUND, "the sampler does not name its base model; pass renderer_name=...");
    }
    tk_model_ref m;
    const char *name = NULL;
    int rc = tk_model_ref_resolve(base, &m, e);
    if (!rc) rc = tk_model_ref_default_renderer(&m, &name, e);
    if (!rc && !(c->renderer_name = tk_strdup(name))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) tk_model_ref_free(&m);
    free(base);
    return rc;
}

/* One assistant turn for the conversation so far; the answer is appended to it and printed. */
static int answer(tk_client_sampling *s, const tk_renderer *r, tk_conversation *conv, const chat_config *c, int turn,
                  tk_err *e) {
    tk_completer_params p = {.max_tokens = c->max_tokens, .temperature = c->temperature,
                             .has_seed = c->seed != TK_OPT_UNSET_INT, .seed = c->seed + turn};
    tk_parsed_response resp;
    int rc = tk_complete_message(s, r, conv->messages, conv->n_messages, &p, &resp, NULL, e);
    if (rc) return rc;
    tk_buf text = {0};
    if (tk_message_text(&resp.message, &text)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) {
        printf("%s%s\n", text.data ? text.data : "",
               resp.termination == TK_PARSE_MALFORMED ? " [no end of turn: max_tokens reached]" : "");
        fflush(stdout);
        rc = tk_conversation_append(conv, &resp.message, e);
    }
    tk_buf_free(&text);
    tk_parsed_response_free(&resp);
    return rc;
}

static int run_chat(chat_config *c, tk_err *e) {
    if (c->log_path && from_run(c, e)) return e->code;
    if (!c->sampler_path) return tk_err_set(e, TK_EINVAL, "pass log_path=DIR (a run) or sampler_path=tinker://...");
    tk_client_service_options so;
    tk_client_service_options_init(&so);
    so.client.base_url = c->base_url;
    tk_client_service *svc = NULL;
    tk_client_sampling *s = NULL;
    tk_tokenizer *tok = NULL;
    tk_renderer *r = NULL;
    tk_client_task *t = NULL;
    tk_conversation conv = {0};
    int rc = tk_client_service_open(&so, &svc, e);
    if (rc) tk_err_prefix(e, "connecting to the Tinker service: ");
    if (!rc && (rc = tk_client_service_create_sampling_client(svc, c->sampler_path, NULL, &t, e)) == 0)
        rc = tk_client_sampling_result(t, -1, &s, e);
    if (rc && svc) tk_err_prefix(e, "%s: ", c->sampler_path);
    if (!rc) rc = tk_client_sampling_get_tokenizer(s, 120, &tok, e);
    if (!rc) rc = resolve_renderer_name(svc, tk_client_sampling_session_id(s), c, e);
    if (!rc && (rc = tk_renderer_new(c->renderer_name, tok, NULL, &r, e))) tk_err_prefix(e, "renderer_name=%s: ", c->renderer_name);
    if (!rc && c->system) rc = tk_conversation_append(&conv, &(tk_message){.role = "system", .content = c->system}, e);
    size_t base_len = conv.n_messages;
    if (!rc && c->message) {
        rc = tk_conversation_append(&conv, &(tk_message){.role = "user", .content = c->message}, e);
        if (!rc) rc = answer(s, r, &conv, c, 0, e);
    } else if (!rc) {
        bool tty = isatty(STDIN_FILENO);
        if (tty) fprintf(stderr, "chatting with %s (renderer %s); /reset starts over, /quit leaves\n", c->sampler_path,
                         c->renderer_name);
        char line[16384];
        for (int turn = 0; !rc; turn++) {
            if (tty) fprintf(stderr, "> ");
            if (!fgets(line, sizeof line, stdin)) break;
            line[strcspn(line, "\r\n")] = 0;
            if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
            if (!strcmp(line, "/reset")) {
                while (conv.n_messages > base_len) conv.n_messages--;   /* strings stay in the arena */
                continue;
            }
            if (!*line) continue;
            rc = tk_conversation_append(&conv, &(tk_message){.role = "user", .content = line}, e);
            if (!rc) rc = answer(s, r, &conv, c, turn, e);
        }
    }
    tk_conversation_free(&conv);
    tk_client_task_release(t);
    tk_renderer_free(r);
    tk_tokenizer_free(tok);
    tk_client_sampling_free(s);
    tk_client_service_close(svc);
    return rc;
}

int tk_cmd_chat(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    chat_config c;
    memset(&c, 0, sizeof c);
    tk_err e = {0};
    if (tk_opts_defaults(k_opts, &c, &e) || tk_opts_parse_args(k_opts, &c, argc - 1, argv + 1, &e)) {
        fprintf(stderr, "tinkerc chat: %s\n", e.msg);
        tk_opts_free(k_opts, &c);
        return 2;
    }
    /* the embedded server's start-up chatter is not part of a conversation */
    if (!getenv("TINKERC_LOG")) tk_log_set_level(TK_LOG_WARN);
    int rc = run_chat(&c, &e);
    tk_opts_free(k_opts, &c);
    if (rc) {
        fprintf(stderr, "tinkerc chat: %s\n", e.msg);
        return 1;
    }
    return 0;
}
