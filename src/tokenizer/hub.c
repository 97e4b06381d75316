#include "internal.h"
int tk_tokenizer_load_by_name(const char *name_or_path, tk_tokenizer **out, tk_err *e) {
    return tk_tokenizer_load(name_or_path, out, e);
}
