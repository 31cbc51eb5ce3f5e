/* Private to src/objectives (and its unit test): the LDDM networks and the
 * frozen encoder (SPEC 5). One lddm_net type serves both networks:
 *   D_theta: tokens (V > 0) and latent slots in one joint sequence;
 *   G_phi:   latent slots only (V = 0), SEQ's latent prior.
 * Input per slot: Dy -> 4D -> D MLP (SiLU); time: adaLN from the latent time;
 * heads: Linear(D -> V) on token rows, Linear(D -> Dy) on slot rows.
 */
#ifndef DUET_OBJECTIVES_LDDM_H
#define DUET_OBJECTIVES_LDDM_H

#include <stdint.h>

#include "duet/config.h"
#include "duet/model.h"

typedef struct lddm_net {
    int V;     /* token vocabulary; 0: latent-only network */
    int yhead; /* has the latent (y0_hat) head */
    int D, Dy, Ly, max_batch, max_len;
    size_t off_lo, off_emb, off_y1, off_y2, off_head, off_yhead;
    duet_stack *stack;
    duet_time_embed te;
    float *h, *dh, *din;      /* [B*(L+Ly), D] joint stream */
    float *yin, *ypre, *yact; /* [B*Ly, Dy], [B*Ly, 4D] x2 */
    float *dpre, *dact;       /* [B*Ly, 4D] */
    float *ox, *oy, *dox, *doy; /* stack outputs of token / slot rows and their gradients */
    float *logits;            /* [B*L, V]; dlogits once the loss wrote them */
    float *yhat, *dyhat;      /* [B*Ly*Dy] */
    float *temb, *dtemb;      /* [B, D] */
    int32_t *ids;             /* [B*L] */
} lddm_net;

int lddm_net_create(lddm_net *n, duet_params *p, const duet_config *cfg, const char *prefix,
                    int V, int yhead, int max_batch, duet_err *err);
void lddm_net_free(lddm_net *n);
/* ids [B,L] (ignored when V = 0, pass L = 0), y_in [B,Ly,Dy], time_scaled [B]
 * (1000 t of the latent chain). Leaves n->logits and n->yhat. */
void lddm_net_forward(lddm_net *n, const float *W, const int32_t *ids, const float *y_in,
                      const float *time_scaled, int B, int L);
/* Backward from n->logits (dlogits, when V > 0) and n->dyhat (when yhead). */
void lddm_net_backward(lddm_net *n, const float *W, float *dW, int B, int L,
                       const duet_grad_hook *hook);

/* The token denoiser D_theta of an lddm-fuji / lddm-seq objective (tests). */
struct duet_objective;
lddm_net *lddm_denoiser(struct duet_objective *o);

/* Frozen encoder (our [choice] for SPEC 5.1's pretrained one): a fixed
 * random table E [V, Dy], ChunkMeanEOS of E[enc_ids] over the non-PAD
 * positions of tokens into Ly slots, each slot L2-normalized; y0 = 0 for a
 * sequence of fewer than Ly tokens. y0: [B, Ly, Dy]. */
void lddm_encode(float *y0, const float *E, const int32_t *enc_ids, const int32_t *tokens, int B,
                 int L, int Ly, int Dy);

#endif
