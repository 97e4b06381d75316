/* libFuzzer: the client's readers of server answers — retrieve_future classification (the first
 * byte picks the Content-Type) and the Retry-After / retry-after-ms / x-should-retry parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/poll_answer.h"
#include "client/retry_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const types[] = {NULL, "application/json", "application/x-protobuf",
                                        "text/html"};
    if (size == 0) return 0;
    tk_poll_info info;
    tk_poll_classify(types[data[0] % 4], (const char *)data + 1, size - 1, &info);
    if (info.kind > TK_POLL_GARBAGE || memchr(info.category, 0, sizeof info.category) == NULL)
        abort();
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    double d = tk_client_retry_after_s(data[0] & 1 ? s : NULL, data[0] & 2 ? s : NULL, 1.7e9);
    if (!(d == -1.0 || (d > 0 && d <= 60))) abort();
    (void)tk_client_should_retry_header(s);
    free(s);
    return 0;
}
