/* duet/model.h — parameters and the transformer building blocks.
 *
 * Parameters: every tensor of a model lives in ONE contiguous float slab,
 * described by a table of named tensors (name, shape, offset, flags).
 * Gradients, AdamW moments and the weight EMA are slabs with the same
 * layout, so the optimizer, gradient allreduce and checkpoints are single
 * loops over a buffer. Modules remember offsets, never pointers: forward
 * takes the slab base W (raw weights or the EMA), backward W and dW.
 *
 * Blocks (SPEC 1.1-1.3): pre-norm LLaMA-style stacks with RMSNorm or
 * LayerNorm, RoPE or learned positions, bidirectional / causal / prefix
 * masks, SwiGLU or GELU MLP, optional cross-attention, optional time
 * conditioning (adaLN per sequence or per token, or additive).
 */
#ifndef DUET_MODEL_H
#define DUET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "duet/ops.h"
#include "duet/util.h"

/* ------------------------------------------------------------------ params */

enum duet_init { DUET_INIT_NORMAL = 0, DUET_INIT_ZERO = 1, DUET_INIT_ONE = 2 };

/* Tensor flags. */
enum {
    DUET_TF_DECAY = 1u << 0,  /* AdamW weight decay applies (matrices only) */
    DUET_TF_FROZEN = 1u << 1, /* optimizer skips it (e.g. a frozen encoder) */
};

#define DUET_TENSOR_NAME_MAX 64

typedef struct duet_tensor {
    char name[DUET_TENSOR_NAME_MAX];
    int ndim;
    int shape[4];
    size_t offset, count; /* in floats, within the slab */
    unsigned flags;
    int group;            /* module id chosen by the objective (enc, dif, dec, ...) */
    enum duet_init init;
    float init_std;
} duet_tensor;

typedef struct duet_params {
    duet_tensor *t;
    int n, cap;
    size_t total; /* floats in the slab */
    float *w;     /* parameters (NULL until duet_params_alloc) */
    float *g;     /* gradients, same layout */
    int cur_group; /* group stamped on tensors added from now on */
} duet_params;

void duet_params_init(duet_params *p);
void duet_params_free(duet_params *p);
/* Registers a tensor (before alloc); returns its index. Names must be unique
 * (fatal otherwise: a programming error, not user input). */
int duet_params_add(duet_params *p, const char *name, int ndim, const int *shape,
                    enum duet_init init, float init_std, unsigned flags);
/* Allocates w and g (64-byte aligned, zeroed) once all tensors are added. */
void duet_params_alloc(duet_params *p);
/* Deterministic initialisation: tensor values depend only on (seed, name),
 * never on creation order (Philox keyed by a hash of the name). */
void duet_params_init_values(duet_params *p, uint64_t seed);
const duet_tensor *duet_params_find(const duet_params *p, const char *name);
static inline size_t duet_params_offset(const duet_params *p, int idx) { return p->t[idx].offset; }
void duet_params_zero_grad(duet_params *p);
/* Checksum of a float buffer (bitwise; equal iff replicas are identical w.h.p.). */
uint64_t duet_checksum_floats(const float *x, size_t n);

/* -------------------------------------------------------- time embedding */

/* temb = Wt2 SiLU(Wt1 e(s) + bt1) + bt2 (SPEC 1.2), Dt = 256. */
typedef struct duet_time_embed {
    int dim, dt;
    size_t off_w1, off_b1, off_w2, off_b2;
    int max_n;
    float *e, *pre, *act; /* caches [max_n, dt], [max_n, dim], [max_n, dim] */
    float *ws;            /* backward scratch [2, max_n, dim] */
} duet_time_embed;

void duet_time_embed_create(duet_time_embed *te, duet_params *p, const char *prefix, int dim,
                            int max_n, float init_std);
void duet_time_embed_free(duet_time_embed *te);
/* s[n] is the scaled time (1000 t, or t*1000/T); out [n, dim]. */
void duet_time_embed_forward(duet_time_embed *te, const float *W, float *out, const float *s,
                             int n);
/* Parameter gradients only (s is data); W as given to the forward. */
void duet_time_embed_backward(duet_time_embed *te, const float *W, float *dW, const float *dout,
                              int n);

/* ----------------------------------------------------------------- stack */

enum duet_mlp_kind { DUET_MLP_SWIGLU = 0, DUET_MLP_GELU = 1 };
enum duet_norm_kind { DUET_NORM_RMS = 0, DUET_NORM_LAYER = 1 };
enum duet_pos_kind { DUET_POS_ROPE = 0, DUET_POS_LEARNED = 1, DUET_POS_NONE = 2 };
enum duet_cond_kind { DUET_COND_NONE = 0, DUET_COND_ADALN = 1, DUET_COND_ADD = 2 };

typedef struct duet_stack_config {
    int dim, n_layer, n_head, ffn_dim; /* ffn_dim 0: SwiGLU 64*ceil(8D/3/64), GELU 4D */
    enum duet_mlp_kind mlp;
    enum duet_norm_kind norm;
    enum duet_pos_kind pos;
    duet_mask_mode mask;
    enum duet_cond_kind cond;
    int cond_per_token;  /* conditioning vectors are [B,T,D] instead of [B,D] */
    int cross_attn;      /* every block attends to a memory [B,Tm,D] after self-attention */
    int final_norm;      /* end with a norm (adaLN-modulated when cond = ADALN) */
    int max_batch, max_seq, max_mem; /* activation buffers are sized once from these */
    float init_std;      /* 0.02; Wo and W2 get init_std/sqrt(2 n_layer); adaLN zero */
} duet_stack_config;

/* Per-call inputs besides the hidden states. */
typedef struct duet_stack_io {
    const float *cond;        /* [B,D] or [B,T,D] (temb) when cond != NONE, else NULL */
    duet_attn_mask self_mask; /* mode must equal the config's mask; padding per call */
    const float *mem;         /* [B,Tm,D] cross-attention memory, or NULL */
    const uint8_t *mem_valid; /* [B,Tm] or NULL */
    int mem_len;              /* Tm */
    int pos0;                 /* position of row t is pos0 + t (RoPE / learned) */
} duet_stack_io;

/* Called during backward whenever every parameter gradient at offsets >= lo
 * is final, so the trainer can start allreducing those buckets. */
typedef struct duet_grad_hook {
    void (*ready)(void *user, size_t lo);
    void *user;
} duet_grad_hook;

typedef struct duet_stack duet_stack;

/* Registers the stack's tensors as "<prefix>.<layer>.<name>" and allocates its
 * activation caches. Returns NULL with a message for an invalid config
 * (e.g. dim not divisible by n_head). */
duet_stack *duet_stack_create(duet_params *p, const char *prefix, const duet_stack_config *c,
                              duet_err *err);
void duet_stack_free(duet_stack *s);
const duet_stack_config *duet_stack_cfg(const duet_stack *s);
/* Lowest slab offset of the stack's tensors (for grad hooks of callers). */
size_t duet_stack_lo_offset(const duet_stack *s);

/* h [B,T,D]: input on entry, output on return (after the final norm if
 * configured). Caches everything backward needs, sized for max shapes. */
void duet_stack_forward(duet_stack *s, const float *W, float *h, const duet_stack_io *io,
                        int B, int T);
/* dh [B,T,D]: gradient w.r.t. the stack output (read only). Accumulates into
 * dinput [B,T,D], dcond (shape of cond), dmem [B,Tm,D] and parameter
 * gradients dW; any may be NULL. Caches are left intact. */
void duet_stack_backward(duet_stack *s, const float *W, float *dW, const float *dh,
                         float *dinput, float *dcond, float *dmem, const duet_stack_io *io,
                         int B, int T, const duet_grad_hook *hook);

/* FLOPs of one forward over B*T tokens (matmuls + attention), for benchmarks. */
double duet_stack_flops_forward(const duet_stack_config *c, int B, int T, int Tm);
/* Bytes of activation caches the stack allocated. */
size_t duet_stack_activation_bytes(const duet_stack *s);

#endif
