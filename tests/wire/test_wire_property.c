/* Seeded property tests: for every message type, 1000 random objects survive
 * JSON encode -> decode -> equal (and re-encoding gives the same bytes); for the three protobuf
 * messages, 1000 random objects survive protobuf encode -> decode -> equal. */
#include "test_util.h"
#include "tinkerc/wire.h"
#include "wire_testlib.h"

#define N_OBJECTS 1000

static void json_round_trips(void **state) {
    (void)state;
    tk_rng rng;
    tk_rng_seed(&rng, 20260101);
    char why[512];
    for (int t = 0; t < TK_WIRE_MSG_COUNT_; t++) {
        const tk_wire_msg_info *info = tk_wire_msg_get_info((tk_wire_msg)t);
        assert_non_null(info);
        for (int i = 0; i < N_OBJECTS; i++) {
            tk_arena *a = tk_arena_new(0);
            void *obj = tk_arena_zalloc(a, info->size), *back = tk_arena_zalloc(a, info->size);
            tw_random((tk_wire_msg)t, &rng, a, obj, 0);
            tk_err e = {0};
            tk_buf js = {0}, js2 = {0};
            int rc = tk_wire_json_encode((tk_wire_msg)t, obj, &js, &e);
            if (rc) fail_msg("%s #%d: encode: %s", info->name, i, e.msg);
            rc = tk_wire_json_decode((tk_wire_msg)t, js.data, js.len, a, back, &e);
            if (rc) fail_msg("%s #%d: decode: %s\n%s", info->name, i, e.msg, js.data);
            if (!tw_equal((tk_wire_msg)t, obj, back, why, sizeof why))
                fail_msg("%s #%d: round trip differs at %s\n%s", info->name, i, why, js.data);
            assert_ok(tk_wire_json_encode((tk_wire_msg)t, back, &js2, &e), &e);
            if (js.len != js2.len || memcmp(js.data, js2.data, js.len))
                fail_msg("%s #%d: re-encoding differs\n%s\n%s", info->name, i, js.data, js2.data);
            tk_buf_free(&js);
            tk_buf_free(&js2);
            tk_arena_free(a);
        }
    }
}

typedef int (*enc_fn)(const void *, tk_buf *, tk_err *);
typedef int (*dec_fn)(const void *, size_t, tk_arena *, void *, tk_err *);

static void proto_round_trip(tk_wire_msg t, enc_fn enc, dec_fn dec, uint64_t seed) {
    const tk_wire_msg_info *info = tk_wire_msg_get_info(t);
    tk_rng rng;
    tk_rng_seed(&rng, seed);
    char why[512];
    for (int i = 0; i < N_OBJECTS; i++) {
        tk_arena *a = tk_arena_new(0);
        void *obj = tk_arena_zalloc(a, info->size), *back = tk_arena_zalloc(a, info->size);
        tw_random(t, &rng, a, obj, TW_FOR_PROTO);
        tk_err e = {0};
        tk_buf pb = {0};
        int rc = enc(obj, &pb, &e);
        if (rc) fail_msg("%s #%d: proto encode: %s", info->name, i, e.msg);
        rc = dec(pb.data, pb.len, a, back, &e);
        if (rc) fail_msg("%s #%d: proto decode: %s", info->name, i, e.msg);
        if (!tw_equal(t, obj, back, why, sizeof why)) fail_msg("%s #%d: proto round trip differs at %s", info->name, i, why);
        tk_buf_free(&pb);
        tk_arena_free(a);
    }
}

static void proto_round_trips(void **state) {
    (void)state;
    proto_round_trip(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, (enc_fn)tk_wire_proto_encode_forward_backward_request,
                     (dec_fn)tk_wire_proto_decode_forward_backward_request, 1);
    proto_round_trip(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, (enc_fn)tk_wire_proto_encode_forward_backward_output,
                     (dec_fn)tk_wire_proto_decode_forward_backward_output, 2);
    proto_round_trip(TK_WIRE_MSG_SAMPLE_RESPONSE, (enc_fn)tk_wire_proto_encode_sample_response,
                     (dec_fn)tk_wire_proto_decode_sample_response, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trips),
        cmocka_unit_test(proto_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
