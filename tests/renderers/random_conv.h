/* Seeded random conversations for property tests and benchmarks: optional system prompt, user
 * and assistant turns of varied length with Unicode text (accents, CJK, emoji, newlines inside
 * text), reasoning parts, tool calls with their results and a follow-up answer. Text never
 * starts or ends with whitespace and never spells a format's markers. */
#ifndef TK_TEST_RANDOM_CONV_H
#define TK_TEST_RANDOM_CONV_H

#include <stdio.h>

#include "tinkerc/renderers.h"
#include "renderers/internal.h"

typedef struct rc_opts {
    bool thinking;   /* reasoning parts on assistant turns */
    bool tools;      /* tool calls + results */
    bool system;     /* a system prompt sometimes */
} rc_opts;
/* (Half the conversations whose last turn calls a tool end on the tool-call message.) */

static const char *const RC_WORDS[] = {
    "the", "answer", "is", "42", "café", "naïve", "Straße", "日本語", "中文", "한국어", "emoji",
    "🙂", "🚀", "x=y+1", "a,b;c", "(paren)", "[list]", "{brace}", "quote\"d", "back\\slash",
    "tab\there", "über", "Ελληνικά", "русский", "שלום", "مرحبا", "Tinker", "C17", "3.14",
    "-7", "end.", "?", "!",
};
#define RC_N_WORDS (sizeof RC_WORDS / sizeof RC_WORDS[0])

/* Words joined by spaces (sometimes a newline), 1..max words. Allocated in a. */
static inline char *rc_text(tk_rng *g, tk_arena *a, const char *prefix, int max_words) {
    tk_buf b = {0};
    (void)!tk_buf_puts(&b, prefix);
    int n = 1 + (int)tk_rng_below(g, (uint64_t)max_words);
    for (int i = 0; i < n; i++) {
        if (i || *prefix) (void)!tk_buf_putc(&b, tk_rng_below(g, 8) == 0 ? '\n' : ' ');
        (void)!tk_buf_puts(&b, RC_WORDS[tk_rng_below(g, RC_N_WORDS)]);
    }
    char *s = tk_arena_strdup(a, b.data ? b.data : "");
    tk_buf_free(&b);
    return s;
}

/* Fill c (zeroed) with a conversation that ends with an assistant message. */
static inline void rc_generate(uint64_t seed, rc_opts o, tk_conversation *c) {
    tk_rng g;
    tk_rng_seed(&g, seed);
    memset(c, 0, sizeof *c);
    tk_err e = {0};
    c->arena = tk_arena_new(0);
    tk_arena *a = c->arena;
    if (o.system && tk_rng_below(&g, 2)) {
        tk_message m = {.role = "system", .content = rc_text(&g, a, "sys", 12)};
        (void)!tk_conversation_append(c, &m, &e);
    }
    int turns = 1 + (int)tk_rng_below(&g, 5);
    for (int t = 0; t < turns; t++) {
        tk_message u = {.role = "user", .content = rc_text(&g, a, "", 30)};
        (void)!tk_conversation_append(c, &u, &e);
        bool think = o.thinking && tk_rng_below(&g, 2);
        bool tool = o.tools && tk_rng_below(&g, 10) < 3;
        tk_message m = {.role = "assistant"};
        tk_content_part *parts = tk_arena_alloc(a, 2 * sizeof *parts);
        if (think) {
            parts[0] = (tk_content_part){TK_PART_THINKING, rc_text(&g, a, "think", 20)};
            parts[1] = (tk_content_part){TK_PART_TEXT, rc_text(&g, a, "asst", 20)};
            m.content_is_list = true;
            m.parts = parts;
            m.n_parts = 2;
        } else {
            m.content = rc_text(&g, a, "asst", 40);
        }
        if (tool) {
            tk_tool_call *tc = tk_arena_alloc(a, sizeof *tc);
            char *name = tk_arena_printf(a, "tool_%06x", (unsigned)(tk_rng_u64(&g) & 0xffffff));
            char *id = tk_arena_printf(a, "call_%08x", (unsigned)(tk_rng_u64(&g) & 0xffffffff));
            tk_buf args = {0};
            (void)!tk_buf_puts(&args, "{\"arg\": ");
            char *v = rc_text(&g, a, "", 4);
            (void)!tk__pyjson_quote(v, strlen(v), false, &args);
            (void)!tk_buf_puts(&args, tk_rng_below(&g, 2) ? ", \"n\": 3}" : "}");
            *tc = (tk_tool_call){id, name, tk_arena_strdup(a, args.data)};
            tk_buf_free(&args);
            m.tool_calls = tc;
            m.n_tool_calls = 1;
            (void)!tk_conversation_append(c, &m, &e);
            char *res = tk_arena_printf(a, "{\"result\": \"%s\"}", tk_rng_below(&g, 2) ? "ok" : "r\\u00e9sultat");
            tk_message r = {.role = "tool", .content = res, .tool_call_id = id, .name = name};
            (void)!tk_conversation_append(c, &r, &e);
            if (t == turns - 1 && tk_rng_below(&g, 2)) {
                c->n_messages--; /* end on the tool-call turn itself */
                continue;
            }
            tk_message f = {.role = "assistant", .content = rc_text(&g, a, "followup", 20)};
            (void)!tk_conversation_append(c, &f, &e);
        } else {
            (void)!tk_conversation_append(c, &m, &e);
        }
    }
}

#endif
