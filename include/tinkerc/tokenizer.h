/*
 * tinkerc/tokenizer.h — byte-level BPE tokenizers: Hugging Face tokenizer.json (Llama 3, Qwen3,
 * DeepSeek V3, gpt-oss, ...) and tiktoken-style rank files (o200k, Kimi K2). Token ids are
 * identical to the Hugging Face `tokenizers` library's for the supported components.
 *
 * Ownership: tk_tokenizer_load* return a tokenizer the caller frees with tk_tokenizer_free.
 * Arrays returned through tk_vec_i32 / tk_buf are appended to caller-owned containers.
 * Thread safety: after loading, every const function may be called from many threads at once.
 */
#ifndef TINKERC_TOKENIZER_H
#define TINKERC_TOKENIZER_H

#include "tinkerc/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_tokenizer tk_tokenizer;

/* ---- loading --------------------------------------------------------------------------------- */

/* Load from a tokenizer.json path, or a directory holding tokenizer.json (and, optionally,
 * tokenizer_config.json, which supplies BOS/EOS/pad and the chat template, and
 * chat_template.jinja). A path ending in tokenizer.json also picks up the files beside it.
 * Malformed files are TK_EPARSE naming file:line:column and the JSON path; an unsupported
 * component is TK_EUNSUPPORTED naming its type and JSON path ("pre_tokenizer.pretokenizers[2]:
 * unsupported type \"Metaspace\""); a missing file TK_ENOTFOUND. See docs/tokenizer.md for what
 * is supported. On failure *out is NULL. */
int tk_tokenizer_load(const char *path, tk_tokenizer **out, tk_err *e);

/* Load from tokenizer.json text in memory, with tokenizer_config.json text when config_json is not
 * NULL. `source` names the tokenizer in messages and in tk_tokenizer_source (may be NULL). The
 * texts are not kept. */
int tk_tokenizer_load_from_memory(const char *json, size_t len, const char *config_json,
                                  size_t config_len, const char *source, tk_tokenizer **out,
                                  tk_err *e);

/* Resolve NAME_OR_PATH the way the CLI and the cookbook do, then load:
 *   1. a tokenizer.json file or a directory holding one;
 *   2. a model name ("Qwen/Qwen3-8B", with any ":suffix" removed) in the Hugging Face cache
 *      ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub:
 *      models--Org--Name/snapshots/<rev>/), using refs/main when present;
 *   3. a download from the hub ($HF_ENDPOINT, default https://huggingface.co; $HF_TOKEN if set)
 *      into that cache, unless $HF_HUB_OFFLINE=1.
 * meta-llama/Llama-3* names are substituted by an ungated copy of the same tokenizer as the
 * cookbook does. When nothing is found the error lists every place searched. */
int tk_tokenizer_load_by_name(const char *name_or_path, tk_tokenizer **out, tk_err *e);

/* Load a tiktoken-style encoding: a ranks file ("<base64 token> <rank>" per line, rank = id), the
 * split pattern (PCRE syntax; o200k's and cl100k-style patterns as tiktoken writes them), and
 * special tokens (names and ids, n of them; matched like added tokens, and treated as text with
 * split_special_tokens, i.e. tiktoken's encode_ordinary). Token strings are shown in the
 * byte-level alphabet, as HF's conversions of these encodings do. Errors name file:line. */
int tk_tokenizer_load_tiktoken(const char *ranks_path, const char *pattern,
                               const char *const *special_names, const int32_t *special_ids,
                               size_t n_special, tk_tokenizer **out, tk_err *e);

void tk_tokenizer_free(tk_tokenizer *t);

/* ---- encode / decode ------------------------------------------------------------------------- */

typedef struct tk_encode_opts {
    bool add_special_tokens;    /* apply the post-processor (e.g. prepend <|begin_of_text|>) */
    bool split_special_tokens;  /* true: special-token text is tokenized as ordinary text */
} tk_encode_opts;

/* Encode text[0..len) and append the ids to out. Any bytes are accepted: NUL is a character, and
 * each maximal ill-formed UTF-8 subsequence is read as U+FFFD (what Python's
 * decode("utf-8", "replace") gives HF). TK_ERANGE for input over 4 GiB or a single pre-token
 * over 16 MiB (one unbroken run of letters or symbols); TK_ENOMEM. On failure out keeps its
 * previous length. Thread-safe (per-thread scratch state is kept until the thread exits). */
int tk_tokenizer_encode(const tk_tokenizer *t, const char *text, size_t len, tk_encode_opts opts,
                        tk_vec_i32 *out, tk_err *e);

/* Decode ids and append UTF-8 to out. An id that is not a token (negative, >= vocab size, or in
 * a gap of the id space) is TK_ERANGE naming its index (HF would silently drop it); out is then
 * unchanged. Byte sequences that are not valid UTF-8 become U+FFFD, as Hugging Face's decoder
 * does. skip_special_tokens leaves out added tokens marked "special". */
int tk_tokenizer_decode(const tk_tokenizer *t, const int32_t *ids, size_t n,
                        bool skip_special_tokens, tk_buf *out, tk_err *e);

/* Streaming decode: feed ids one batch at a time; only whole UTF-8 characters are emitted,
 * the bytes of an unfinished character are held until the next call (or flushed as U+FFFD by
 * _finish). The text emitted over all calls equals tk_tokenizer_decode of all the ids. A batch
 * with a bad id is an error and is dropped whole; the decoder stays usable. _new returns NULL on
 * OOM or a NULL tokenizer; free with _free. Not thread-safe per decoder; the tokenizer must
 * outlive it. */
typedef struct tk_stream_decoder tk_stream_decoder;
tk_stream_decoder *tk_stream_decoder_new(const tk_tokenizer *t, bool skip_special_tokens);
int tk_stream_decoder_push(tk_stream_decoder *d, const int32_t *ids, size_t n, tk_buf *out,
                           tk_err *e);
int tk_stream_decoder_finish(tk_stream_decoder *d, tk_buf *out, tk_err *e);
void tk_stream_decoder_free(tk_stream_decoder *d);

/* ---- vocabulary ------------------------------------------------------------------------------ */

/* Number of ids (largest id + 1, including added tokens). */
int32_t tk_tokenizer_vocab_size(const tk_tokenizer *t);
/* Id of a token's exact string form (as in the vocab: "Ġthe", "<|im_end|>"), or -1. */
int32_t tk_tokenizer_token_to_id(const tk_tokenizer *t, const char *token, size_t len);
/* String form of id (borrowed, lives as long as t; NUL-terminated; *len set if not NULL), or
 * NULL when out of range. */
const char *tk_tokenizer_id_to_token(const tk_tokenizer *t, int32_t id, size_t *len);
/* Raw bytes that id decodes to (borrowed), or NULL when out of range. */
const char *tk_tokenizer_id_to_bytes(const tk_tokenizer *t, int32_t id, size_t *len);
/* True for added tokens marked "special". */
bool tk_tokenizer_is_special(const tk_tokenizer *t, int32_t id);
/* BOS / EOS / pad ids from tokenizer_config.json (bos_token, eos_token, pad_token; a string or
 * {"content": ...}); without a config, BOS is the first special token of the post-processor's
 * template. -1 when none (a missing pad_token stays -1, as in Python; transformers.js would use
 * EOS). */
int32_t tk_tokenizer_bos_id(const tk_tokenizer *t);
int32_t tk_tokenizer_eos_id(const tk_tokenizer *t);
int32_t tk_tokenizer_pad_id(const tk_tokenizer *t);
/* tokenizer_config.json's clean_up_tokenization_spaces (false when absent). Python's
 * transformers applies this clean-up (" ." -> ".", " 's" -> "'s", ...) in its decode; HF's
 * tokenizers and tk_tokenizer_decode do not. */
bool tk_tokenizer_clean_up_tokenization_spaces(const tk_tokenizer *t);
/* The chat template from tokenizer_config.json (borrowed), or NULL. */
const char *tk_tokenizer_chat_template(const tk_tokenizer *t);
/* Where it was loaded from (borrowed): the directory or file path. */
const char *tk_tokenizer_source(const tk_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_TOKENIZER_H */
