/* Ancestral unmasking step shared by the masked-token samplers. */
#include <math.h>

#include "duet/data.h"
#include "duet/rng.h"
#include "objectives_impl.h"

void masked_unmask_step(int32_t *z, const float *logits, int n, int len, int V, double p_unmask,
                        float temp, uint64_t seed, uint32_t step, uint32_t first_index,
                        float *probs)
{
    for (int r = 0; r < n; r++) {
        duet_rng rng = duet_rng_keyed(seed, step, first_index + (uint32_t)r, DUET_STREAM_SAMPLE);
        for (int l = 0; l < len; l++) {
            int32_t *zi = z + (size_t)r * len + l;
            double coin = duet_rng_uniform64(&rng), u = duet_rng_uniform64(&rng);
            if (*zi != DUET_TOK_MASK || coin >= p_unmask)
                continue;
            const float *lg = logits + ((size_t)r * len + l) * V;
            float mx = -INFINITY;
            for (int v = 0; v < V; v++)
                if (v != DUET_TOK_MASK && lg[v] > mx)
                    mx = lg[v];
            double zsum = 0.0;
            for (int v = 0; v < V; v++) {
                probs[v] = v == DUET_TOK_MASK ? 0.0f : expf((lg[v] - mx) / temp);
                zsum += probs[v];
            }
            for (int v = 0; v < V; v++)
                probs[v] = (float)(probs[v] / zsum);
            *zi = sample_categorical(probs, V, u);
        }
    }
}
