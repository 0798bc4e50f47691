"""Curated facts about optimizers that their classes do not state: which are left out and
why, which update element-wise, which need a closure, which keep settings off the param groups.

Each fact was checked against the installed torch 2.13 / pytorch_optimizer 4.1 by running the
classes (tests/test_optimizers.py re-checks them); revisit when upgrading either library.
"""

from __future__ import annotations

_DUP = "duplicate of torch.optim.{}; torch's class keeps the name"
_MUON_GROUPS = "needs param groups flagged use_muon (prepare_muon_parameters splits a model)"
_HESSIAN = "needs Hessian-vector products: loss.backward(create_graph=True) every step"

EXCLUDED: dict[str, str] = {
    "torch.optim.SparseAdam": "sparse gradients only (nn.Embedding(sparse=True)); optlab's "
    "problems produce dense gradients",
    **{
        f"pytorch_optimizer.{n}": "the torch.optim class itself, re-exported"
        for n in ("SGD", "Adam", "AdamW", "NAdam", "RMSprop", "LBFGS")
    },
    **{
        f"pytorch_optimizer.{n}": _DUP.format(t)
        for n, t in (
            ("RAdam", "RAdam"),
            ("AdaMax", "Adamax"),
            ("AdaDelta", "Adadelta"),
            ("ASGD", "ASGD"),
            ("AdaFactor", "Adafactor"),
            ("Muon", "Muon"),
        )
    },
    "pytorch_optimizer.AdaHessian": _HESSIAN,
    "pytorch_optimizer.SophiaH": _HESSIAN,
    "pytorch_optimizer.BSAM": "sharpness-aware: two forward/backward passes per step through "
    "a closure, and the dataset size (num_data)",
    "pytorch_optimizer.LOMO": "takes the model, not parameters, and fuses the update into backward",
    "pytorch_optimizer.AdaLOMO": "takes the model, not parameters, and fuses the update into "
    "backward",
    "pytorch_optimizer.AdamMini": "takes the model (partitions parameters by module names and "
    "attention heads)",
    "pytorch_optimizer.GaLore": "its low-rank projection is set per param group of chosen "
    "2-D weights (rank, update_proj_gap, ...); without that it is plain AdamW",
    "pytorch_optimizer.DeMo": "distributed (process_group) and needs the einops package",
    "pytorch_optimizer.DistributedMuon": "needs torch.distributed; " + _MUON_GROUPS,
    "pytorch_optimizer.AdaMuon": _MUON_GROUPS,
    "pytorch_optimizer.AdaGO": _MUON_GROUPS,
    "pytorch_optimizer.NorMuon": _MUON_GROUPS,
    "pytorch_optimizer.MuonClip": _MUON_GROUPS,
    "pytorch_optimizer.Magma": "wraps another optimizer; optlab supports Lookahead as the wrapper",
    "pytorch_optimizer.SaRA": "fine-tuning method: only weights with initial |w| < threshold "
    "are updated, so toy problems do not move",
    "pytorch_optimizer.LoRARite": "expects LoRA factor pairs (lora_l_dim, lora_r_dim); "
    "ordinary parameters do not move",
}

# Update of each element depends only on that element's history, for every hyperparameter
# setting: read in the sources and checked bit-identical, one (B, 2) tensor against B separate
# (2,) tensors (tests).  Per-tensor norms, global scalars (D-Adaptation, Prodigy), loss-driven
# scaling, factored or matrix preconditioners, gradient centralization or optional clipping
# (Adan's max_grad_norm) make it False; so does last-ulp drift between tensor sizes (MADGRAD's
# cube root), since the engine relies on batching being exact.
ELEMENTWISE = frozenset({
    "SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad", "Adadelta", "RMSprop",
    "Rprop", "ASGD", "AccSGD", "AdaBelief", "AdaBound", "AdaMod", "AdamC", "AdamG", "AdaPNM",
    "AdaSmooth", "AdEMAMix", "ADOPT", "AggMo", "Ano", "BCOS", "DiffGrad", "EXAdam", "FOCUS",
    "FTRL", "Grams", "GrokFastAdamW", "Kate", "LaProp", "Lion", "MSVAG", "PAdam", "PID", "PNM",
    "QHAdam", "QHM", "ScheduleFreeAdamW", "ScheduleFreeRAdam", "ScheduleFreeSGD", "SGDW",
    "SignSGD", "SimplifiedAdEMAMix", "SRMM", "Tiger", "VSGD", "Yogi",
})  # fmt: skip
NEEDS_CLOSURE = frozenset({"LBFGS", "AliG"})
SINGLE_GROUP = frozenset({"LBFGS"})  # raises on a second param group
MATRIX_ONLY = frozenset({"Muon", "SpectralSphere"})
NO_FLOAT64 = frozenset({"FAdam"})  # keeps float32 state: lerp fails on float64 params

# pytorch_optimizer keeps ``maximize`` and these on the optimizer object, not in each param
# group, so they cannot be overridden per group (tests check this against the classes).
OBJECT_LEVEL_PARAMS: dict[str, str] = {
    "A2Grad": "lr rho variant",
    "AdaBelief": "degenerated_to_sgd n_sma_threshold",
    "AdamG": "p q",
    "Aida": "degenerated_to_sgd k n_sma_threshold xi",
    "Amos": "c_coef d_coef",
    "Ano": "logarithmic_schedule",
    "ApolloDQN": "warmup_steps",
    "BCOS": "mode simple_cond",
    "CAME": "clip_threshold",
    "DAdaptAdaGrad": "d0",
    "DAdaptAdam": "d0",
    "DAdaptAdan": "d0",
    "DAdaptLion": "d0",
    "DAdaptSGD": "d0",
    "DiffGrad": "degenerated_to_sgd n_sma_threshold",
    "FlashAdamW": "check_numerics compress_state_dict master_weight_bits",
    "Fromage": "p_bound",
    "GrokFastAdamW": "normalize_lr",
    "Kron": "balance_prob",
    "Lamb": "degenerated_to_sgd n_sma_threshold pre_norm",
    "LaProp": "steps_before_using_centered",
    "PNM": "eps",
    "Ranger": "degenerated_to_sgd gc_conv_only n_sma_threshold use_gc",
    "Ranger21": "agc_clipping_value agc_eps beta0 beta_softplus centralize_gradients "
    "disable_lr_scheduler lookahead_blending_alpha lookahead_merge_time "
    "norm_loss_factor normalize_gradients num_iterations "
    "num_warm_down_iterations num_warm_up_iterations use_softplus "
    "warm_down_min_lr",
    "ScalableShampoo": "block_size diagonal_eps graft_type inverse_exponent_override "
    "matrix_eps no_preconditioning_for_layers_with_dim_gt "
    "pre_conditioner_type preconditioning_compute_steps "
    "shape_interpretation skip_preconditioning_rank_lt "
    "start_preconditioning_step statistics_compute_steps use_svd",
    "Shampoo": "preconditioning_compute_steps",
    "SOAP": "data_format",
    "SPAM": "density grad_accu_steps threshold update_proj_gap warmup_epoch",
    "SpectralSphere": "msign_steps power_iteration_steps solver_max_iterations solver_tolerance_f",
    "StableSPAM": "eta_min gamma1 gamma2 t_max theta update_proj_gap",
    "VSGD": "ghattg ps",
}

#: hyperparameters (of any optimizer that has them) that size the work of one step or
#: the memory it keeps, by the server limit that bounds them (optlab.settings):
#: "inner" loss evaluations per step, "matrix" iterations of a matrix routine per step,
#: "history" past gradients/vectors kept, each as large as the parameters
WORK_SIZING: dict[str, str] = {
    "max_iter": "inner",  # LBFGS
    "max_eval": "inner",  # LBFGS
    "ns_steps": "matrix",  # Muon: Newton-Schulz
    "newton_steps": "matrix",  # DASH: Newton-DB square root
    "power_iteration_steps": "matrix",  # DASH, SpectralSphere
    "msign_steps": "matrix",  # SpectralSphere: polar factor
    "solver_max_iterations": "matrix",  # SpectralSphere: bisection
    "history_size": "history",  # LBFGS
    "keep_num": "history",  # AdaShift: a queue of past gradients
    "power_iteration_vectors": "history",  # DASH: parallel start vectors
}
