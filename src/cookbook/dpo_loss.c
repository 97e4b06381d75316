/* The DPO loss over interleaved chosen/rejected datums and its gradient with respect to the
 * policy's per-token logprobs (what forward_backward_custom sends back as weights = -grad).
 *   Δ_i = Σ_k w_ik·lp_ik − ref_i,  z_p = β(Δ_2p − Δ_2p+1),  loss = (1/P) Σ_p −log σ(z_p)
 *   d loss / d lp_2p,k = −β σ(−z_p) w_2p,k / P,   d loss / d lp_2p+1,k = +β σ(−z_p) w_2p+1,k / P */
#include "tinkerc/cookbook.h"

#include <math.h>

/* −log σ(z) without overflow: log(1 + e^−z). */
static double neg_log_sigmoid(double z) { return z >= 0 ? log1p(exp(-z)) : -z + log1p(exp(z)); }
static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

int tk_dpo_loss(const tk_wire_datum *data, size_t n_pairs, const float *const *logprobs, const size_t *lens,
                const double *ref_sums, double beta, float *const *grad, tk_dpo_stats *out, tk_err *e) {
    *out = (tk_dpo_stats){.num_pairs = n_pairs};
    if (n_pairs == 0) return tk_err_set(e, TK_EINVAL, "DPO loss: no pairs");
    double delta[2], loss = 0, acc = 0, margin = 0, cr = 0, rr = 0;
    for (size_t p = 0; p < n_pairs; p++) {
        for (int s = 0; s < 2; s++) {
            size_t i = 2 * p + (size_t)s;
            const tk_wire_tensor *w = tk_wire_tensor_map_get(&data[i].loss_fn_inputs, "weights");
            if (!w || w->dtype != TK_WIRE_FLOAT32 || w->n != lens[i])
                return tk_err_set(e, TK_EINVAL, "DPO loss: data[%zu]: %zu logprobs for %zu weights", i, lens[i],
                                  w ? w->n : 0);
            double pi = 0;
            for (size_t k = 0; k < w->n; k++) pi += (double)w->data.f32[k] * (double)logprobs[i][k];
            delta[s] = pi - ref_sums[i];
        }
        double z = beta * (delta[0] - delta[1]);
        loss += neg_log_sigmoid(z);
        acc += delta[0] > delta[1];
        margin += z;
        cr += beta * delta[0];
        rr += beta * delta[1];
        if (grad) {
            double g = beta * sigmoid(-z) / (double)n_pairs;
            for (int s = 0; s < 2; s++) {
                size_t i = 2 * p + (size_t)s;
                const tk_wire_tensor *w = tk_wire_tensor_map_get(&data[i].loss_fn_inputs, "weights");
                double sign = s == 0 ? -1.0 : 1.0;
                for (size_t k = 0; k < w->n; k++) grad[i][k] = (float)(sign * g * (double)w->data.f32[k]);
            }
        }
    }
    double P = (double)n_pairs;
    out->loss = loss / P;
    out->accuracy = acc / P;
    out->margin = margin / P;
    out->chosen_reward = cr / P;
    out->rejected_reward = rr / P;
    return 0;
}
