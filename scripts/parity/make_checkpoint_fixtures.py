#!/usr/bin/env python3
"""Checkpoints as users find them, written by PyTorch: other float types and other wrappings.

LeNet-5 with the formula weights of make_fixtures.py (small files, committed), in
crates/kiln/tests/fixtures/checkpoints/:

- lenet5-{f16,bf16,f64}.{pth,safetensors}: every tensor stored in that type; the reference
  logits are the model's with those (rounded) weights, computed in float32;
- lenet5-torchvision-reference.pth: what torchvision's reference training script saves,
  {'model', 'optimizer' (SGD with momentum buffers after one step), 'lr_scheduler', 'epoch',
  'args' (an argparse.Namespace)};
- lenet5-timm.pth: what timm's CheckpointSaver saves, {'epoch', 'arch', 'state_dict',
  'optimizer', 'version', 'args', 'metric', 'state_dict_ema'} with EMA weights that differ
  (each float scaled by 0.5), and both models' logits;
- lenet5-nested.pth: {'model': {'module.conv1.weight': ...}} (DataParallel inside a dict);
- lenet5-legacy.pth: the state dict in torch.save's legacy (pre-1.6) pickle format;
- lenet5-backbone.pth / .safetensors: the weights under `backbone.` beside another module whose
  keys collide with LeNet-5's (`conv1.weight` of another shape, `head.fc.weight`).

checkpoints.json holds the input and the reference logits.

Usage: python3 scripts/parity/make_checkpoint_fixtures.py
"""
import argparse, json, os, sys

import safetensors.torch
import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import LeNet5, ROOT, formula_input, gain, set_weights  # noqa: E402

OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "checkpoints")
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64}


def logits_of(sd, x):
    model = LeNet5(10)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    model.eval()
    return model(x).tolist()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(False)
    model = LeNet5(10)
    sd = {k: v.clone() for k, v in set_weights(model, gain("lenet5")).items()}
    shape = [2, 1, 28, 28]
    x = formula_input(shape)
    ref = {"input": shape, "logits": {"f32": logits_of(sd, x)}}

    for name, dtype in DTYPES.items():
        cast = {k: v.to(dtype).contiguous() for k, v in sd.items()}
        torch.save(cast, os.path.join(OUT, f"lenet5-{name}.pth"))
        safetensors.torch.save_file(cast, os.path.join(OUT, f"lenet5-{name}.safetensors"))
        ref["logits"][name] = logits_of(cast, x)

    # torchvision's references/classification/train.py: utils.save_on_master(checkpoint, ...).
    with torch.enable_grad():
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
        model(x).sum().backward()
        opt.step()
    args = argparse.Namespace(model="lenet5", lr=0.1, epochs=90, data_path="/datasets/imagenet", amp=False)
    torch.save({"model": sd, "optimizer": opt.state_dict(), "lr_scheduler": sched.state_dict(), "epoch": 89,
                "args": args}, os.path.join(OUT, "lenet5-torchvision-reference.pth"))

    # timm's CheckpointSaver._save.
    ema = {k: v * 0.5 for k, v in sd.items()}
    torch.save({"epoch": 299, "arch": "lenet5", "state_dict": sd, "optimizer": opt.state_dict(), "version": 2,
                "args": args, "metric": 0.993, "state_dict_ema": ema}, os.path.join(OUT, "lenet5-timm.pth"))
    ref["logits"]["ema"] = logits_of(ema, x)

    torch.save({"model": {"module." + k: v for k, v in sd.items()}}, os.path.join(OUT, "lenet5-nested.pth"))
    # The legacy (pre-1.6) format: a pickle stream, not a zip archive.
    torch.save(sd, os.path.join(OUT, "lenet5-legacy.pth"), _use_new_zipfile_serialization=False)

    other = {"conv1.weight": torch.ones(8, 3, 3, 3), "conv1.bias": torch.zeros(8), "head.fc.weight": torch.ones(4, 8)}
    wrapped = {**{"backbone." + k: v for k, v in sd.items()}, **other}
    torch.save(wrapped, os.path.join(OUT, "lenet5-backbone.pth"))
    safetensors.torch.save_file(wrapped, os.path.join(OUT, "lenet5-backbone.safetensors"))

    with open(os.path.join(OUT, "checkpoints.json"), "w") as f:
        json.dump(ref, f)
    print("checkpoint fixtures written to", OUT)


if __name__ == "__main__":
    main()
