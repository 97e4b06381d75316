/* Fuzz the tokenizer.json loader: any bytes either load or give an error; a tokenizer that loads
 * encodes and decodes a few strings without failing. The seeds are small valid files. */
#include <stdlib.h>
#include <string.h>

#include "tinkerc/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    tk_log_set_level(TK_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_tokenizer *t = NULL;
    tk_err e = {0};
    if (tk_tokenizer_load_from_memory((const char *)data, size, NULL, 0, "fuzz.json", &t, &e)) {
        if (!e.msg[0] || t) abort(); /* an error always says what went wrong */
        return 0;
    }
    static const char *const texts[] = {"", "Hello world! It's 123.", "<|endoftext|> a\xff\xfe b", "\xe4\xbd\xa0\xe5\xa5\xbd  \n\n x"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        tk_vec_i32 ids = {0};
        tk_buf out = {0};
        for (int opt = 0; opt < 4; opt++) {
            ids.len = 0;
            if (tk_tokenizer_encode(t, texts[k], strlen(texts[k]), (tk_encode_opts){opt & 1, opt >> 1}, &ids, &e)) abort();
            tk_buf_clear(&out);
            if (tk_tokenizer_decode(t, ids.data, ids.len, opt & 1, &out, &e)) abort();
        }
        tk_vec_free(&ids);
        tk_buf_free(&out);
    }
    int32_t n = tk_tokenizer_vocab_size(t);
    for (int32_t id = 0; id < n && id < 64; id++) {
        size_t len;
        const char *s = tk_tokenizer_id_to_token(t, id, &len);
        if (s && tk_tokenizer_token_to_id(t, s, len) < 0) abort();
    }
    tk_tokenizer_free(t);
    return 0;
}
