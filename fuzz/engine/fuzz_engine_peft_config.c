/* libFuzzer target: a PEFT adapter_config.json on arbitrary bytes (what tinkerc sample --adapter
 * and the server's load of a user's adapter read first). Must never crash or leak; an accepted
 * config must describe a LoRA the engine can build (rank in range, modules within the mask). */
#include <stdint.h>
#include <stdlib.h>

#include "engine/peft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tk_engine_lora_config c;
    char base[64];
    tk_err e = {0};
    if (tk_peft_parse_config_text((const char *)data, size, "fuzz", &c, base, sizeof base, &e) == 0) {
        if (c.rank < 1 || c.rank > 4096 || !c.modules || (c.modules & ~(uint32_t)TK_ENGINE_LORA_ALL) || !(c.alpha > 0))
            abort();
    }
    return 0;
}
