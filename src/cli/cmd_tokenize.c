/* tinkerc tokenize: text -> token ids (one JSON array) or, with --decode, ids -> text. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "tinkerc/base.h"
#include "tinkerc/tokenizer.h"

int tk_cmd_tokenize(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc tokenize --tokenizer NAME_OR_PATH [options] [FILE]\n"
            "\n"
            "Reads FILE (or stdin) as raw bytes and prints its token ids as one JSON array.\n"
            "With --decode, reads a JSON array of ids and prints the text they decode to.\n"
            "\n"
            "NAME_OR_PATH is a tokenizer.json file, a model directory, or a model name\n"
            "(\"Qwen/Qwen3-8B\") looked up in the Hugging Face cache and downloaded if needed.\n"
            "\n"
            "options:\n"
            "  --add-special-tokens    apply the post-processor (e.g. prepend BOS)\n"
            "  --split-special-tokens  tokenize special-token text (\"<|im_end|>\") as plain text\n"
            "  --decode                ids -> text\n"
            "  --skip-special-tokens   with --decode: leave special tokens out\n");
}

static int read_all(const char *path, tk_buf *out) {
    if (path && strcmp(path, "-")) {
        tk_err e = {0};
        if (tk_file_read(path, out, 0, &e)) {
            fprintf(stderr, "tinkerc tokenize: %s\n", e.msg);
            return 1;
        }
        return 0;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (tk_buf_append(out, chunk, n)) {
            fprintf(stderr, "tinkerc tokenize: out of memory\n");
            return 1;
        }
    if (ferror(stdin)) {
        fprintf(stderr, "tinkerc tokenize: reading stdin: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static int print_ids(const tk_vec_i32 *ids) {
    tk_buf b = {0};
    int rc = tk_buf_putc(&b, '[');
    for (size_t k = 0; k < ids->len && !rc; k++) rc = tk_buf_printf(&b, k ? ",%d" : "%d", ids->data[k]);
    if (!rc) rc = tk_buf_puts(&b, "]\n");
    if (rc) {
        fprintf(stderr, "tinkerc tokenize: out of memory\n");
        tk_buf_free(&b);
        return 1;
    }
    fwrite(b.data, 1, b.len, stdout);
    tk_buf_free(&b);
    return 0;
}

static int decode_ids(const tk_tokenizer *t, const tk_buf *in, const char *what, bool skip) {
    tk_err e = {0};
    json_t *arr = NULL;
    if (tk_json_parse(in->data ? in->data : "", in->len, what, &arr, &e)) {
        fprintf(stderr, "tinkerc tokenize: %s\n", e.msg);
        return 1;
    }
    int status = 1;
    tk_vec_i32 ids = {0};
    tk_buf text = {0};
    if (!json_is_array(arr)) {
        fprintf(stderr, "tinkerc tokenize: %s: expected a JSON array of token ids\n", what);
        goto out;
    }
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *v = json_array_get(arr, k);
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX) {
            fprintf(stderr, "tinkerc tokenize: %s: [%zu]: expected an integer token id\n", what, k);
            goto out;
        }
        if (tk_vec_push(&ids, (int32_t)json_integer_value(v))) {
            fprintf(stderr, "tinkerc tokenize: out of memory\n");
            goto out;
        }
    }
    if (tk_tokenizer_decode(t, ids.data, ids.len, skip, &text, &e)) {
        fprintf(stderr, "tinkerc tokenize: %s\n", e.msg);
        goto out;
    }
    fwrite(text.data, 1, text.len, stdout);
    status = 0;
out:
    json_decref(arr);
    tk_vec_free(&ids);
    tk_buf_free(&text);
    return status;
}

int tk_cmd_tokenize(int argc, char **argv) {
    const char *name = NULL, *file = NULL;
    bool decode = false, skip = false;
    tk_encode_opts opts = {false, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strncmp(a, "--tokenizer=", 12)) {
            name = a + 12;
        } else if (!strcmp(a, "--add-special-tokens")) {
            opts.add_special_tokens = true;
        } else if (!strcmp(a, "--split-special-tokens")) {
            opts.split_special_tokens = true;
        } else if (!strcmp(a, "--decode")) {
            decode = true;
        } else if (!strcmp(a, "--skip-special-tokens")) {
            skip = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tinkerc tokenize: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "tinkerc tokenize: more than one FILE\n\n");
            usage(stderr);
            return 2;
        }
    }
    if (!name) {
        fprintf(stderr, "tinkerc tokenize: --tokenizer NAME_OR_PATH is required\n\n");
        usage(stderr);
        return 2;
    }
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    if (tk_tokenizer_load_by_name(name, &t, &e)) {
        fprintf(stderr, "tinkerc tokenize: %s\n", e.msg);
        return 1;
    }
    tk_buf in = {0};
    int status = read_all(file, &in);
    if (!status && decode) {
        status = decode_ids(t, &in, file ? file : "stdin", skip);
    } else if (!status) {
        tk_vec_i32 ids = {0};
        if (tk_tokenizer_encode(t, in.data, in.len, opts, &ids, &e)) {
            fprintf(stderr, "tinkerc tokenize: %s\n", e.msg);
            status = 1;
        } else {
            status = print_ids(&ids);
        }
        tk_vec_free(&ids);
    }
    if (fflush(stdout) && !status) {
        fprintf(stderr, "tinkerc tokenize: writing stdout: %s\n", strerror(errno));
        status = 1;
    }
    tk_buf_free(&in);
    tk_tokenizer_free(t);
    return status;
}
