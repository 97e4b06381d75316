/*
 * tinkerc/renderers.h — chat formats: turn a conversation into token ids and per-token training
 * weights, and turn sampled token ids back into a message. One renderer per chat-format family
 * of the Python tinker-cookbook, under the same names (role_colon, llama3, qwen3, deepseekv3,
 * gpt_oss_*, kimi_k2, qwen3_5, nemotron3, ...); docs/RENDERERS.md lists them and every place where
 * a renderer differs on purpose from the model's own chat template.
 *
 * A typical SFT step:
 *
 *     tk_renderer *r;  tk_renderer_new("qwen3", tok, NULL, &r, &e);
 *     tk_vec_i32 tokens = {0};  tk_vec_f32 weights = {0};
 *     tk_renderer_build_supervised_example(r, msgs, n, TK_TRAIN_LAST_ASSISTANT_MESSAGE,
 *                                          &tokens, &weights, &e);
 *
 * and an RL/sampling step:
 *
 *     tk_renderer_build_generation_prompt(r, msgs, n, NULL, NULL, &prompt, &e);
 *     tk_stop_sequences stop;  tk_renderer_stop_sequences(r, &stop);      // give these to the sampler
 *     tk_parsed_response p;  tk_renderer_parse_response(r, sampled, n_sampled, &p, &e);
 *     ... p.message, p.termination ...;  tk_parsed_response_free(&p);
 *
 * Ownership: strings inside a tk_message are borrowed by every function that takes one. Messages
 * that tinkerc creates (JSON parsing, parse_response, tool prefixes) live in an arena owned by a
 * tk_conversation / tk_parsed_response and are freed with it. Token and weight vectors are
 * caller-owned; functions append to them.
 * Thread safety: a renderer is immutable after creation; every function taking a const
 * tk_renderer * may run on many threads at once (the tokenizer allows it). The registry of custom
 * renderers is guarded by a lock.
 * Errors: TK_EINVAL for a conversation the format cannot render (the message names the message
 * index and why), TK_EUNSUPPORTED for features a format lacks (images, tools on role_colon),
 * TK_ENOTFOUND for an unknown renderer name.
 */
#ifndef TINKERC_RENDERERS_H
#define TINKERC_RENDERERS_H

#include "tinkerc/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tk_tokenizer;

/* ============================================================================================= */
/* Messages                                                                                      */
/* ============================================================================================= */

typedef enum { TK_PART_TEXT = 0, TK_PART_THINKING = 1, TK_PART_IMAGE = 2 } tk_part_type;

/* One element of list content. `text` is the text, the reasoning, or the image URL / data URI. */
typedef struct tk_content_part {
    tk_part_type type;
    const char *text;
} tk_content_part;

/* A parsed tool call. `arguments` is JSON text (an object for every built-in format). `id` may be
 * NULL. */
typedef struct tk_tool_call {
    const char *id;
    const char *name;
    const char *arguments;
} tk_tool_call;

/* A tool call the model wrote but that could not be parsed (bad JSON, unterminated block). */
typedef struct tk_unparsed_tool_call {
    const char *raw_text;
    const char *error;
} tk_unparsed_tool_call;

/* `trainable` of a message; UNSET (zero) when the key is absent. Only TK_TRAIN_CUSTOMIZED reads
 * it, and it then requires it on every message. */
typedef enum { TK_TRAINABLE_UNSET = 0, TK_TRAINABLE_FALSE = 1, TK_TRAINABLE_TRUE = 2 } tk_trainable;

/* One turn of a conversation, in the cookbook's shape. Zero-initialise and set what you need:
 *     tk_message m = {.role = "user", .content = "Hello"};
 * Content is either a string (`content`, NULL meaning "") or, when `content_is_list` is set, the
 * list `parts[0..n_parts)`. Tool calls never live in content. A message with n_tool_calls == 0
 * has no tool calls (an empty list and an absent key are the same). `tool_call_id` and `name`
 * (the tool's name) belong to role "tool" messages; NULL when absent. */
typedef struct tk_message {
    const char *role;
    const char *content;
    bool content_is_list;
    const tk_content_part *parts;
    size_t n_parts;
    const tk_tool_call *tool_calls;
    size_t n_tool_calls;
    const tk_unparsed_tool_call *unparsed_tool_calls;
    size_t n_unparsed_tool_calls;
    tk_trainable trainable;
    const char *tool_call_id;
    const char *name;
} tk_message;

/* A tool the model may call: name, description and a JSON-Schema object as JSON text (NULL or ""
 * means {}). */
typedef struct tk_tool_spec {
    const char *name;
    const char *description;
    const char *parameters;
} tk_tool_spec;

/* A list of messages (and tool specs) that owns its strings. Zero-initialise; free with
 * tk_conversation_free. */
typedef struct tk_conversation {
    tk_message *messages;
    size_t n_messages;
    tk_tool_spec *tools;
    size_t n_tools;
    tk_arena *arena;
    size_t cap_;  /* internal */
    size_t tools_cap_;
} tk_conversation;

/* Parse a conversation from JSON text: either {"messages": [...], "tools": [...]?} or a bare
 * array of messages. Messages use the cookbook's JSON shape:
 *   {"role": "assistant", "content": "..." | [{"type": "text", "text": ...},
 *        {"type": "thinking", "thinking": ...}, {"type": "image", "image": url}],
 *    "tool_calls": [{"type": "function", "id": ..., "function": {"name": ..., "arguments": ...}}],
 *    "unparsed_tool_calls": [{"raw_text": ..., "error": ...}],
 *    "trainable": bool, "tool_call_id": ..., "name": ...}
 * `arguments` may be a JSON string or an object (serialised like Python's json.dumps). Tools are
 * {"name", "description", "parameters"} or OpenAI's {"type": "function", "function": {...}}.
 * Unknown keys and strings holding NUL are TK_EINVAL naming the JSON path
 * ("<what>: messages[2].content[0].text: expected string, got integer"). */
int tk_conversation_parse(const char *text, size_t len, const char *what, tk_conversation *out,
                          tk_err *e);
/* The same from a parsed jansson value (borrowed). `path` prefixes error messages. */
int tk_conversation_from_json(const struct json_t *v, const char *path, tk_conversation *out,
                              tk_err *e);
/* Deep-copy a message (or tool spec) to the end of c. */
int tk_conversation_append(tk_conversation *c, const tk_message *m, tk_err *e);
int tk_conversation_append_tool(tk_conversation *c, const tk_tool_spec *t, tk_err *e);
void tk_conversation_free(tk_conversation *c);

/* Serialise messages in the cookbook JSON shape: one object, or an array of n. Appends compact
 * JSON to out. 0 or TK_ENOMEM. */
int tk_message_dump(const tk_message *m, tk_buf *out);
int tk_messages_dump(const tk_message *msgs, size_t n, tk_buf *out);

/* Concatenated text parts of a message (thinking dropped), or the string content. Appends to
 * out. This is what a grader usually wants from a parsed response. */
int tk_message_text(const tk_message *m, tk_buf *out);

/* ============================================================================================= */
/* Training weights and parse results                                                           */
/* ============================================================================================= */

/* Which tokens of a supervised example get weight 1 (the cookbook's TrainOnWhat). */
typedef enum {
    TK_TRAIN_LAST_ASSISTANT_MESSAGE = 0,
    TK_TRAIN_LAST_ASSISTANT_TURN,        /* every assistant message after the last user message */
    TK_TRAIN_ALL_ASSISTANT_MESSAGES,
    TK_TRAIN_ALL_MESSAGES,               /* every message's output, not the role headers */
    TK_TRAIN_ALL_TOKENS,                 /* headers too */
    TK_TRAIN_ALL_USER_AND_SYSTEM_MESSAGES,
    TK_TRAIN_CUSTOMIZED,                 /* each message's `trainable` */
} tk_train_on_what;

/* "last_assistant_message", ... (the cookbook's string values). Never NULL. */
const char *tk_train_on_what_name(tk_train_on_what w);
/* Parse those names (case-insensitive); TK_EINVAL listing the valid ones. */
int tk_train_on_what_parse(const char *s, tk_train_on_what *out, tk_err *e);

/* How a sampled response ended. */
typedef enum {
    TK_PARSE_STOP_SEQUENCE = 0,  /* the renderer's stop token / string fired */
    TK_PARSE_EOS = 1,            /* the model's EOS, accepted as a fallback (role_colon only) */
    TK_PARSE_MALFORMED = 2,      /* truncated, or stop signals in the wrong place */
} tk_parse_termination;

/* "stop_sequence", "eos", "malformed". */
const char *tk_parse_termination_name(tk_parse_termination t);

/* A parsed response: the message (in `arena`) and how the response ended. Free with
 * tk_parsed_response_free. */
typedef struct tk_parsed_response {
    tk_message message;
    tk_parse_termination termination;
    tk_arena *arena;
} tk_parsed_response;
void tk_parsed_response_free(tk_parsed_response *p);

/* ============================================================================================= */
/* Renderers                                                                                     */
/* ============================================================================================= */

/* How a renderer reaches a tokenizer. tk_renderer_new builds one over a tk_tokenizer; tests and
 * custom tokenizers can supply their own. `encode` appends the ids of text[0..len); with
 * split_special set, text that spells a *special* token is encoded as ordinary text (non-special
 * added tokens such as Qwen's <think> still match). `decode` appends UTF-8, special tokens
 * included. bos_id / eos_id are -1 when the tokenizer has none. All callbacks must be
 * thread-safe if the renderer is shared between threads. */
typedef struct tk_renderer_codec {
    void *ctx;
    int (*encode)(void *ctx, const char *text, size_t len, bool split_special, tk_vec_i32 *out,
                  tk_err *e);
    int (*decode)(void *ctx, const int32_t *ids, size_t n, tk_buf *out, tk_err *e);
    int32_t bos_id;
    int32_t eos_id;
} tk_renderer_codec;

/* Per-renderer settings; NULL means all defaults. */
typedef struct tk_renderer_opts {
    /* gpt_oss_*_reasoning: the date in the built-in system prompt ("2025-01-01"); NULL = today
     * (local time), as the cookbook and the model's template do. */
    const char *current_date;
    /* Keep reasoning of earlier assistant turns (qwen3, deepseekv3_thinking, kimi, qwen3_5,
     * nemotron3): 0 = the renderer's default (strip, as the templates do), 1 = keep (gives qwen3
     * and deepseekv3_thinking the extension property), -1 = strip. */
    int keep_thinking_in_history;
    /* deepseekv3*: render a system message after index 0 as a user turn instead of failing. */
    bool system_role_as_user;
} tk_renderer_opts;

typedef struct tk_renderer tk_renderer;

/* Create the renderer `name` (built-in or registered). `tok` is borrowed and must outlive the
 * renderer. TK_ENOTFOUND lists the known names; TK_EUNSUPPORTED for cookbook names tinkerc does
 * not implement (qwen3_vl*, qwen3_8*, tml_v0); TK_EINVAL when the tokenizer lacks a token the
 * format needs. Free with tk_renderer_free. */
int tk_renderer_new(const char *name, const struct tk_tokenizer *tok, const tk_renderer_opts *opts,
                    tk_renderer **out, tk_err *e);
/* The same over any codec (copied; codec->ctx is borrowed). */
int tk_renderer_new_with_codec(const char *name, const tk_renderer_codec *codec,
                               const tk_renderer_opts *opts, tk_renderer **out, tk_err *e);
void tk_renderer_free(tk_renderer *r);

const char *tk_renderer_name(const tk_renderer *r);
/* Prompts at successive assistant turns are token prefixes of each other, so a multi-turn
 * trajectory can be trained as one sequence (RL merges transitions when this holds). */
bool tk_renderer_has_extension_property(const tk_renderer *r);
/* The generation prompt closes the think block (qwen3_disable_thinking, ...); such a renderer
 * refuses to build a supervised example whose produced turn contains reasoning. */
bool tk_renderer_disables_thinking(const tk_renderer *r);

/* Token ids of the prompt a sampler continues: every message, then the header of a new turn of
 * `role` (NULL = "assistant") and the format's own prefill (<think> for deepseekv3_thinking and
 * kimi_k25, ...), then `prefill` (NULL = none) encoded with special tokens recognised.
 * Appends to tokens. */
int tk_renderer_build_generation_prompt(const tk_renderer *r, const tk_message *msgs, size_t n,
                                        const char *role, const char *prefill, tk_vec_i32 *tokens,
                                        tk_err *e);

/* Tokens and per-token weights (0 or 1) of one training sequence. Anything the generation prompt
 * of the trained turn would supply (a prefilled <think>) gets weight 0. Appends the same number
 * of entries to tokens and weights. TK_EINVAL when `trainable` is set without
 * TK_TRAIN_CUSTOMIZED or missing with it, or a reasoning-off renderer is given a reasoning turn. */
int tk_renderer_build_supervised_example(const tk_renderer *r, const tk_message *msgs, size_t n,
                                         tk_train_on_what what, tk_vec_i32 *tokens,
                                         tk_vec_f32 *weights, tk_err *e);

typedef struct tk_supervised_example {
    tk_vec_i32 tokens;
    tk_vec_f32 weights;
} tk_supervised_example;
typedef TK_VEC(tk_supervised_example) tk_supervised_examples;

/* One or more sequences covering the trained turns: one when the renderer has the extension
 * property, otherwise one per trained assistant message, each ending at that message and built
 * with LAST_ASSISTANT_MESSAGE (Kimi: one per user turn). Only the LAST_ASSISTANT_* and
 * ALL_ASSISTANT_MESSAGES modes can be split (TK_EUNSUPPORTED otherwise). Appends to out; free
 * with tk_supervised_examples_free. */
int tk_renderer_build_supervised_examples(const tk_renderer *r, const tk_message *msgs, size_t n,
                                          tk_train_on_what what, tk_supervised_examples *out,
                                          tk_err *e);
void tk_supervised_examples_free(tk_supervised_examples *v);

/* What a sampler stops on: token ids for every format except role_colon, whose stop is the
 * string "\n\nUser:". Borrowed from r. */
typedef struct tk_stop_sequences {
    const int32_t *tokens;
    size_t n_tokens;
    const char *const *strings;
    size_t n_strings;
} tk_stop_sequences;
void tk_renderer_stop_sequences(const tk_renderer *r, tk_stop_sequences *out);

/* Parse sampled ids (what followed the generation prompt, the stop token included if it was
 * sampled) into an assistant message: thinking parts, text, tool calls, unparsed tool calls.
 * A best-effort message is returned even when the termination is MALFORMED. TK_EINVAL when the
 * response holds the stop token more than once (the sampler was given the wrong stops);
 * TK_ERANGE when an id before the stop is not a token of the tokenizer (the message names its
 * index). On failure *out holds nothing to free. */
int tk_renderer_parse_response(const tk_renderer *r, const int32_t *ids, size_t n,
                               tk_parsed_response *out, tk_err *e);

/* The messages that declare `tools` in the format's own way, to put before the conversation
 * (a system message for Qwen/DeepSeek/Nemotron, tool_declare + system for Kimi, system +
 * developer for gpt-oss). `system_prompt` may be NULL. Appends to out (create it zeroed).
 * TK_EUNSUPPORTED for role_colon and llama3; TK_EINVAL for a tool whose parameters are not a
 * JSON object. */
int tk_renderer_tool_prefix(const tk_renderer *r, const tk_tool_spec *tools, size_t n_tools,
                            const char *system_prompt, tk_conversation *out, tk_err *e);

/* ============================================================================================= */
/* Registry and model table                                                                      */
/* ============================================================================================= */

/* Names of the built-in renderers, NULL-terminated, in a stable order. */
const char *const *tk_renderer_builtin_names(void);

/* The cookbook's recommended renderer for a model name ("Qwen/Qwen3-8B", ":suffix" removed
 * first), and all recommended names (NULL-terminated, static). TK_ENOTFOUND for an unknown
 * model. */
int tk_renderer_for_model(const char *model_name, const char **renderer, tk_err *e);
int tk_renderer_recommended_for_model(const char *model_name, const char *const **renderers,
                                      tk_err *e);

/* --- custom renderers ---
 * A custom format renders each message into header / output / stop-overlap segments; tinkerc
 * does the rest (BOS, weights, generation prompt, splitting, the prefill post-pass). */
typedef enum { TK_SEG_HEADER = 0, TK_SEG_OUTPUT = 1, TK_SEG_STOP_OVERLAP = 2 } tk_render_segment;

/* Where a message sits in the conversation being rendered. */
typedef struct tk_render_context {
    size_t idx;
    bool is_last;
    const tk_message *prev;       /* NULL for the first */
    const tk_message *next;       /* NULL for the last */
    ptrdiff_t last_user_index;    /* -1 when there is no user message */
    bool in_last_assistant_turn;  /* idx >= start of the turn being produced */
} tk_render_context;

/* Pieces of one rendered message. Text appended to a segment is encoded with split_special (so
 * message text cannot forge turn markers); consecutive text of a segment is encoded in one call
 * unless a break separates it. A special token is given by its string form and encoded alone. */
typedef struct tk_rendered_message tk_rendered_message;
int tk_rendered_text(tk_rendered_message *m, tk_render_segment seg, const char *text, size_t len);
int tk_rendered_special(tk_rendered_message *m, tk_render_segment seg, const char *token);
int tk_rendered_token(tk_rendered_message *m, tk_render_segment seg, int32_t id);
int tk_rendered_break(tk_rendered_message *m, tk_render_segment seg);

typedef struct tk_renderer_vtable {
    /* Required: render msg (header: weight 0; output: weighted; stop_overlap: appended after
     * the last message of a supervised example with its output's weight). */
    int (*render_message)(const tk_renderer *r, const tk_message *msg,
                          const tk_render_context *ctx, tk_rendered_message *out, tk_err *e);
    /* Required: parse sampled ids. Allocate strings from out->arena (already created). */
    int (*parse_response)(const tk_renderer *r, const int32_t *ids, size_t n,
                          tk_parsed_response *out, tk_err *e);
    /* Optional: what ends a generation prompt (NULL: the header of an empty message of role). */
    int (*generation_suffix)(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                             tk_rendered_message *out, tk_err *e);
    /* Optional: tool declaration messages (NULL: TK_EUNSUPPORTED). */
    int (*tool_prefix)(const tk_renderer *r, const tk_tool_spec *tools, size_t n,
                       const char *system_prompt, tk_conversation *out, tk_err *e);
    /* Optional: free `state` with the renderer. */
    void (*destroy)(void *state);
    bool has_extension_property;
    bool disables_thinking;
    bool add_bos;                       /* start every sequence with codec->bos_id */
    const int32_t *stop_tokens;         /* copied */
    size_t n_stop_tokens;
    const char *const *stop_strings;    /* copied */
    size_t n_stop_strings;
} tk_renderer_vtable;

/* Build a renderer from a vtable (copied) and private state (owned: vt->destroy frees it). */
int tk_renderer_new_custom(const char *name, const tk_renderer_vtable *vt, void *state,
                           const tk_renderer_codec *codec, tk_renderer **out, tk_err *e);
void *tk_renderer_state(const tk_renderer *r);
const tk_renderer_codec *tk_renderer_get_codec(const tk_renderer *r);

/* A factory makes a renderer over a codec; register it under a name (namespaced names such as
 * "org/format" avoid clashes). Registered names are looked up before built-in ones. */
typedef int (*tk_renderer_factory)(const tk_renderer_codec *codec, const tk_renderer_opts *opts,
                                   void *user, tk_renderer **out, tk_err *e);
int tk_renderer_register(const char *name, tk_renderer_factory factory, void *user, tk_err *e);
bool tk_renderer_unregister(const char *name);
bool tk_renderer_is_registered(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_RENDERERS_H */
