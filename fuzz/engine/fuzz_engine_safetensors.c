/* libFuzzer target: the safetensors parser/validator on arbitrary bytes, then widening every
 * tensor the engine can read (touching every byte the header claims). Must never crash, read out
 * of bounds or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_st_file f;
    tk_err e = {0};
    if (tk_st_parse(data, size, "fuzz", &f, &e) == 0) {
        for (size_t i = 0; i < f.n_tensors; i++) {
            const tk_st_tensor *t = &f.tensors[i];
            if (t->dtype != TK_ENGINE_F32 && t->dtype != TK_ENGINE_F16 && t->dtype != TK_ENGINE_BF16) continue;
            if (t->numel > (1u << 20)) continue;
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof(float));
            if (dst) tk_st_to_f32(t, dst);
            free(dst);
        }
        tk_st_close(&f);
    }
    return 0;
}
