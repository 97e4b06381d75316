/* Finding a local model directory from a name or path (shared by sample and export). */
#ifndef TK_CLI_MODEL_PATH_H
#define TK_CLI_MODEL_PATH_H

#include <stddef.h>

/* An existing directory is used as is; otherwise a Hugging Face name ("Qwen/Qwen3-0.6B", any
 * ":suffix" dropped) is looked up in the HF cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub: models--Org--Name/snapshots/<refs/main or the only revision>).
 * Nothing is downloaded. Returns a malloc'd path, or NULL with a message in err (size n). */
char *tk_cli_find_model_dir(const char *name_or_path, char *err, size_t n);

#endif
