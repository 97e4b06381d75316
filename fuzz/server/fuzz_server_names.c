/* Names and tinker:// paths from untrusted bytes: whatever is accepted can never leave its
 * directory (no '/', no "..", no leading '.', printable ASCII only). */
#include <stdlib.h>
#include <string.h>

#include "../../src/server/names.h"

static void check_name(const char *s, bool colon) {
    if (!*s || s[0] == '.' || strchr(s, '/') || strstr(s, "..")) abort();
    for (const char *p = s; *p; p++)
        if (*p < 0x21 || *p > 0x7e || (*p == ':' && !colon)) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, data, n);
    s[n] = '\0';
    tk_err e = {0};
    if (tk_server_name_check("name", s, false, &e) == 0) check_name(s, false);
    if (tk_server_name_check("run", s, true, &e) == 0) check_name(s, true);
    char run[TK_SERVER_ID_MAX], name[TK_SERVER_NAME_MAX];
    tk_server_ckpt_kind k;
    if (tk_server_tinker_path_parse(s, run, &k, name, &e) == 0) {
        check_name(run, true);
        check_name(name, false);
        if (k != TK_SERVER_CKPT_WEIGHTS && k != TK_SERVER_CKPT_SAMPLER) abort();
    } else if (!e.msg[0]) {
        abort(); /* every refusal says why */
    }
    free(s);
    return 0;
}
