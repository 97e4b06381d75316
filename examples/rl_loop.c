/* rl_loop — the smallest reinforcement-learning loop (GRPO-style), after the cookbook's
 * rl_loop.py:  build/examples/rl_loop model=Qwen/Qwen3-0.6B steps=10 batch=8 group=8 lr=4e-5
 *
 * Each step samples `group` answers to each of `batch` questions from the current weights,
 * rewards an answer 1 when its \boxed{…} holds the right number, centres the rewards within each
 * group (advantage = reward - group mean) and trains on the sampled tokens with the
 * importance_sampling loss. Connects like sl_loop (TINKER_API_KEY, TINKER_BASE_URL, or local). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/client.h"
#include "tinkerc/local.h"
#include "tinkerc/renderers.h"
#include "tinkerc/tokenizer.h"

static int die(const char *what, const tk_err *e) {
    fprintf(stderr, "rl_loop: %s: %s\n", what, e->msg);
    exit(1);
}

static const char *arg(int argc, char **argv, const char *key, const char *dflt) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, n) && argv[i][n] == '=') return argv[i] + n + 1;
    return dflt;
}

/* One problem: the question, and the number after "####" in its worked answer. */
typedef struct problem { char *question, *answer; } problem;

static problem *load_problems(const char *path, size_t *n) {
    tk_err e = {0};
    tk_buf text = {0};
    if (tk_file_read(path, &text, 0, &e)) die(path, &e);
    problem *ps = calloc(text.len / 2 + 1, sizeof *ps);   /* more than the number of lines */
    *n = 0;
    for (char *line = strtok(text.data, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        const char *q = json_string_value(json_object_get(j, "question"));
        const char *a = json_string_value(json_object_get(j, "answer"));
        if (q && a && strstr(a, "####"))
            ps[(*n)++] = (problem){tk_strdup(q), tk_strdup(strstr(a, "####") + 5)};
        json_decref(j);
    }
    tk_buf_free(&text);
    return ps;
}

/* Reward: 1 when the response's last \boxed{…} holds exactly the answer. */
static double reward(const char *response, const char *answer) {
    const char *b = NULL;
    for (const char *p = strstr(response, "\\boxed{"); p; p = strstr(p + 1, "\\boxed{")) b = p;
    size_t n = strlen(answer);
    return b && !strncmp(b + 7, answer, n) && b[7 + n] == '}';
}

/* One training datum from a sampled answer: input = prompt + sampled[:-1], and the targets,
 * the sampler's logprobs and the advantage are 0 on the prompt positions, so only the sampled
 * tokens are trained (importance_sampling's inputs: target_tokens, logprobs, advantages). */
static tk_wire_datum rl_datum(tk_arena *a, const tk_vec_i32 *prompt,
                              const tk_wire_sampled_sequence *seq, float advantage) {
    size_t np = prompt->len, n = np + seq->n_tokens - 1;
    int32_t *in = tk_arena_alloc(a, n * sizeof *in);
    int64_t *tgt = tk_arena_zalloc(a, n * sizeof *tgt);
    float *lp = tk_arena_zalloc(a, n * sizeof *lp), *adv = tk_arena_zalloc(a, n * sizeof *adv);
    memcpy(in, prompt->data, np * sizeof *in);
    memcpy(in + np, seq->tokens, (seq->n_tokens - 1) * sizeof *in);
    for (size_t k = 0; k < seq->n_tokens; k++) {
        tgt[np - 1 + k] = seq->tokens[k];
        lp[np - 1 + k] = seq->has_logprobs ? seq->logprobs[k] : 0.0f;
        adv[np - 1 + k] = advantage;
    }
    tk_wire_chunk *c = tk_arena_zalloc(a, sizeof *c);
    *c = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = in, .n_tokens = n};
    tk_wire_named_tensor *inputs = tk_arena_alloc(a, 3 * sizeof *inputs);
    inputs[0] = (tk_wire_named_tensor){"target_tokens", tk_wire_tensor_view_i64(tgt, n)};
    inputs[1] = (tk_wire_named_tensor){"logprobs", tk_wire_tensor_view_f32(lp, n)};
    inputs[2] = (tk_wire_named_tensor){"advantages", tk_wire_tensor_view_f32(adv, n)};
    return (tk_wire_datum){{c, 1}, {inputs, 3}};
}

int main(int argc, char **argv) {
    const char *model = arg(argc, argv, "model", "Qwen/Qwen3-0.6B");
    const char *dataset = arg(argc, argv, "data", "examples/data/gsm8k_style.jsonl");
    int steps = atoi(arg(argc, argv, "steps", "10")), batch = atoi(arg(argc, argv, "batch", "8"));
    int group = atoi(arg(argc, argv, "group", "8"));   /* answers sampled per question */
    tk_err e = {0};

    if (tk_local_register(NULL, &e)) die("local mode", &e);
    tk_client_service *svc = NULL;
    if (tk_client_service_open(NULL, &svc, &e)) die("connecting", &e);
    tk_client_task *task = NULL;
    tk_client_training *tc = NULL;   /* LoRA defaults: rank 32, every module trained */
    if (tk_client_service_create_lora_training_client(svc, model, NULL, NULL, &task, &e) ||
        tk_client_training_result(task, -1, &tc, &e))
        die("create_lora_training_client", &e);
    tk_client_task_release(task);
    tk_tokenizer *tok = NULL;
    if (tk_client_training_get_tokenizer(tc, -1, &tok, &e)) die("get_tokenizer", &e);
    const char *rname = arg(argc, argv, "renderer", NULL);
    if (!rname && tk_renderer_for_model(model, &rname, &e)) rname = "role_colon";
    tk_renderer *renderer = NULL;
    if (tk_renderer_new(rname, tok, NULL, &renderer, &e)) die("renderer", &e);
    size_t n_problems = 0;
    problem *problems = load_problems(dataset, &n_problems);

    /* the sampler stops where the chat format ends an assistant turn */
    tk_stop_sequences stop;
    tk_renderer_stop_sequences(renderer, &stop);
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    sp.has_max_tokens = true, sp.max_tokens = atoi(arg(argc, argv, "max_tokens", "256"));
    sp.stop_kind = stop.n_tokens ? TK_WIRE_STOP_TOKENS : TK_WIRE_STOP_STRINGS;   /* role_colon */
    sp.stop_tokens = (int32_t *)stop.tokens, sp.n_stop_tokens = stop.n_tokens;
    sp.stop_strings = (char **)stop.strings, sp.n_stop_strings = stop.n_strings;

    tk_arena *arena = tk_arena_new(0);
    for (int step = 0; step < steps; step++) {
        /* 1. A sampler on the current weights; one sample call per question, `group` answers. */
        tk_client_sampling *sampler = NULL;   /* the server saves the weights for sampling */
        if (tk_client_training_save_weights_and_get_sampling_client(tc, &task, &e) ||
            tk_client_sampling_result(task, -1, &sampler, &e))
            die("sampler", &e);
        tk_client_task_release(task);
        tk_vec_i32 *prompts = calloc((size_t)batch, sizeof *prompts);   /* token ids */
        tk_client_task **samples = calloc((size_t)batch, sizeof *samples);
        for (int q = 0; q < batch; q++) {
            const problem *p = &problems[((size_t)step * batch + q) % n_problems];
            char text[1200];
            snprintf(text, sizeof text, "%s Provide a numerical answer without units, written "
                     "inside \\boxed{}.", p->question);
            tk_message msg = {.role = "user", .content = text};
            if (tk_renderer_build_generation_prompt(renderer, &msg, 1, NULL, NULL, &prompts[q], &e))
                die("prompt", &e);
            tk_wire_chunk chunk = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = prompts[q].data,
                                   .n_tokens = prompts[q].len};
            tk_wire_model_input mi = {&chunk, 1};
            if (tk_client_sampling_sample(sampler, &mi, group, &sp, false, 0, &samples[q], &e))
                die("sample", &e);
        }

        /* 2. Rewards, advantages centred per group, and one datum per sampled answer. */
        TK_VEC(tk_wire_datum) data = {0};
        double reward_sum = 0;
        for (int q = 0; q < batch; q++) {
            const problem *p = &problems[((size_t)step * batch + q) % n_problems];
            tk_wire_sample_response r;
            if (tk_client_sample_result(samples[q], -1, arena, &r, &e)) die("sample", &e);
            double *rew = tk_arena_alloc(arena, r.n_sequences * sizeof *rew), mean = 0;
            for (size_t s = 0; s < r.n_sequences; s++) {   /* sampled ids -> message -> text */
                tk_parsed_response parsed;
                tk_buf text = {0};
                if (!tk_renderer_parse_response(renderer, r.sequences[s].tokens,
                                                r.sequences[s].n_tokens, &parsed, &e)) {
                    if (tk_message_text(&parsed.message, &text)) {}
                    tk_parsed_response_free(&parsed);
                }
                rew[s] = reward(text.data ? text.data : "", p->answer);
                mean += rew[s] / (double)r.n_sequences;
                tk_buf_free(&text);
            }
            reward_sum += mean;
            for (size_t s = 0; s < r.n_sequences; s++) {
                const tk_wire_sampled_sequence *seq = &r.sequences[s];
                if (rew[s] == mean || seq->n_tokens == 0) continue;   /* no signal */
                tk_wire_datum d = rl_datum(arena, &prompts[q], seq, (float)(rew[s] - mean));
                if (tk_vec_push(&data, d)) die("out of memory", &e);
            }
            tk_client_task_release(samples[q]);
            tk_vec_free(&prompts[q]);
        }
        free(prompts), free(samples), tk_client_sampling_free(sampler);

        /* 3. Train on what carried signal: importance_sampling, then the optimizer step. */
        printf("step %3d  mean reward %.3f  datums %zu\n", step, reward_sum / batch, data.len);
        if (data.len > 0) {
            tk_wire_adam_params adam;
            tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &adam);
            adam.learning_rate = atof(arg(argc, argv, "lr", "4e-5"));
            tk_client_task *fb = NULL, *opt = NULL;
            if (tk_client_training_forward_backward(tc, data.data, data.len,
                                                    TK_WIRE_LOSS_IMPORTANCE_SAMPLING, NULL, &fb,
                                                    &e) ||
                tk_client_training_optim_step(tc, &adam, &opt, &e) ||
                tk_client_task_wait(fb, -1, &e) || tk_client_task_wait(opt, -1, &e))
                die("train", &e);
            tk_client_task_release(fb), tk_client_task_release(opt);
        }
        tk_vec_free(&data);
        tk_arena_reset(arena);
    }

    for (size_t i = 0; i < n_problems; i++) free(problems[i].question), free(problems[i].answer);
    free(problems), tk_arena_free(arena), tk_renderer_free(renderer), tk_tokenizer_free(tok);
    tk_client_training_free(tc), tk_client_service_close(svc);
    return 0;
}
