/* seq_id ordering as a data structure: chunk groups arriving k+1..k+n-1 then k, retries,
 * conflicting retries, rejected seq_ids, stale and far-ahead seq_ids, gap expiry, drain. */
#include "test_util.h"

#include "server/sequencer.h"

/* Jobs are small integers cast to pointers; `rel` collects released ones. */
#define J(n) ((void *)(intptr_t)(n))

static void expect_released(tk_server_ptr_vec *rel, const int *want, size_t n) {
    assert_int_equal(rel->len, n);
    for (size_t i = 0; i < n; i++) assert_int_equal((intptr_t)rel->data[i], want[i]);
    rel->len = 0;
}

static int submit(tk_server_seq *q, int64_t seq, uint64_t hash, const char *rid, tk_server_ptr_vec *rel,
                  tk_server_seq_result *r) {
    return tk_server_seq_submit(q, "m", seq, hash, rid, J(seq), 1.0, rel, r);
}

static void test_in_order_and_chunks(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0};
    tk_server_seq_result r;
    assert_int_equal(submit(&q, 1, 11, "r1", &rel, &r), 0);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_QUEUED);
    expect_released(&rel, (int[]){1}, 1);
    /* a forward_backward in 4 chunks 2..5, the first chunk (2) last, then optim_step 6 */
    submit(&q, 4, 14, "r4", &rel, &r);
    submit(&q, 3, 13, "r3", &rel, &r);
    submit(&q, 5, 15, "r5", &rel, &r);
    assert_int_equal(rel.len, 0); /* nothing runs before chunk 2 */
    assert_int_equal(q.n_buffered, 3);
    assert_true(q.blocked_since > 0);
    submit(&q, 2, 12, "r2", &rel, &r);
    expect_released(&rel, (int[]){2, 3, 4, 5}, 4);
    assert_int_equal(q.blocked_since, 0);
    submit(&q, 6, 16, "r6", &rel, &r);
    expect_released(&rel, (int[]){6}, 1);
    assert_int_equal(q.next, 7);
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
}

static void test_retries(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0};
    tk_server_seq_result r;
    submit(&q, 1, 100, "first", &rel, &r);
    submit(&q, 3, 300, "third", &rel, &r); /* buffered */
    rel.len = 0;
    /* retry of a released one and of a buffered one: original ids, nothing released again */
    submit(&q, 1, 100, "again", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_DUPLICATE);
    assert_string_equal(r.rid, "first");
    submit(&q, 3, 300, "again", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_DUPLICATE);
    assert_string_equal(r.rid, "third");
    assert_int_equal(rel.len, 0);
    /* hash 0 = not compared */
    submit(&q, 1, 0, "again", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_DUPLICATE);
    /* same seq_id, different body: refused, naming the first request */
    submit(&q, 1, 999, "other", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_non_null(strstr(r.msg, "already used by a different request (request_id first)"));
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
}

static void test_rejected_seq_does_not_stall(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0};
    tk_server_seq_result r;
    submit(&q, 1, 1, "r1", &rel, &r);
    rel.len = 0;
    submit(&q, 3, 3, "r3", &rel, &r);
    submit(&q, 4, 4, "r4", &rel, &r);
    assert_int_equal(rel.len, 0);
    /* seq 2 arrives malformed: rejected, consumed, and 3 and 4 run */
    assert_int_equal(tk_server_seq_reject(&q, "m", 2, 2, "loss_fn: unknown \"xent\"", 1.0, &rel, &r), 0);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    expect_released(&rel, (int[]){3, 4}, 2);
    /* a retry of the rejected seq gets the same refusal */
    submit(&q, 2, 2, "r2", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_string_equal(r.msg, "loss_fn: unknown \"xent\"");
    /* a rejection that arrives early is remembered until the queue gets there */
    tk_server_seq_reject(&q, "m", 6, 6, "bad", 1.0, &rel, &r);
    submit(&q, 7, 7, "r7", &rel, &r);
    assert_int_equal(rel.len, 0);
    submit(&q, 5, 5, "r5", &rel, &r);
    expect_released(&rel, (int[]){5, 7}, 2);
    /* rejecting a seq that already ran does not change it */
    tk_server_seq_reject(&q, "m", 5, 5, "late", 1.0, &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_DUPLICATE);
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
}

static void test_window(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0};
    tk_server_seq_result r;
    submit(&q, 0, 1, "r0", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_non_null(strstr(r.msg, "seq_id 0 of model m is behind the queue (next expected seq_id 1)"));
    submit(&q, 1 + TK_SERVER_SEQ_MAX_AHEAD, 1, "far", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_non_null(strstr(r.msg, "too far ahead"));
    submit(&q, TK_SERVER_SEQ_MAX_AHEAD, 1, "edge", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_QUEUED);
    /* records older than the retry window are forgotten: such a seq is refused as stale */
    for (int64_t k = 1; k < TK_SERVER_SEQ_MAX_AHEAD; k++) submit(&q, k, (uint64_t)k, "x", &rel, &r);
    assert_int_equal(rel.len, TK_SERVER_SEQ_MAX_AHEAD);
    assert_true(q.recs.len <= TK_SERVER_SEQ_KEEP + 1);
    submit(&q, 1, 1, "old", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
}

static void test_gap_expiry(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0};
    tk_server_seq_result r;
    tk_server_seq_submit(&q, "m", 4, 4, "r4", J(4), 10.0, &rel, &r);
    tk_server_seq_submit(&q, "m", 6, 6, "r6", J(6), 11.0, &rel, &r);
    assert_int_equal(tk_server_seq_expire(&q, 12.0, 5.0, &rel), 0); /* not long enough */
    assert_int_equal(rel.len, 0);
    assert_int_equal(tk_server_seq_expire(&q, 15.5, 5.0, &rel), 3); /* skips 1, 2, 3 */
    expect_released(&rel, (int[]){4}, 1);
    /* 5 is still missing: the clock restarted at the progress */
    assert_int_equal(tk_server_seq_expire(&q, 16.0, 5.0, &rel), 0);
    assert_int_equal(tk_server_seq_expire(&q, 21.0, 5.0, &rel), 1);
    expect_released(&rel, (int[]){6}, 1);
    /* a skipped seq that turns up late is refused */
    tk_server_seq_submit(&q, "m", 2, 2, "late", J(2), 22.0, &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_non_null(strstr(r.msg, "skipped after a gap timeout"));
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
}

static void test_drain(void **state) {
    (void)state;
    tk_server_seq q;
    tk_server_seq_init(&q, 1);
    tk_server_ptr_vec rel = {0}, drained = {0};
    tk_server_seq_result r;
    submit(&q, 2, 2, "r2", &rel, &r);
    submit(&q, 3, 3, "r3", &rel, &r);
    assert_int_equal(tk_server_seq_drain(&q, &drained), 0);
    assert_int_equal(drained.len, 2);
    assert_int_equal(q.n_buffered, 0);
    submit(&q, 2, 2, "again", &rel, &r);
    assert_int_equal(r.outcome, TK_SERVER_SEQ_REFUSED);
    assert_non_null(strstr(r.msg, "unloaded"));
    tk_server_seq_free(&q);
    tk_vec_free(&rel);
    tk_vec_free(&drained);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_chunks), cmocka_unit_test(test_retries),
        cmocka_unit_test(test_rejected_seq_does_not_stall), cmocka_unit_test(test_window),
        cmocka_unit_test(test_gap_expiry), cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
