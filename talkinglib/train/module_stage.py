"""Plumbing of the stages that train one network: the SyncNet expert and EDTalk's audio modules
(edtalk.audio2lip, edtalk.audio2pose, edtalk.audio2exp). The loops stay one per file; this holds
what they share: seeding, resume, the optimiser step across processes, logging and checkpoints.

    run = ModuleStage("syncnet", out_dir, "syncnet.pt", cfg, device)   # seeds first: build models after
    net = SyncNet(model_cfg).to(run.device)
    run.attach(net, torch.optim.Adam(...), {"model": ..., "train": ...}, resume=True)
    last = run.begin(progress, stop_at)
    while run.step < last:
        loss, losses = ...
        run.update(loss)
        run.end_step(losses, callback)
    return run.close()
"""
from pathlib import Path

import torch
from tqdm.auto import tqdm

from talkinglib.train import common
from talkinglib.train.edtalk_common import average_gradients, dist_info, resolve_device


class ModuleStage:
    def __init__(self, stage, out_dir, ckpt_name, cfg, device=None):
        self.stage, self.cfg = stage, cfg
        self.rank, self.world = dist_info()
        self.device = resolve_device(device)
        common.seed_everything(cfg.seed)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.out_dir / ckpt_name
        self.step = 0
        self.logger = common.Logger(self.out_dir / "tb" if self.rank == 0 else None)
        self.model = self.opt = self.bar = None

    def attach(self, model, opt, config, resume=True):
        """The trained network, its optimiser and what the checkpoint's config records; resumes
        from out_dir/ckpt_name when it exists (and belongs to this stage)."""
        self.model, self.opt = model, opt
        self.config = {"stage": self.stage, **config}
        self.params = [p for p in model.parameters() if p.requires_grad]
        if resume and self.ckpt_path.is_file():
            state = common.load_checkpoint(self.ckpt_path)
            if state["config"].get("stage") != self.stage:
                raise common.CheckpointError(f"{self.ckpt_path} belongs to stage {state['config'].get('stage')}, "
                                             f"not {self.stage}; use another --out or --no-resume")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            self.step = state["step"]
            self.logger.history = {k: [tuple(p) for p in v] for k, v in state.get("history", {}).items()}
        model.train()

    def begin(self, progress=True, stop_at=None):
        """The step to stop at; opens the progress bar."""
        self.last = self.cfg.steps if stop_at is None else min(self.cfg.steps, stop_at)
        self.bar = tqdm(total=self.cfg.steps, initial=self.step, desc=self.stage,
                        disable=not progress or self.rank > 0)
        return self.last

    def update(self, loss, clip=None):
        """backward, average gradients across processes, (clip), step."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.params, self.world)
        if clip:
            torch.nn.utils.clip_grad_norm_(self.params, clip)
        self.opt.step()

    def end_step(self, scalars, callback=None):
        """Advance; log `scalars` ({name: tensor or float}) and checkpoint on schedule."""
        self.step += 1
        self.bar.update()
        if self.step % self.cfg.log_every == 0 or self.step == self.last:
            vals = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in scalars.items()}
            self.logger.log(self.step, **vals)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items()})
            if callback is not None:
                callback(self.step, self.logger)
        if (self.step % self.cfg.ckpt_every == 0 or self.step == self.last) and self.rank == 0:
            common.save_checkpoint(self.ckpt_path, config=self.config, model=self.model, optimizer=self.opt,
                                   step=self.step, history=self.logger.history)

    def close(self):
        """(the network in eval mode, the logger)."""
        self.bar.close()
        self.logger.close()
        return self.model.eval(), self.logger


def load_stage_checkpoint(path, stage, model_cls, config_cls):
    """(model in eval mode, checkpoint state) from a checkpoint of `stage` (float16 exports included)."""
    state = common.load_checkpoint(path)
    common.require_kind(path, state, stage)
    model = model_cls(common.config_from_dict(config_cls, state["config"]["model"]))
    try:
        model.load_state_dict(state["model"])                  # load_state_dict casts float16 to float32
    except RuntimeError as e:
        raise common.CheckpointError(f"{path} does not match {model_cls.__name__}({state['config']['model']}): "
                                     f"{e}") from e
    return model.eval(), state
