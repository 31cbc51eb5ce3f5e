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
    X(ENUM, objective, "mdlm", 0, 0, "ar|mdlm|lddm-fuji|lddm-seq", T, "training objective") \
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
    X(ENUM, ckpt_error, "stop", 0, 0, "stop|continue", T, "on a failed checkpoint write: stop training or log and continue") \
    X(INT, ckpt_level, "1", 0, 9, NULL, T, "checkpoint compression: 0 = stored (fastest to write), 1..9 = zlib level of byte sections (float slabs are byte-shuffled and run-length coded at any level >= 1)") \
    X(FLOAT, log_every_s, "5", 0, 86400, NULL, T, "seconds between progress lines on rank 0") \
    X(FLOAT, bucket_mb, "4", 0.001, 4096, NULL, T, "gradient allreduce bucket size in MB") \
    X(INT, check_every, "100", 0, 2147483647, NULL, T, "compare parameter checksums across ranks every N steps (0 = off)") \
    X(INT, preempt_exit_code, "0", 0, 255, NULL, T, "exit code after a SIGTERM/SIGUSR1 checkpoint (launch/duet.sbatch requeues on it)") \
    X(ENUM, nan_policy, "stop", 0, 0, "stop|skip", T, "non-finite loss or gradient: stop (keeping the last checkpoint) or skip the step") \
    X(FLOAT, spike_factor, "3", 1, 1e30, NULL, T, "log a loss spike when loss > factor x its running mean") \
    X(INT, val_every, "0", 0, 2147483647, NULL, T, "validation loss every N steps (0 = off)") \
    X(INT, val_batches, "8", 1, 1000000, NULL, T, "micro-batches per validation") \
    X(INT, debug_nan_step, "-1", -1, 2147483647, NULL, T, "debug: inject a NaN gradient at this step (-1 = never)") \
    X(INT, debug_nan_rank, "0", 0, 1048576, NULL, T, "debug: rank that injects the NaN") \
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
    X(STR, prompt, "", 0, 0, NULL, S, "text prompt (prefix) for conditional generation") \
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
