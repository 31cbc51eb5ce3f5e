/* duet/config_keys.h — the table of every configuration key.
 *
 * Included only by duet/config.h, which defines the scope letters
 * P (duet-prep), T (duet-train; stored in checkpoints), S (duet-sample),
 * E (duet-eval), BN (benchmarks).
 *
 * X(type, name, default, min, max, choices, scope, help)
 *   type     INT | FLOAT | BOOL | STR | ENUM
 *   min/max  inclusive range for INT and FLOAT (ignored otherwise)
 *   choices  "a|b|c" for ENUM, NULL otherwise
 * Keep keys grouped by the module that reads them.
 */
#ifndef DUET_CONFIG_KEYS_H
#define DUET_CONFIG_KEYS_H

#define DUET_CONFIG_KEYS(X) \
    /* ---- every binary ---- */ \
    X(INT, seed, "1234", 0, 2147483647, NULL, P | T | S | E | BN, "random seed (all draws are keyed by it)") \
    X(INT, threads, "1", 1, 256, NULL, P | T | S | E | BN, "threads per rank (OpenBLAS GEMMs and OpenMP loops)") \
    \
    /* ---- data: tokenizer and shards (duet-prep) ---- */ \
    X(STR, input, "", 0, 0, NULL, P, "input text files, comma-separated (.txt, .jsonl, .tsv, optionally .gz)") \
    X(ENUM, input_format, "auto", 0, 0, "auto|lines|paragraphs|jsonl|tsv", P, "document framing of the input (auto: by extension; .txt = one document per line)") \
    X(STR, jsonl_field, "text", 0, 0, NULL, P, "JSONL field holding the text (unpaired) ") \
    X(BOOL, paired, "0", 0, 0, NULL, P, "write paired (source, target) shards from TSV or JSONL") \
    X(STR, source_field, "source", 0, 0, NULL, P, "JSONL field of the source text (paired)") \
    X(STR, target_field, "target", 0, 0, NULL, P, "JSONL field of the target text (paired)") \
    X(STR, tokenizer, "", 0, 0, NULL, P | T, "tokenizer file (written by `duet-prep tokenizer`, read by the others)") \
    X(INT, vocab_size, "8192", 300, 1048576, NULL, P, "BPE vocabulary size including bytes and special tokens") \
    X(INT, tok_sample_mb, "64", 1, 1048576, NULL, P, "MB of input text sampled to train the BPE (bounds its memory)") \
    X(STR, out_dir, "data", 0, 0, NULL, P, "output directory for shards") \
    X(INT, num_shards, "4", 1, 65536, NULL, P, "number of training shard files") \
    X(FLOAT, val_fraction, "0.01", 0, 0.5, NULL, P, "fraction of documents held out for validation (deterministic)") \
    X(STR, val_input, "", 0, 0, NULL, P, "validation text files, comma-separated; if set, all of input is training data and val_fraction is unused") \
    \
    /* ---- data: what the trainer reads ---- */ \
    X(STR, train_data, "", 0, 0, NULL, T, "training shards: a shard file, a directory, or a prefix such as data/train") \
    X(STR, val_data, "", 0, 0, NULL, T, "validation shards (same forms as train_data); empty: no validation") \
    X(ENUM, data_mode, "packed", 0, 0, "packed|document", T, "packed: token stream cut into seq_len windows; document: one document per window, PAD-filled") \
    X(INT, seq_len, "64", 2, 65536, NULL, T, "sequence length L in tokens") \
    X(INT, src_len, "0", 0, 65536, NULL, T, "source length in tokens for paired (seq2seq) data; 0 = no source") \
    \
    /* ---- model backbone ---- */ \
    X(ENUM, objective, "mdlm", 0, 0, "ar|mdlm|vqae|vqlm|joint1|joint2|separate|ardiff|lddm-fuji|lddm-seq", T, "training objective") \
    X(INT, dim, "256", 8, 65536, NULL, T, "transformer width D") \
    X(INT, n_layer, "6", 1, 1024, NULL, T, "number of transformer blocks") \
    X(INT, n_head, "4", 1, 1024, NULL, T, "attention heads (dim must be divisible by n_head)") \
    X(ENUM, mlp, "swiglu", 0, 0, "swiglu|gelu", T, "MLP type") \
    X(INT, ffn_dim, "0", 0, 1048576, NULL, T, "MLP hidden width F; 0 = SwiGLU 64*ceil(8D/3/64), GELU 4D") \
    X(ENUM, norm, "rms", 0, 0, "rms|layer", T, "normalization inside blocks") \
    X(ENUM, pos, "rope", 0, 0, "rope|learned", T, "position encoding") \
    X(ENUM, time_cond, "adaln", 0, 0, "adaln|add", T, "how time conditions a denoiser") \
    X(FLOAT, init_std, "0.02", 0, 1, NULL, T, "standard deviation of weight initialization") \
    \
    /* ---- objectives: masked diffusion (mdlm) ---- */ \
    X(ENUM, mask_schedule, "loglinear", 0, 0, "loglinear|cosine", T, "masking schedule alpha(t) of masked diffusion") \
    X(FLOAT, mask_eps, "1e-3", 0, 0.5, NULL, T, "floor delta of the masking schedule") \
    X(FLOAT, t_eps, "1e-3", 1e-6, 0.5, NULL, T, "smallest diffusion time drawn in training") \
    /* ---- objectives: LDDM (lddm-fuji, lddm-seq; SPEC 5) ---- */ \
    X(INT, lddm_slots, "16", 1, 4096, NULL, T, "LDDM latent slots Ly per sequence") \
    X(INT, lddm_slot_dim, "32", 1, 4096, NULL, T, "LDDM width Dy of one latent slot") \
    X(FLOAT, lddm_p_cfg, "0.15", 0, 1, NULL, T, "LDDM latent dropout: probability a sequence's latent input is zeroed") \
    X(FLOAT, lddm_p_r, "0.9", 0, 1, NULL, T, "LDDM encoder corruption: p_r ~ U[0, this] per sequence (0 = off)") \
    X(FLOAT, lddm_lambda_lat, "1", 0, 1e6, NULL, T, "LDDM weight of the latent loss") \
    X(BOOL, lddm_elbo, "0", 0, 0, NULL, T, "LDDM: train on the ELBO-weighted losses instead of unweighted CE/MSE") \
    X(FLOAT, lddm_shift, "0.70710678", 0.01, 100, NULL, T, "LDDM training time shift kappa (1 = none)") \
    X(INT, lddm_lat_steps, "0", 0, 1000000, NULL, S, "LDDM-SEQ latent-chain sampling steps (0 = lddm_slots)") \
    \
    /* ---- objectives: hierarchical VQ autoencoder (vqae) and code-level MDLMs (vqlm), SPEC 3 ---- */ \
    X(INT, vq_k1, "4", 1, 4096, NULL, T, "vqae: bottom stride K1 (tokens per bottom code)") \
    X(INT, vq_k2, "16", 1, 65536, NULL, T, "vqae: top stride K2 (a multiple of vq_k1; seq_len a multiple of it)") \
    X(INT, vq_kb, "1024", 2, 1048576, NULL, T, "vqae: bottom codebook size Kb") \
    X(INT, vq_kt, "512", 2, 1048576, NULL, T, "vqae: top codebook size Kt") \
    X(INT, vq_dim, "64", 1, 65536, NULL, T, "vqae: code width Dc") \
    X(INT, vq_top_layers, "2", 1, 1024, NULL, T, "vqae: blocks of the top encoder and of the top decoder") \
    X(FLOAT, vq_beta, "0.25", 0, 100, NULL, T, "vqae: commitment loss weight beta") \
    X(FLOAT, vq_decay, "0.99", 0, 1, NULL, T, "vqae: codebook EMA decay gamma") \
    X(FLOAT, vq_eps, "1e-5", 0, 1, NULL, T, "vqae: Laplace smoothing epsilon of the EMA counts") \
    X(FLOAT, vq_dead, "0.1", 0, 1, NULL, T, "vqae: a code is dead when its EMA count < vq_dead x the mean count") \
    X(INT, vq_restart_every, "100", 0, 2147483647, NULL, T, "vqae: dead-code restart check every N steps (0 = never)") \
    X(INT, vq_restart_warmup, "500", 0, 2147483647, NULL, T, "vqae: no dead-code restart before this step") \
    X(STR, vq_ckpt, "", 0, 0, NULL, T, "vqlm: checkpoint of the trained (frozen) vqae that provides the codes") \
    X(INT, vq_bottom_steps, "8", 1, 1000000, NULL, S, "vqlm: sampling steps of the bottom-code model (1 = one-shot)") \
    /* ---- objectives: joint autoencoder + latent diffusion (joint1, joint2, separate; SPEC 2) ---- */ \
    X(INT, latent_dim, "64", 1, 65536, NULL, T, "continuous latent width Dz") \
    X(INT, enc_layers, "4", 1, 1024, NULL, T, "encoder blocks (the denoiser has n_layer)") \
    X(INT, dec_layers, "2", 1, 1024, NULL, T, "decoder blocks") \
    X(ENUM, latent_norm, "data", 0, 0, "sphere|layer|batch|data", T, "latent normalization (SPEC 2.4)") \
    X(FLOAT, datanorm_alpha, "0.01", 1e-9, 1, NULL, T, "DataNorm moving-average rate alpha") \
    X(ENUM, vp_schedule, "tan-d", 0, 0, "tan-d|cosine|sqrt", T, "variance-preserving noise schedule of latent diffusion") \
    X(FLOAT, vp_d, "9", 1e-6, 1e6, NULL, T, "d of the tan-d schedule") \
    X(FLOAT, self_cond_prob, "0.5", 0, 1, NULL, T, "probability of a self-conditioned pass in training (0: no self-conditioning, also at inference)") \
    X(FLOAT, lambda_c, "1", 0, 1e6, NULL, T, "joint2: weight of the encoder pull ||x0 - SG[x0_hat]||^2") \
    X(INT, lambda_c_ramp, "0", 0, 2147483647, NULL, T, "joint2: ramp lambda_c linearly from 0 over this many steps (0 = SPEC: constant)") \
    X(INT, switch_step, "500", 0, 2147483647, NULL, T, "separate: steps of stage 1 (autoencoder) before the frozen-autoencoder diffusion stage") \
    X(FLOAT, ae_tau_max, "0.15", 0, 1, NULL, T, "separate stage 1: decoder input corrupted at tau ~ U[0, ae_tau_max]") \
    \
    /* ---- objectives: AR-Diffusion (ardiff; conditional when src_len > 0) ---- */ \
    X(INT, ardiff_T, "2000", 2, 1000000, NULL, T, "AR-Diffusion: discrete diffusion steps T (sqrt schedule)") \
    X(INT, ardiff_emb_dim, "128", 1, 65536, NULL, T, "AR-Diffusion: token embedding width d (the diffused space)") \
    X(INT, ardiff_enc_layers, "6", 1, 1024, NULL, T, "AR-Diffusion: source encoder blocks (paired data)") \
    X(BOOL, ardiff_self_cond, "1", 0, 0, NULL, T, "AR-Diffusion: self-conditioning (probability 1/2 in training)") \
    X(BOOL, ardiff_flat, "0", 0, 0, NULL, T, "AR-Diffusion ablation: one time for all tokens (plain embedding diffusion)") \
    \
    /* ---- optimizer ---- */ \
    X(INT, steps, "1000", 1, 2147483647, NULL, T, "optimizer steps to train for") \
    X(INT, batch_size, "32", 1, 1048576, NULL, T, "sequences per rank per micro-step (B)") \
    X(INT, grad_accum, "1", 1, 65536, NULL, T, "micro-steps accumulated per optimizer step") \
    X(FLOAT, lr, "2e-4", 0, 10, NULL, T, "peak learning rate") \
    X(ENUM, lr_schedule, "cosine", 0, 0, "cosine|constant", T, "after warm-up: cosine decay to lr*lr_min_ratio, or constant") \
    X(INT, warmup, "2000", 0, 2147483647, NULL, T, "linear warm-up steps") \
    X(FLOAT, lr_min_ratio, "0.1", 0, 1, NULL, T, "final learning rate as a fraction of the peak (cosine)") \
    X(FLOAT, weight_decay, "0.01", 0, 10, NULL, T, "AdamW decoupled weight decay (not on norms, biases, embeddings)") \
    X(FLOAT, beta1, "0.9", 0, 0.999999, NULL, T, "AdamW beta1") \
    X(FLOAT, beta2, "0.98", 0, 0.999999999, NULL, T, "AdamW beta2") \
    X(FLOAT, adam_eps, "1e-6", 1e-30, 1, NULL, T, "AdamW epsilon") \
    X(FLOAT, grad_clip, "1.0", 0, 1e30, NULL, T, "global gradient-norm clip (0 = off)") \
    X(FLOAT, ema_decay, "0.9999", 0, 1, NULL, T, "decay of the weight EMA used for sampling (0 = off)") \
    \
    /* ---- trainer ---- */ \
    X(STR, run_dir, "run", 0, 0, NULL, T, "directory for checkpoints and logs") \
    X(STR, resume, "auto", 0, 0, NULL, T, "none | auto (newest valid checkpoint in run_dir, else start) | a checkpoint path") \
    X(INT, ckpt_every, "500", 0, 2147483647, NULL, T, "checkpoint every N steps (0 = only at the end and on signals)") \
    X(INT, ckpt_keep, "3", 1, 1000, NULL, T, "number of checkpoints kept in run_dir") \
    X(ENUM, ckpt_error, "stop", 0, 0, "stop|continue", T, "on a failed checkpoint write (full disk, file-size limit, read-only run_dir): stop (exit code 3) or log, count and continue") \
    X(INT, ckpt_level, "1", 0, 9, NULL, T, "checkpoint compression: 0 = stored (fastest to write), 1..9 = zlib level of byte sections (float slabs are byte-shuffled and run-length coded at any level >= 1)") \
    X(FLOAT, log_every_s, "5", 0, 86400, NULL, T, "seconds between progress lines on rank 0") \
    X(FLOAT, bucket_mb, "4", 0.001, 4096, NULL, T, "gradient allreduce bucket size in MB") \
    X(INT, check_every, "100", 0, 2147483647, NULL, T, "compare parameter checksums across ranks every N steps (0 = off)") \
    X(INT, preempt_exit_code, "0", 0, 255, NULL, T, "exit code after a SIGTERM/SIGUSR1 checkpoint (launch/duet.sbatch requeues on it)") \
    X(ENUM, nan_policy, "stop", 0, 0, "stop|skip", T, "non-finite loss or gradient (checked after the allreduce, so every rank agrees): stop (exit code 4, keeping the last checkpoint) or skip the step and count it") \
    X(FLOAT, spike_factor, "3", 1, 1e30, NULL, T, "log a loss spike when loss > factor x its running mean") \
    X(INT, val_every, "0", 0, 2147483647, NULL, T, "validation loss every N steps (0 = off)") \
    X(INT, val_batches, "8", 1, 1000000, NULL, T, "micro-batches per validation") \
    X(INT, debug_nan_step, "-1", -1, 2147483647, NULL, T, "debug: inject a non-finite value at this step (-1 = never)") \
    X(INT, debug_nan_rank, "0", 0, 1048576, NULL, T, "debug: rank that injects the non-finite value") \
    X(ENUM, debug_nan_kind, "nan", 0, 0, "nan|inf", T, "debug: the injected value") \
    X(ENUM, debug_nan_where, "grad", 0, 0, "grad|loss", T, "debug: inject into the rank's local gradient (before the allreduce) or its loss") \
    X(INT, debug_kill_step, "-1", -1, 2147483647, NULL, T, "debug: debug_kill_rank SIGKILLs itself at the start of this step (-1 = never; tests relaunch)") \
    X(INT, debug_kill_rank, "0", 0, 1048576, NULL, T, "debug: rank that kills itself at debug_kill_step") \
    X(INT, debug_ckpt_crash_step, "-1", -1, 2147483647, NULL, T, "debug: rank 0 SIGKILLs itself halfway through writing the checkpoint of this step (-1 = never)") \
    X(INT, debug_signal_step, "-1", -1, 2147483647, NULL, T, "debug: rank 0 raises SIGUSR1 after this step (-1 = never; tests the stop agreement)") \
    \
    /* ---- sampler ---- */ \
    X(STR, ckpt, "", 0, 0, NULL, S | E, "checkpoint file to read") \
    X(INT, n_samples, "8", 1, 100000000, NULL, S, "number of samples to generate") \
    X(INT, sample_steps, "0", 0, 1000000, NULL, S, "denoising steps (0 = the objective's default)") \
    X(INT, sample_len, "0", 0, 65536, NULL, S, "tokens per sample (0 = seq_len of the checkpoint)") \
    X(INT, sample_batch, "64", 1, 65536, NULL, S | E, "sequences generated or scored per forward pass") \
    X(FLOAT, temperature, "1", 0, 100, NULL, S, "sampling temperature (AR)") \
    X(INT, top_k, "0", 0, 1048576, NULL, S, "top-k filtering (0 = off)") \
    X(FLOAT, top_p, "1", 0, 1, NULL, S, "nucleus filtering (1 = off)") \
    X(ENUM, latent_sampler, "ddim", 0, 0, "ddim|ddpm", S, "reverse process of latent diffusion (joint1/joint2/separate)") \
    X(FLOAT, ddim_eta, "0", 0, 1, NULL, S, "DDIM noise scale eta (0: deterministic, 1: DDPM variance)") \
    X(STR, prompt, "", 0, 0, NULL, S, "text prompt (prefix) for conditional generation") \
    X(STR, source_file, "", 0, 0, NULL, S, "conditional models: one source text per line; one sample per line (n_samples is ignored)") \
    X(BOOL, ardiff_clamp, "1", 0, 0, NULL, S, "AR-Diffusion sampler: clamp each x0 prediction to the nearest embedding") \
    X(BOOL, use_ema, "1", 0, 0, NULL, S | E, "sample with the weight EMA (else the raw parameters)") \
    X(ENUM, format, "text", 0, 0, "text|jsonl", S, "output format") \
    X(STR, output, "", 0, 0, NULL, S | E, "output file (empty = stdout)") \
    \
    /* ---- evaluation (duet-eval) ---- */ \
    X(STR, samples, "", 0, 0, NULL, E, "generated texts: one per line (.txt) or JSONL (.jsonl), optionally .gz") \
    X(STR, references, "", 0, 0, NULL, E, "human texts: MAUVE reference set (uncond) or aligned references (seq2seq)") \
    X(STR, judge, "", 0, 0, NULL, E, "AR checkpoint used as judge for perplexity and MAUVE features") \
    X(STR, mem_corpus, "", 0, 0, NULL, E, "training texts for memorization (comma-separated files)") \
    X(ENUM, eval_mode, "uncond", 0, 0, "uncond|seq2seq", E, "uncond: PPL, MAUVE, Div, Mem; seq2seq: also ROUGE-1/2/L and BLEU") \
    X(ENUM, eval_format, "auto", 0, 0, "auto|lines|jsonl", E, "format of samples/references (auto: by extension)") \
    X(STR, eval_field, "text", 0, 0, NULL, E, "JSONL field holding the text") \
    X(INT, eval_max_texts, "0", 0, 100000000, NULL, E, "use at most this many samples and references (0 = all)") \
    X(INT, ref_tokens, "0", 0, 65536, NULL, E, "cut reference texts to this many judge tokens for MAUVE (0 = judge seq_len)") \
    X(INT, mauve_k, "0", 0, 100000, NULL, E, "MAUVE k-means clusters (0 = max(2, round(min(n_p, n_q)/10)))")

#endif
