/* PEFT file layout helpers shared by peft.c and checkpoint.c. Internal to the engine. */
#ifndef TK_ENGINE_PEFT_H
#define TK_ENGINE_PEFT_H

#include "internal.h"

/* adapter_model.safetensors with PEFT keys ("base_model.model." + the adapter's tensor names). */
int tk_peft_write_weights(const tk_engine_adapter *a, const char *path, tk_engine_dtype dtype, tk_err *e);
/* adapter_config.json text for c (appended to out). */
int tk_peft_config_json(const tk_engine_lora_config *c, const char *base_model, tk_buf *out);
/* dir/adapter_config.json -> a LoRA config (modules set, alpha adjusted for rsLoRA, seed 0) and
 * base_model_name_or_path ("" when absent). */
int tk_peft_parse_config(const char *dir, tk_engine_lora_config *out, char *base_model, size_t bm_size, tk_err *e);
/* The same from the file's text (path names it in messages). */
int tk_peft_parse_config_text(const char *text, size_t len, const char *path, tk_engine_lora_config *out,
                              char *base_model, size_t bm_size, tk_err *e);
/* Load every LoRA tensor of a from a PEFT safetensors file: all present, right shapes, no extras. */
int tk_peft_read_weights(tk_engine_adapter *a, const char *path, tk_err *e);

#endif
