/* The seq_id queue driven by arbitrary operation sequences (submit, retry, reject, gap expiry,
 * drain). Invariants: a job is released at most once, releases of one queue come in strictly
 * increasing seq order, next never goes back, buffered counts stay consistent, refusals say why. */
#include <stdlib.h>
#include <string.h>

#include "../../src/server/sequencer.h"

#define MAX_JOBS 4096

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    static unsigned char released[MAX_JOBS + 64];
    memset(released, 0, sizeof released);
    tk_server_ptr_vec rel = {0}, drained = {0};
    tk_server_seq_result r;
    int64_t last = 0;
    double now = 1.0;
    for (size_t i = 0; i + 2 < n; i += 3) {
        unsigned op = data[i] % 5;
        int64_t seq = (int64_t)((data[i + 1] | (data[i + 2] << 8)) % (MAX_JOBS + 64)) - 32;
        uint64_t hash = data[i] >> 4;
        int64_t before = q.next;
        rel.len = 0;
        now += 0.5;
        if (op <= 1) {
            void *job = (void *)(intptr_t)(seq > 0 ? seq : 0); /* seq <= 0 is always refused */
            if (tk_server_seq_submit(&q, "m", seq, hash, "rid", job, now, &rel, &r)) break;
            if (r.outcome == TK_SERVER_SEQ_REFUSED && !r.msg[0]) abort();
            if (r.outcome == TK_SERVER_SEQ_QUEUED && (seq < before || seq <= 0)) abort();
        } else if (op == 2) {
            if (tk_server_seq_reject(&q, "m", seq, hash, "bad", now, &rel, &r)) break;
        } else if (op == 3) {
            if (tk_server_seq_expire(&q, now, 2.0, &rel) < 0) break;
        } else {
            if (tk_server_seq_drain(&q, &drained)) break;
            if (q.n_buffered != 0) abort();
        }
        if (q.next < before) abort();
        for (size_t k = 0; k < rel.len; k++) {
            intptr_t j = (intptr_t)rel.data[k];
            if (j <= 0 || j >= MAX_JOBS + 64 || released[j] || j <= last) abort();
            released[j] = 1;
            last = j;
        }
        size_t buffered = 0;
        for (size_t k = 0; k < q.recs.len; k++) {
            if (k && q.recs.data[k].seq <= q.recs.data[k - 1].seq) abort(); /* sorted, unique */
            if (q.recs.data[k].job) buffered++;
        }
        if (buffered != q.n_buffered) abort();
    }
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
    tk_vec_free(&drained);
    return 0;
}
