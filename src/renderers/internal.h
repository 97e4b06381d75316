/* Internal to the renderers layer: the renderer object, rendered-message pieces, the hooks a
 * built-in format may override, and small string helpers shared by the format files. */
#ifndef TK_RENDERERS_INTERNAL_H
#define TK_RENDERERS_INTERNAL_H

#include <string.h>

#include "tinkerc/renderers.h"

struct json_t;

/* ---- rendered messages ------------------------------------------------------------------------ */

enum { TK_PIECE_TEXT, TK_PIECE_SPECIAL, TK_PIECE_TOKEN, TK_PIECE_BREAK };

typedef struct tk_piece {
    uint8_t seg;
    uint8_t kind;
    int32_t token;
    const char *text; /* borrowed: message strings or the build's arena */
    size_t len;
} tk_piece;

struct tk_rendered_message {
    tk_arena *arena; /* the build's scratch arena */
    TK_VEC(tk_piece) pieces;
};

/* Internal helpers. rm_ref borrows s (it must outlive the build: message strings or arena
 * strings); rm_text copies into the arena. */
int tk__rm_ref(tk_rendered_message *m, int seg, const char *s, size_t len);
int tk__rm_text(tk_rendered_message *m, int seg, const char *s);
int tk__rm_printf(tk_rendered_message *m, int seg, const char *fmt, ...) TK_PRINTF(3, 4);
int tk__rm_special(tk_rendered_message *m, int seg, const char *token);
int tk__rm_break(tk_rendered_message *m, int seg);
bool tk__rm_has(const tk_rendered_message *m, int seg);

/* ---- renderer ----------------------------------------------------------------------------------- */

typedef struct tk_renderer_ops {
    int (*render_message)(const tk_renderer *r, const tk_message *msg,
                          const tk_render_context *ctx, tk_rendered_message *out, tk_err *e);
    /* NULL: the header of an empty message of `role`. */
    int (*generation_suffix)(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                             tk_rendered_message *out, tk_err *e);
    int (*parse_response)(const tk_renderer *r, const int32_t *ids, size_t n,
                          tk_parsed_response *out, tk_err *e);
    int (*tool_prefix)(const tk_renderer *r, const tk_tool_spec *tools, size_t n,
                       const char *system_prompt, tk_conversation *out, tk_err *e);
    /* Conversation rewrites applied once before rendering (default system messages). May return
     * the input unchanged, or an array allocated from `a`. NULL: identity. */
    int (*normalize)(const tk_renderer *r, const tk_message *in, size_t n, tk_arena *a,
                     const tk_message **out, size_t *n_out, tk_err *e);
    /* Text every generation prompt of this format ends with before the caller's prefill
     * ("<think>"), given the messages being prompted. NULL: none. */
    const char *(*default_prefill)(const tk_renderer *r, const tk_message *msgs, size_t n);
    /* First index of the turn being produced; NULL: after the last user message. */
    size_t (*turn_start)(const tk_message *msgs, size_t n);
    /* Override of build_supervised_examples (Kimi splits by user turns). NULL: default. */
    int (*supervised_examples)(const tk_renderer *r, const tk_message *msgs, size_t n,
                               tk_train_on_what what, tk_supervised_examples *out, tk_err *e);
    void (*destroy)(void *state);
} tk_renderer_ops;

struct tk_renderer {
    char *name;
    tk_renderer_codec codec;
    tk_renderer_ops ops;
    tk_renderer_vtable custom; /* for tk_renderer_new_custom */
    void *state;
    bool extension;
    bool disables_thinking;
    bool add_bos;
    tk_vec_i32 stop_tokens;
    char **stop_strings;
    size_t n_stop_strings;
    tk_renderer_opts opts;
    char *current_date; /* owned copy of opts.current_date */
    int variant;        /* a format file's own sub-kind */
    bool strip_history; /* strip reasoning from earlier turns */
};

/* A built-in format sets ops, flags, stop tokens and state on r (name, codec, opts already set). */
typedef int (*tk__format_init)(tk_renderer *r, int variant, tk_err *e);

int tk__role_colon_init(tk_renderer *r, int variant, tk_err *e);
int tk__llama3_init(tk_renderer *r, int variant, tk_err *e);
int tk__qwen3_init(tk_renderer *r, int variant, tk_err *e);
int tk__qwen3_5_init(tk_renderer *r, int variant, tk_err *e);
int tk__nemotron3_init(tk_renderer *r, int variant, tk_err *e);
int tk__deepseek_init(tk_renderer *r, int variant, tk_err *e);
int tk__gpt_oss_init(tk_renderer *r, int variant, tk_err *e);
int tk__kimi_init(tk_renderer *r, int variant, tk_err *e);

/* Encode a special token by its string: the ids it encodes to with special tokens recognised.
 * single: require exactly one id (else TK_EINVAL naming the token). */
int tk__special_id(const tk_renderer *r, const char *token, int32_t *id, tk_err *e);
int tk__add_stop_token(tk_renderer *r, const char *token, tk_err *e);
int tk__decode(const tk_renderer *r, const int32_t *ids, size_t n, tk_buf *out, tk_err *e);

/* The generation prompt of already-normalised messages, with the format's default prefill and
 * the caller's prefill. */
int tk__generation_prompt(const tk_renderer *r, const tk_message *msgs, size_t n, const char *role,
                          const char *prefill, tk_vec_i32 *tokens, tk_err *e);
/* The default split of build_supervised_examples (used by Kimi for some modes). */
int tk__supervised_example_normalized(const tk_renderer *r, const tk_message *msgs, size_t n,
                                      tk_train_on_what what, tk_vec_i32 *tokens,
                                      tk_vec_f32 *weights, tk_err *e);

/* ---- message helpers (message.c) ---------------------------------------------------------------- */

static inline bool tk__streq(const char *a, const char *b) {
    return a && b && strcmp(a, b) == 0;
}
static inline bool tk__role_is(const tk_message *m, const char *role) {
    return tk__streq(m->role, role);
}
static inline const char *tk__str(const char *s) { return s ? s : ""; }

/* The cookbook's ensure_text: string content, or a list of exactly one text part. TK_EINVAL
 * naming `where` otherwise. */
int tk__ensure_text(const tk_message *m, const char *where, const char **out, tk_err *e);
/* Any thinking part, or "<think>" inside string content. */
bool tk__has_thinking(const tk_message *m);
/* Content is non-empty (a non-empty string, or a non-empty list): Python truthiness. */
bool tk__content_truthy(const tk_message *m);
/* Fail with TK_EUNSUPPORTED when the message has an image part. */
int tk__reject_images(const tk_message *m, const char *renderer, size_t idx, tk_err *e);
/* Concatenate parts of one type (TEXT or THINKING) of list content; string content counts as
 * text. Appends to out. */
int tk__concat_parts(const tk_message *m, tk_part_type type, tk_buf *out);
ptrdiff_t tk__last_user_index(const tk_message *msgs, size_t n);

/* Arena helpers. */
char *tk__arena_buf(tk_arena *a, const tk_buf *b); /* NUL-terminated copy of b */
char *tk__arena_slice(tk_arena *a, const char *s, size_t n);

/* ---- Python string semantics (pystr.c) ---------------------------------------------------------- */

/* Slices [*s, *s + *n) trimmed like Python's str methods. `chars` NULL means whitespace
 * (str.strip() with no argument, Unicode-aware). */
void tk__py_lstrip(const char **s, size_t *n, const char *chars);
void tk__py_rstrip(const char **s, size_t *n, const char *chars);
void tk__py_strip(const char **s, size_t *n, const char *chars);
/* memmem-style search; NULL when absent. */
const char *tk__find(const char *s, size_t n, const char *needle);
size_t tk__count(const char *s, size_t n, const char *needle);
bool tk__starts_with(const char *s, size_t n, const char *prefix);

/* ---- Python json (pyjson.c) -------------------------------------------------------------------- */

typedef struct tk__pyjson_style {
    const char *item_sep; /* ", " (json.dumps default) or "," */
    const char *key_sep;  /* ": " or ":" */
    bool ensure_ascii;
    bool sort_keys;
} tk__pyjson_style;

extern const tk__pyjson_style TK__PYJSON_DEFAULT;    /* json.dumps(x) */
extern const tk__pyjson_style TK__PYJSON_UNICODE;    /* json.dumps(x, ensure_ascii=False) */

/* Serialise like Python's json.dumps with that style. */
int tk__pyjson_dump(const struct json_t *v, const tk__pyjson_style *st, tk_buf *out);
/* Python's str() of a decoded JSON value (True, None, 1.5, raw strings); containers as
 * json.dumps with `st`. */
int tk__pyjson_str(const struct json_t *v, const tk__pyjson_style *st, tk_buf *out);
/* json.loads of any JSON value (scalars included). On failure returns NULL and writes the
 * decoder's message to err. New reference. */
struct json_t *tk__pyjson_loads(const char *s, size_t n, char *err, size_t errlen);
/* Append a JSON string literal of s[0..n). */
int tk__pyjson_quote(const char *s, size_t n, bool ensure_ascii, tk_buf *out);

/* ---- parsing helpers (parse_util.c) ------------------------------------------------------------- */

/* Builds a parsed message inside an arena. */
typedef struct tk__msg_builder {
    tk_arena *arena;
    TK_VEC(tk_content_part) parts;
    TK_VEC(tk_tool_call) calls;
    TK_VEC(tk_unparsed_tool_call) unparsed;
} tk__msg_builder;

int tk__mb_part(tk__msg_builder *b, tk_part_type type, const char *s, size_t n);
int tk__mb_call(tk__msg_builder *b, const char *id, const char *name, size_t name_len,
                const char *args, size_t args_len);
int tk__mb_unparsed(tk__msg_builder *b, const char *raw, size_t raw_len, const char *error);
/* Move the builder into out->message (role "assistant"); list content when as_list, else the
 * string `text`. Frees the builder's vectors. */
int tk__mb_finish(tk__msg_builder *b, tk_parsed_response *out, bool as_list, const char *text,
                  size_t text_len);
void tk__mb_free(tk__msg_builder *b);

/* Start a parse result: creates out->arena. */
int tk__parsed_init(tk_parsed_response *out, tk_err *e);

/* The cookbook's parse_response_for_stop_token: count `stop` in ids; 0 → MALFORMED with the
 * whole decode, 1 → decode before it, STOP_SEQUENCE; more → TK_EINVAL. The text is appended to
 * text. */
int tk__split_at_stop(const tk_renderer *r, const int32_t *ids, size_t n, int32_t stop,
                      tk_buf *text, tk_parse_termination *term, tk_err *e);

/* The separators a format writes around its <tool_call> blocks; parsing removes them from the
 * neighbouring text so that parse inverts render. NULL: none. */
typedef struct tk__tool_seps {
    const char *before_first; /* between the text and the first call */
    const char *between;      /* between two calls (or after one call, before the next) */
    const char *after;        /* after each call */
} tk__tool_seps;

/* parse_content_blocks: <think>…</think> and <tool_call>…</tool_call> (JSON body). *found is false
 * (nothing added) when neither open tag occurs. */
int tk__parse_content_blocks(tk__msg_builder *b, const char *s, size_t n, const tk__tool_seps *seps,
                             bool *found);
/* parse_think_blocks: <think>…</think> only. */
int tk__parse_think_blocks(tk__msg_builder *b, const char *s, size_t n, bool *found);
/* detect_unterminated_tool_block: appends an unparsed entry when `open` occurs more often than
 * `close`; *added tells whether it did. */
int tk__detect_unterminated(tk__msg_builder *b, const char *s, size_t n, const char *open,
                            const char *close, bool *added);

/* ---- shared by the Qwen-style formats (qwen3.c) ---- */

/* {"name": …, "arguments": {…}} as the Qwen templates write a JSON tool call. */
int tk__qwen_tool_call_json(const tk_tool_call *tc, tk_buf *out, tk_err *e);
/* Stop split, <think>/<tool_call> blocks, dangling <tool_call>; restore_prefix (or NULL) is put
 * back in front of a response that closes </think> without opening it (a prefilled prompt). */
int tk__qwen_parse(const tk_renderer *r, const int32_t *ids, size_t n, tk_parsed_response *out,
                   const char *restore_prefix, bool unframe_thinking, const tk__tool_seps *seps,
                   tk_err *e);
/* The calling convention Qwen3.5 and Nemotron put after their tool list. */
extern const char tk__xml_tool_instructions[];

/* ---- tool declarations (tools.c) ---------------------------------------------------------------- */

/* Parse a tool spec's parameters (NULL/"" → {}). TK_EINVAL naming the tool when not an object.
 * New reference. */
int tk__tool_params(const tk_tool_spec *t, struct json_t **out, tk_err *e);
/* {"name":…, "description":…, "parameters":…} in that order. New reference. */
int tk__tool_json(const tk_tool_spec *t, struct json_t **out, tk_err *e);
/* Append a message with borrowed-then-copied strings. */
int tk__append_msg(tk_conversation *c, const char *role, const char *content, tk_err *e);
/* Kimi K2.5's TypeScript-style declaration of OpenAI-format tools. */
int tk__kimi_ts_tools(const tk_tool_spec *tools, size_t n, tk_buf *out, tk_err *e);

#endif
