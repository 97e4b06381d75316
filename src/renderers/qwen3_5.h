/* The Qwen3.5 layout, shared by qwen3_5 and the nemotron3 family (nemotron3.c): the style says
 * where Nemotron's template differs. Internal to the renderers layer. */
#ifndef TK_RENDERERS_QWEN3_5_H
#define TK_RENDERERS_QWEN3_5_H

#include "internal.h"

typedef struct tk__q35_style {
    bool nemotron;            /* <think></think> on every turn that shows no reasoning */
    bool ultra;               /* Nemotron Ultra / 3.5 Lightning spacing */
    const char *suffix_tail;  /* after "<|im_start|>assistant\n" in the generation prompt */
    const char *header_move;  /* the generation-prompt tail a produced turn's header is split at */
    const char *effort;       /* appended to the last user message, or NULL */
} tk__q35_style;

int tk__q35_setup(tk_renderer *r, const tk__q35_style *style, tk_err *e);

#endif
