"""The one training loop's plumbing, shared by every stage: seeding, resume, the optimiser step across
processes, logging and loss history, the progress bar and atomic checkpoints. A stage's file keeps its
own step (its batch, its losses, the D-then-G order) and says nothing else:

    run = Trainer("syncnet", out_dir, "syncnet.pt", cfg, device, resume)   # seeds first: build models after
    net = SyncNet(model_cfg).to(run.device)
    run.attach(net, torch.optim.Adam(...), {"model": ..., "train": ...})  # resumes weights, optimiser, step
    last = run.begin(progress, stop_at)
    while run.step < last:
        loss, losses = ...
        losses["loss"] = run.update(loss)                                  # backward, all-reduce, step
        run.end_step(losses, callback)                                     # log, checkpoint on schedule
    return run.close()

A run resumes from out_dir/ckpt_name when it exists: the model, every optimiser (and what `extra` names,
such as a discriminator), the step and the loss history come back, so a resumed run continues its curves.
The checkpoint's config records the stage, the model's config, the training config, the data it was
trained on (data/provenance.py) and what the stage adds (its --init); talkinglib.checkpoints.load reads it
back as the model.
"""
from pathlib import Path

import torch
from tqdm.auto import tqdm

from talkinglib import checkpoints
from talkinglib.data.provenance import describe_dataset
from talkinglib.train.common import Logger, average_gradients, dist_info, resolve_device, seed_everything


class Trainer:
    def __init__(self, stage, out_dir, ckpt_name, cfg, device=None, resume=True, data=None):
        """cfg: the training config (its seed, steps, log_every and ckpt_every are read here). data: the dataset
        root the run reads, recorded in the checkpoint's config["data"] (data/provenance.py: generate compares
        a photo with it)."""
        self.stage, self.cfg, self.data = stage, cfg, data
        self.rank, self.world = dist_info()          # under torchrun: one process per GPU (or CPU, gloo)
        self.device = resolve_device(device)
        seed_everything(cfg.seed)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.out_dir / ckpt_name
        self.state = checkpoints.load_checkpoint(self.ckpt_path) if resume and self.ckpt_path.is_file() else None
        if self.state is not None and checkpoints.checkpoint_kind(self.state) != stage:
            raise checkpoints.CheckpointError(
                f"{self.ckpt_path} belongs to stage {checkpoints.checkpoint_kind(self.state)}, not {stage}; use "
                "another --out or --no-resume")
        self.step = 0
        self.logger = Logger(self.out_dir / "tb" if self.rank == 0 else None)
        self.model = self.opt = self.bar = None
        self.extra, self.extra_config = {}, {}

    @property
    def resuming(self):
        """Whether the run continues a checkpoint of its own (self.state is that checkpoint, read once)."""
        return self.state is not None

    def attach(self, model, opt, config, extra=None, extra_config=None, params=None):
        """The trained model, its optimiser and what the checkpoint's config records besides the stage
        ({"model": ..., "train": ..., "init": ...}). extra: {name: an object with state_dict() and
        load_state_dict()} saved in the checkpoint's "extra" and restored on resume (a discriminator,
        its optimiser, a second optimiser); extra_config: plain values saved beside them (the D's config).
        params: the parameters whose gradients update() averages (default: the model's trainable ones).
        Resuming, the weights, optimisers, step and loss history come back from the checkpoint."""
        self.model, self.opt = model, opt
        self.config = {"stage": self.stage, **config}
        if self.data is not None:
            self.config["data"] = describe_dataset(self.data)
        self.extra, self.extra_config = dict(extra or {}), dict(extra_config or {})
        self.params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
        if self.state is not None:
            self._restore(model, self.state["model"], "weights")
            self._restore(opt, self.state["optimizer"], "optimizer")
            for name, obj in self.extra.items():
                if name not in self.state.get("extra", {}):
                    raise checkpoints.CheckpointError(f"{self.ckpt_path} holds no {name!r} to resume from: start a "
                                                      f"new run from its weights (--init {self.ckpt_path} --out NEW_DIR)")
                self._restore(obj, self.state["extra"][name], name)
            self.step = self.state["step"]
            self.logger.history = {k: [tuple(p) for p in v] for k, v in self.state.get("history", {}).items()}
        model.train()

    def _restore(self, obj, saved, what):
        try:
            obj.load_state_dict(saved)
        except (ValueError, RuntimeError, KeyError) as e:        # the run's settings changed since it was saved
            raise checkpoints.CheckpointError(
                f"{self.ckpt_path}'s {what} does not fit this run ({type(e).__name__}: {e}); resume with the run's "
                f"own settings, or start a new run from its weights: --init {self.ckpt_path} --out NEW_DIR") from e

    def begin(self, progress=True, stop_at=None, postfix=None):
        """The step to stop at (cfg.steps, or stop_at: leave early with a checkpoint, as if interrupted; the
        schedule still runs over cfg.steps). Opens the progress bar; postfix: the scalars it shows (all)."""
        self.last = self.cfg.steps if stop_at is None else min(self.cfg.steps, stop_at)
        self.postfix = postfix
        self.bar = tqdm(total=self.cfg.steps, initial=self.step, desc=self.stage,
                        disable=not progress or self.rank > 0)
        return self.last

    def update(self, loss, opt=None, params=None, clip=None):
        """backward, average the gradients across processes, (clip), step, for `opt` (default the run's
        optimiser) over `params` (default the run's). Returns the detached loss, or with clip the gradient
        norm before clipping."""
        opt = self.opt if opt is None else opt
        params = self.params if params is None else params
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, self.world)
        norm = torch.nn.utils.clip_grad_norm_(params, clip) if clip else None
        opt.step()
        return loss.detach() if norm is None else norm

    def end_step(self, scalars, callback=None):
        """Advance the step; log `scalars` ({name: tensor or float}) and checkpoint on schedule."""
        self.step += 1
        self.bar.update()
        if self.step % self.cfg.log_every == 0 or self.step == self.last:
            vals = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in scalars.items()}
            self.logger.log(self.step, **vals)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items() if self.postfix is None or k in self.postfix})
            if callback is not None:
                callback(self.step, self.logger)
        if self.step % self.cfg.ckpt_every == 0 or self.step == self.last:
            self.save()

    def save(self):
        """The checkpoint, atomically (rank 0 only)."""
        if self.rank == 0:
            extra = {**{k: o.state_dict() for k, o in self.extra.items()}, **self.extra_config}
            checkpoints.save_checkpoint(self.ckpt_path, config=self.config, model=self.model, optimizer=self.opt,
                                        step=self.step, extra=extra, history=self.logger.history)

    def close(self):
        """(the model in eval mode, the logger)."""
        self.bar.close()
        self.logger.close()
        return self.model.eval(), self.logger
