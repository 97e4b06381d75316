/* sl_loop — the smallest supervised fine-tuning loop, after the cookbook's sl_loop.py.
 *
 *   build/examples/sl_loop model=Qwen/Qwen3-0.6B data=examples/data/conversations.jsonl \
 *                          steps=20 batch=8 lr=1e-4 rank=32
 *
 * It talks to the hosted Tinker service when TINKER_API_KEY is set, to any Tinker server named
 * by TINKER_BASE_URL, and otherwise starts the local engine in this process. Each step renders a
 * batch of conversations into tokens and per-token weights (train on the assistant's last
 * message), sends forward_backward and optim_step together (pipelined), and prints the mean
 * negative log-likelihood of the trained tokens. The learning rate decays linearly to zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/client.h"
#include "tinkerc/local.h"
#include "tinkerc/renderers.h"
#include "tinkerc/tokenizer.h"

static int die(const char *what, const tk_err *e) {
    fprintf(stderr, "sl_loop: %s: %s\n", what, e->msg);
    exit(1);
}

/* key=value arguments, as the cookbook's recipes take them */
static const char *arg(int argc, char **argv, const char *key, const char *dflt) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, n) && argv[i][n] == '=') return argv[i] + n + 1;
    return dflt;
}

/* Every line of a JSONL file holds one conversation {"messages": [...]}. */
static tk_conversation *load_conversations(const char *path, size_t *n) {
    tk_err e = {0};
    tk_buf text = {0};
    if (tk_file_read(path, &text, 0, &e)) die(path, &e);
    tk_conversation *convs = NULL;
    *n = 0;
    char *line = text.data, *end;
    for (int lineno = 1; line && *line; line = end ? end + 1 : NULL, lineno++) {
        end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len == 0) continue;
        convs = realloc(convs, (*n + 1) * sizeof *convs);
        memset(&convs[*n], 0, sizeof *convs);
        char where[300];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (tk_conversation_parse(line, len, where, &convs[(*n)++], &e)) die("dataset", &e);
    }
    tk_buf_free(&text);
    return convs;
}

int main(int argc, char **argv) {
    const char *model = arg(argc, argv, "model", "Qwen/Qwen3-0.6B");
    const char *data = arg(argc, argv, "data", "examples/data/conversations.jsonl");
    int steps = atoi(arg(argc, argv, "steps", "20"));
    int batch = atoi(arg(argc, argv, "batch", "8"));
    double lr = atof(arg(argc, argv, "lr", "1e-4"));
    int64_t max_length = atoll(arg(argc, argv, "max_length", "32768"));
    tk_err e = {0};

    /* 1. Connect: hosted service, a server, or the local engine. */
    if (tk_local_register(NULL, &e)) die("local mode", &e);
    tk_client_service *svc = NULL;
    if (tk_client_service_open(NULL, &svc, &e)) die("connecting", &e);

    /* 2. A LoRA training client on the base model. */
    tk_wire_lora_config lora;
    tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lora);
    lora.rank = atoi(arg(argc, argv, "rank", "32"));
    tk_client_task *task = NULL;
    tk_client_training *tc = NULL;
    if (tk_client_service_create_lora_training_client(svc, model, &lora, NULL, &task, &e) ||
        tk_client_training_result(task, -1, &tc, &e))
        die("create_lora_training_client", &e);
    tk_client_task_release(task);
    printf("training %s as %s\n", model, tk_client_training_model_id(tc));

    /* 3. The tokenizer and the chat format (renderer) of the model. */
    tk_tokenizer *tok = NULL;
    if (tk_client_training_get_tokenizer(tc, -1, &tok, &e)) die("get_tokenizer", &e);
    const char *rname = arg(argc, argv, "renderer", NULL);
    if (!rname && tk_renderer_for_model(model, &rname, &e)) rname = "role_colon";
    tk_renderer *renderer = NULL;
    if (tk_renderer_new(rname, tok, NULL, &renderer, &e)) die("renderer", &e);

    size_t n_convs = 0;
    tk_conversation *convs = load_conversations(data, &n_convs);
    printf("%zu conversations from %s, renderer %s\n", n_convs, data, rname);

    /* 4. The loop. */
    tk_arena *arena = tk_arena_new(0);
    tk_wire_datum *datums = calloc((size_t)batch, sizeof *datums);
    for (int step = 0; step < steps; step++) {
        double weight_sum = 0;
        for (int i = 0; i < batch; i++) {
            const tk_conversation *c = &convs[((size_t)step * batch + i) % n_convs];
            /* tokens + per-token weights: 1 on the last assistant message, 0 elsewhere */
            tk_vec_i32 tokens = {0};
            tk_vec_f32 weights = {0};
            if (tk_renderer_build_supervised_example(renderer, c->messages, c->n_messages,
                                                     TK_TRAIN_LAST_ASSISTANT_MESSAGE, &tokens,
                                                     &weights, &e))
                die("render", &e);
            /* the datum: input = tokens[:-1], target_tokens = tokens[1:], weights shifted too */
            int32_t *copy = tk_arena_alloc(arena, tokens.len * sizeof *copy);
            memcpy(copy, tokens.data, tokens.len * sizeof *copy);
            tk_wire_chunk *chunk = tk_arena_zalloc(arena, sizeof *chunk);
            *chunk = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = copy,
                                     .n_tokens = tokens.len};
            tk_wire_model_input mi = {chunk, 1};
            if (tk_wire_datum_from_model_input_weights(&mi, weights.data, weights.len, max_length,
                                                       TK_WIRE_REDUCTION_NONE, arena, &datums[i],
                                                       &e))
                die("datum", &e);
            const tk_wire_tensor *w = tk_wire_tensor_map_get(&datums[i].loss_fn_inputs, "weights");
            for (size_t k = 0; k < w->n; k++) weight_sum += w->data.f32[k];
            tk_vec_free(&tokens);
            tk_vec_free(&weights);
        }

        /* forward_backward and optim_step go out together; then we wait for both */
        tk_wire_adam_params adam;
        tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &adam);
        adam.learning_rate = lr * (1.0 - (double)step / steps);
        tk_client_task *fb = NULL, *opt = NULL;
        if (tk_client_training_forward_backward(tc, datums, (size_t)batch,
                                                TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &fb, &e) ||
            tk_client_training_optim_step(tc, &adam, &opt, &e))
            die("submit", &e);
        tk_wire_forward_backward_output out;
        if (tk_client_fb_result(fb, -1, arena, &out, &e) || tk_client_task_wait(opt, -1, &e))
            die("step", &e);
        const double *loss = tk_wire_f64_map_get(&out.metrics, "loss:sum");
        printf("step %3d  lr %.2e  nll %.4f  (%.0f trained tokens)\n", step, adam.learning_rate,
               loss && weight_sum > 0 ? *loss / weight_sum : 0.0, weight_sum);
        tk_client_task_release(fb);
        tk_client_task_release(opt);
        tk_arena_reset(arena);
    }

    /* 5. Save the weights and optimizer state; tinker://… names them for later runs. */
    tk_wire_save_weights_response saved;
    if (tk_client_training_save_state(tc, "final", 0, &task, &e) ||
        tk_client_save_result(task, -1, arena, &saved, &e))
        die("save_state", &e);
    printf("saved %s\n", saved.path);
    tk_client_task_release(task);

    tk_arena_free(arena);
    free(datums);
    for (size_t i = 0; i < n_convs; i++) tk_conversation_free(&convs[i]);
    free(convs);
    tk_renderer_free(renderer);
    tk_tokenizer_free(tok);
    tk_client_training_free(tc);
    tk_client_service_close(svc);
    return 0;
}
