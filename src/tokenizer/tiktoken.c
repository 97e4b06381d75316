#include "internal.h"
int tk_tokenizer_load_tiktoken(const char *ranks_path, const char *pattern,
                               const char *const *special_names, const int32_t *special_ids,
                               size_t n_special, tk_tokenizer **out, tk_err *e) {
    return tk_err_set(e, TK_EUNSUPPORTED, "todo");
}
