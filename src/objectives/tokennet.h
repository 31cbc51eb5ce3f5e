/* Private to src/objectives: the sequence transformer shared by the
 * objectives (ar, mdlm, the code-level MDLMs of the VQ pipeline, and the
 * encoder / denoiser / decoder of the latent objectives):
 *   ids -> embedding, or vectors [din] -> linear "<prefix>.in" [D,din],
 *   -> stack (optionally time-conditioned) -> head [dout,D]
 * (dout = V for token logits, or a latent width).
 */
#ifndef DUET_OBJECTIVES_TOKENNET_H
#define DUET_OBJECTIVES_TOKENNET_H

#include "duet/config.h"
#include "duet/model.h"

typedef struct tokennet {
    int V, D, max_batch, max_seq;
    int din;            /* 0: token ids through the embedding; > 0: vector inputs */
    int dout;           /* head width: V (logits) or a latent width */
    int timed;          /* conditioned on a time embedding */
    size_t off_emb, off_head; /* off_emb: the input linear when din > 0 */
    duet_stack *stack;
    duet_time_embed te;
    float *h;           /* [B*L, D] stack input / output */
    float *dh;          /* [B*L, D] */
    float *logits;      /* [B*L, dout] outputs; backward reads their gradient here */
    float *x;           /* [B*L, din] vector input of the last forward (din > 0) */
    float *temb, *dtemb; /* [B, D] */
    int32_t *ids;       /* [B*L] input ids of the last forward */
    int32_t *sel;       /* [B*L] rows the head ran on (tokennet_forward_rows) */
    int nsel;           /* head rows of the last forward: all B*L, or the count in sel */
    int head_all;       /* the last forward ran the head on every row */
} tokennet;

/* Stack settings from the backbone keys of cfg (dim, n_layer, n_head, mlp,
 * ffn_dim, norm, pos, init_std) plus what the caller decides. */
duet_stack_config tokennet_stack_config(const duet_config *cfg, duet_mask_mode mask,
                                        enum duet_cond_kind cond, int max_batch, int max_seq);

/* Registers "<prefix>.emb" [V,D], the stack, "<prefix>.head" [V,D] (zero
 * initialised when head_zero). timed: adds a time embedding and expects
 * sc->cond = ADALN or ADD. */
int tokennet_create(tokennet *n, duet_params *p, const char *prefix, int V,
                    const duet_stack_config *sc, int head_zero, duet_err *err);
/* General form: din = 0 reads token ids of a vocabulary of V ("<prefix>.emb"),
 * din > 0 reads vectors through "<prefix>.in" [D,din] (no bias); the head
 * "<prefix>.head" is [dout,D]. */
int tokennet_create_io(tokennet *n, duet_params *p, const char *prefix, int V, int din, int dout,
                       const duet_stack_config *sc, int head_zero, duet_err *err);
void tokennet_free(tokennet *n);

/* Forward over ids [B,L]; time_scaled [B] (SPEC 1.2's s) when timed.
 * Leaves logits in n->logits. */
void tokennet_forward(tokennet *n, const float *W, const int32_t *ids, const float *time_scaled,
                      const duet_attn_mask *mask, int B, int L);
/* Same, but the head runs only on the nsel rows sel[] (increasing row
 * indices of [B*L], e.g. the positions that carry a loss): n->logits holds
 * [nsel, dout] and n->h the gathered [nsel, D] stack outputs. The backward
 * reads [nsel, dout] output gradients and gives the other rows a zero
 * gradient, so losses over those rows get the same gradients as with the
 * full head for nsel/(B*L) of its cost. */
void tokennet_forward_rows(tokennet *n, const float *W, const int32_t *ids,
                           const float *time_scaled, const duet_attn_mask *mask, int B, int L,
                           const int32_t *sel, int nsel);
/* Same with extra [B*L, D] added to the token embeddings (conditioning by
 * input addition); its gradient is left in n->logits by the backward. */
void tokennet_forward_add(tokennet *n, const float *W, const int32_t *ids, const float *extra,
                          const float *time_scaled, const duet_attn_mask *mask, int B, int L);
/* Backward from dlogits stored in n->logits (as written by
 * duet_xent_forward_backward). Accumulates parameter gradients into dW and
 * reports final gradients to hook (may be NULL). Leaves the gradient w.r.t.
 * the stack input (embeddings + extra) [B*L, D] in n->logits. */
void tokennet_backward(tokennet *n, const float *W, float *dW, const duet_attn_mask *mask, int B,
                       int L, const duet_grad_hook *hook);
/* Forward over vectors x [B,L,din] (din > 0); outputs in n->logits. */
void tokennet_forward_vec(tokennet *n, const float *W, const float *x, const float *time_scaled,
                          const duet_attn_mask *mask, int B, int L);
/* Backward of either forward from the output gradient in n->logits:
 * parameter gradients into dW unless NULL, input gradient ACCUMULATED into
 * dx [B,L,din] unless NULL (vector inputs only). With dW NULL only the input
 * gradient is computed (the latent objectives' gradient routing). */
void tokennet_backward_ex(tokennet *n, const float *W, float *dW, float *dx,
                          const duet_attn_mask *mask, int B, int L, const duet_grad_hook *hook);

#endif
