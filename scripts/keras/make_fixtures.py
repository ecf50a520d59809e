#!/usr/bin/env python3
"""Fixtures for Kiln's Keras weight import, produced by Keras itself (Keras 3, torch backend).

Kiln imports Keras weight files (legacy HDF5 `.h5` as Keras 2's published application weights and
Keras 3's `model.save("x.h5")` write them, Keras 3's `.weights.h5`, `.keras` zip archives) into
its variants keras_vgg16, keras_vgg19, keras_resnet50, keras_resnet101, keras_resnet152 and
keras_inception_v3 (= keras.applications.VGG16, VGG19, ResNet50, ResNet101, ResNet152,
InceptionV3). Every weight is set by a deterministic formula that Kiln's Rust tests implement too
(`keras_formula` below: the key hash and uniform generator of scripts/parity/make_fixtures.py,
with Keras's names and layouts), and a fixed input (`formula_input`, NCHW, transposed to NHWC) is
run through the model in inference mode. This script writes:

- crates/kiln/tests/fixtures/keras/<arch>.json (committed, small), 10 classes:
      {"arch", "keras", "keras_version", "num_classes", "gain", "input": [N, C, H, W],
       "layers": [[layer_name, class_name, [[short_weight_name, shape], ...]], ...],
       "logits": [[...], ...]}
  `layers` lists the layers with weights in `model.layers` order (the order of Keras's legacy
  .h5 `layer_names`), each with its weights in `layer.weights` order. The gain is chosen per
  architecture so that the logits are finite, moderate and input-dependent, and float32 logits
  agree with the same model run in float64 within 1e-5 of their magnitude.
- crates/kiln/tests/fixtures/keras/tiny/ (committed, 50-75 KB each): a tiny functional model
  (11 Conv2D with and without bias, BatchNormalization with and without scale, an Add, Flatten,
  Dense) with formula weights (gain 1) saved as tiny.h5 (`model.save`, legacy full-model HDF5),
  tiny_weights.h5 (legacy weights-only HDF5, as Keras writes its published files),
  tiny_keras2.h5 (the layout of Keras 2's published application files, written with h5py),
  tiny.weights.h5 (`model.save_weights`), tiny.keras (`model.save`), and tiny.json:
      {"layers": [[name, class_name, [[short_weight_name, shape, [flat float32 values]], ...]], ...]}
  The h5py tree of each file is printed.
- crates/kiln/tests/fixtures/keras/photos.json (committed): Keras's own preprocessing of
  datasets/samples/{chelsea,coffee}.png (`keras.utils.load_img(path, target_size=(H, W))`, nearest,
  no crop; `img_to_array`; `keras.applications.<module>.preprocess_input`), with the sha256 of the
  resized RGB bytes, the preprocessed array's per-channel sums and first 8 values (NHWC), and the
  logits of the 10-class formula-weight model (the arch fixture's gain); plus `resize_nearest`:
  the sha256 (and row sums) of Pillow's NEAREST resize of each photo to several sizes.
- with --full (not committed; target/keras/, which git ignores): per architecture the 1000-class
  model at its standard input (224, Inception 299) with formula weights, saved as <arch>.h5
  (`model.save`), <arch>.weights.h5, <arch>.keras and <arch>_weights_only.h5 (legacy weights-only),
  for keras_resnet50 also keras_resnet50_notop_weights_only.h5 (include_top=False, same formula),
  and <arch>.json: {"input": [1, 3, H, W], "gain": g, "logits": [[1000 floats]]}.

Usage: pip install keras torch torchvision h5py numpy pillow safetensors
    KERAS_BACKEND=torch python3 scripts/keras/make_fixtures.py [TARGET ...]
        TARGET: an architecture (keras_resnet50, ...), `tiny` or `photos`; all of them by default.
    KERAS_BACKEND=torch python3 scripts/keras/make_fixtures.py --full [ARCH ...]
        The full-size files of the architectures named (all six by default).
"""
import argparse, gc, hashlib, io, json, math, os, sys, zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from make_fixtures import ROOT, formula_input, key_hash, uniform  # noqa: E402

OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "keras")
TINY_OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "keras", "tiny")
BIG = os.path.join(ROOT, "target", "keras")
SAMPLES = os.path.join(ROOT, "datasets", "samples")
PHOTOS = ["chelsea.png", "coffee.png"]
NUM_CLASSES = 10

# arch: (keras.applications constructor, preprocess module, fixture input [N, C, H, W], standard size)
ARCHS = {
    # Keras's VGG top flattens the 7x7x512 feature map: the input must be 224x224.
    "keras_vgg16": ("VGG16", "vgg16", [2, 3, 224, 224], 224),
    "keras_vgg19": ("VGG19", "vgg19", [2, 3, 224, 224], 224),
    "keras_resnet50": ("ResNet50", "resnet", [2, 3, 64, 64], 224),
    "keras_resnet101": ("ResNet101", "resnet", [2, 3, 64, 64], 224),
    "keras_resnet152": ("ResNet152", "resnet", [2, 3, 64, 64], 224),
    # 75x75 is the smallest input Keras's InceptionV3 accepts.
    "keras_inception_v3": ("InceptionV3", "inception_v3", [2, 3, 75, 75], 299),
}
PHOTO_ARCHS = ["keras_resnet50", "keras_inception_v3", "keras_vgg16"]
PREPROCESS_MODE = {"vgg16": "caffe", "vgg19": "caffe", "resnet": "caffe", "inception_v3": "tf"}
RESIZE_SIZES = [(224, 224), (299, 299), (97, 61), (1000, 700), (31, 17)]  # (H, W), as target_size

# Gains tried, in order: He's gain first (all six are ReLU networks), then its neighbours.
HE_GAIN = 1.41
GAIN_CANDIDATES = [HE_GAIN] + sorted((g / 100 for g in range(50, 301, 5) if g != 140),
                                     key=lambda g: (abs(g - HE_GAIN), g))
MAX_LOGIT = 1e3  # |logit| bound
MIN_DEPENDENCE = 0.05  # the two images' logits must differ by this part of their magnitude
MAX_F64_REL = 1e-5  # float32 logits vs float64 ones, relative to their magnitude


# --- The formula -------------------------------------------------------------------------------

def short_name(w):
    """A variable's short name: `kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`."""
    return w.path.split("/")[-1]


def keras_formula(key, shape, gain):
    """The Keras weight formula Kiln's tests implement too: float64, then rounded to float32, flat
    in C order over Keras's shape (HWIO for Conv2D kernels, [in, out] for Dense). The key is
    f"{layer.name}/{short_name}"; the fan-in divides by the last dimension (Keras's output)."""
    n = math.prod(shape)
    short = key.rsplit("/", 1)[-1]
    u = uniform(key_hash(key), n)
    s = 2.0 * u - 1.0
    if short == "moving_variance":
        v = 0.5 + 0.5 * u
    elif short == "moving_mean":
        v = 0.1 * s
    elif len(shape) >= 2:
        fan_in = n // shape[-1]
        v = s * gain * math.sqrt(3.0 / fan_in)
    elif short == "gamma":
        v = 0.5 + 0.5 * u
    else:
        v = 0.01 * s
    return v.astype(np.float32).reshape(shape)


def set_formula_weights(model, gain, dtype=np.float32):
    """Every layer's weights from the formula (float32 values, cast to `dtype`), in `layer.weights` order."""
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for w in layer.weights:
            assert "float" in str(w.dtype), (layer.name, w.path, w.dtype)
            values.append(keras_formula(f"{layer.name}/{short_name(w)}", list(w.shape), gain).astype(dtype))
        layer.set_weights(values)


def layer_spec(model, with_values=False):
    """[[name, class_name, [[short_weight_name, shape(, values)], ...]], ...] for layers with weights."""
    out = []
    for layer in model.layers:
        if not layer.weights:
            continue
        ws = []
        for w in layer.weights:
            entry = [short_name(w), list(w.shape)]
            if with_values:
                entry.append(keras.ops.convert_to_numpy(w).astype(np.float32).reshape(-1).tolist())
            ws.append(entry)
        out.append([layer.name, type(layer).__name__, ws])
    return out


def nhwc(x_nchw, dtype=np.float32):
    return np.ascontiguousarray(x_nchw.numpy().transpose(0, 2, 3, 1)).astype(dtype)


def predict(model, x):
    """Logits of an NHWC numpy batch, inference mode, as float64 numpy (values of the model's dtype)."""
    with torch.no_grad():
        y = model(x, training=False)
    return keras.ops.convert_to_numpy(y).astype(np.float64)


# --- Models ------------------------------------------------------------------------------------

def build(arch, classes, size, include_top=True, floatx="float32"):
    """keras.applications model with no weights, logits (no softmax), input (size, size, 3)."""
    # A fresh session: InceptionV3's automatic layer names (conv2d, conv2d_1, ...) count from 0.
    keras.backend.clear_session()
    keras.config.set_floatx(floatx)
    try:
        ctor = getattr(keras.applications, ARCHS[arch][0])
        if include_top:
            return ctor(weights=None, classes=classes, classifier_activation=None, input_shape=(size, size, 3))
        return ctor(weights=None, include_top=False, input_shape=(size, size, 3))
    finally:
        keras.config.set_floatx("float32")


def free(*_):
    keras.backend.clear_session()
    gc.collect()


def f64_rel_err(arch, classes, size, gain, x_nchw, logits32):
    """max |float32 - float64 logits| / max |float64 logits|, the same model built in float64."""
    model = build(arch, classes, size, floatx="float64")
    assert "float64" in str(model.layers[-1].weights[0].dtype)
    set_formula_weights(model, gain, np.float64)
    exact = predict(model, nhwc(x_nchw, np.float64))
    del model
    free()
    return float(np.abs(logits32 - exact).max() / np.abs(exact).max())


def judge(logits):
    """(max |logit|, input dependence: max |logits[0] - logits[1]| / max |logit|)."""
    top = float(np.abs(logits).max())
    dep = float(np.abs(logits[0] - logits[1]).max() / top) if math.isfinite(top) and top > 0 else 0.0
    return top, dep


def choose_gain(arch, classes, size, x_nchw):
    """The first candidate gain (He's first, then its neighbours) whose logits are finite, bounded
    (|logit| <= MAX_LOGIT), depend on the input (MIN_DEPENDENCE) and agree with float64
    (MAX_F64_REL). The two images of `formula_input` are one plane wave at two phases, i.e. nearly
    a translation of each other, which global pooling all but forgets: deep networks at small
    inputs may reach no gain with 5% dependence. Then, as scripts/parity/make_fixtures.py's
    search_gain does, the bounded, well-conditioned candidate with the largest dependence is used.
    Candidates above a gain whose logits exceeded the bound are skipped (logits grow with the
    gain). Returns (gain, logits, top, dep, rel, note)."""
    model = build(arch, classes, size)
    x = nhwc(x_nchw)
    bounded = []  # (dep, gain, logits, top)
    too_big = math.inf
    for g in GAIN_CANDIDATES:
        if g >= too_big:
            continue
        set_formula_weights(model, g)
        logits = predict(model, x)
        top, dep = judge(logits)
        if not math.isfinite(top) or top > MAX_LOGIT:
            too_big = min(too_big, g)
            print(f"  {arch} gain {g}: rejected (max |logit| {top:.3g}, dependence {dep:.3f})")
            continue
        if dep < MIN_DEPENDENCE:
            print(f"  {arch} gain {g}: weak (max |logit| {top:.3g}, dependence {dep:.3f})")
            bounded.append((dep, g, logits, top))
            continue
        rel = f64_rel_err(arch, classes, size, g, x_nchw, logits)
        if rel > MAX_F64_REL:
            print(f"  {arch} gain {g}: rejected (float32 vs float64 {rel:.2e})")
            continue
        del model
        free()
        return g, logits, top, dep, rel, "first acceptable"
    del model
    free()
    for dep, g, logits, top in sorted(bounded, key=lambda c: -c[0]):
        rel = f64_rel_err(arch, classes, size, g, x_nchw, logits)
        if rel <= MAX_F64_REL:
            print(f"  {arch}: no gain reaches {MIN_DEPENDENCE:.0%} input dependence; "
                  f"the best bounded, well-conditioned one is used")
            return g, logits, top, dep, rel, f"best dependence (< {MIN_DEPENDENCE:.0%})"
        print(f"  {arch} gain {g}: rejected (float32 vs float64 {rel:.2e})")
    raise SystemExit(f"{arch}: no gain in {min(GAIN_CANDIDATES)}..{max(GAIN_CANDIDATES)} is acceptable")


# --- 1. Architecture fixtures ------------------------------------------------------------------

def arch_fixture(arch):
    ctor, _, shape, _ = ARCHS[arch]
    x_nchw = formula_input(shape)
    g, logits, top, dep, rel, note = choose_gain(arch, NUM_CLASSES, shape[2], x_nchw)
    model = build(arch, NUM_CLASSES, shape[2])
    layers = layer_spec(model)
    n_params = sum(math.prod(s) for _, _, ws in layers for _, s in ws)
    del model
    free()
    with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
        json.dump({"arch": arch, "keras": ctor, "keras_version": keras.__version__, "num_classes": NUM_CLASSES,
                   "gain": g, "input": shape, "layers": layers,
                   "logits": logits.astype(np.float32).tolist()}, f)
    print(f"{arch}: gain {g} ({note}), {len(layers)} layers with weights, "
          f"{n_params} parameters; max |logit| {top:.4g}, input dependence {dep:.3f}, "
          f"float32 vs float64 {rel:.2e}")
    return g


# --- 2. Tiny reader fixtures -------------------------------------------------------------------

def tiny_model():
    """Input (6, 6, 2) -> 11 Conv2D (1x1 and 3x3, with and without bias) with a residual Add,
    BatchNormalization (one with scale=False) -> Flatten -> Dense(3). Automatic names from a fresh
    session: conv2d, conv2d_1, ..., conv2d_10 (conv2d_10 sorts before conv2d_2); the BN without
    scale and the Dense are named explicitly ("bn_noscale", "logits"), so that .weights.h5's group
    paths (from class names: layers/batch_normalization_1, layers/dense) differ from the layer names
    (its `vars` groups' `name` attribute)."""
    keras.backend.clear_session()
    L = keras.layers
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 1)(inp)  # conv2d: bias
    x = L.Conv2D(4, 3, padding="same", use_bias=False)(x)  # conv2d_1: no bias
    x = L.BatchNormalization()(x)  # batch_normalization: gamma, beta, mean, variance
    x = L.ReLU()(x)
    for i in range(2, 10):  # conv2d_2 ... conv2d_9: alternately 1x1 with bias and 3x3 without
        y = L.Conv2D(4, 1)(x) if i % 2 == 0 else L.Conv2D(4, 3, padding="same", use_bias=False)(x)
        x = L.Add()([x, y]) if i == 5 else y
    x = L.Conv2D(3, 3, use_bias=True)(x)  # conv2d_10: valid, 6x6 -> 4x4
    x = L.BatchNormalization(scale=False, name="bn_noscale")(x)  # beta, mean, variance
    x = L.Flatten()(x)
    out = L.Dense(3, name="logits")(x)
    model = keras.Model(inp, out, name="tiny")
    names = [layer.name for layer in model.layers]
    for n in ["conv2d", "conv2d_1", "conv2d_2", "conv2d_10", "batch_normalization", "bn_noscale", "logits"]:
        assert n in names, (n, names)
    return model


def write_keras2_h5(path, model):
    """The layout of Keras 2's published application weights (keras 2.2.4, TensorFlow backend),
    written by hand: root attrs layer_names (fixed-length byte strings), backend, keras_version;
    per layer a group with attr weight_names (fixed-length byte strings, `:0` suffix) and its
    datasets at <layer>/<layer>/<weight>:0. Keras 2 stored `weight_names = []` for layers without
    weights, which h5py writes as an empty float64 array: so here too."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers], dtype="S")
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["keras_version"] = np.bytes_(b"2.2.4")
        for layer in model.layers:
            g = f.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{short_name(w)}:0".encode() for w in weights]
            g.attrs["weight_names"] = np.array(names, dtype="S") if names else []
            for name, w in zip(names, weights):
                val = keras.ops.convert_to_numpy(w).astype(np.float32)
                g.create_dataset(name.decode(), data=val)


def fmt_attr(v):
    if isinstance(v, np.ndarray):
        body = repr(v.tolist())
        s = f"array{list(v.shape)} {v.dtype}: {body}"
    else:
        s = f"{type(v).__name__}: {v!r}"
    return s if len(s) <= 160 else s[:157] + "..."


def print_h5(f, indent="  "):
    """Groups, datasets (shape, dtype) and attributes (type, dtype, value) of an open h5py file,
    in h5py's (alphabetical) order."""
    def attrs(obj, pre):
        for k in obj.attrs:
            dt = obj.attrs.get_id(k).dtype
            strinfo = h5py.check_string_dtype(dt)
            kind = f"{'vlen' if strinfo and strinfo.length is None else 'fixed'} {strinfo.encoding} string" \
                if strinfo else str(dt)
            print(f"{pre}@{k} [{kind}] {fmt_attr(obj.attrs[k])}")

    print(f"{indent}/")
    attrs(f, indent + "  ")

    def visit(name, obj):
        pre = indent + "  " * (name.count("/") + 1)
        if isinstance(obj, h5py.Dataset):
            print(f"{pre}{name.split('/')[-1]}  dataset {obj.shape} {obj.dtype}")
        else:
            print(f"{pre}{name.split('/')[-1]}/")
        attrs(obj, pre + "  ")

    f.visititems(visit)


def tiny_fixtures():
    os.makedirs(TINY_OUT, exist_ok=True)
    model = tiny_model()
    set_formula_weights(model, 1.0)
    x = np.sin(np.arange(2 * 6 * 6 * 2) * 0.37 + 0.5).astype(np.float32).reshape(2, 6, 6, 2)
    ref = predict(model, x)
    p = lambda name: os.path.join(TINY_OUT, name)  # noqa: E731
    model.save(p("tiny.h5"))
    with h5py.File(p("tiny_weights.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    write_keras2_h5(p("tiny_keras2.h5"), model)
    model.save_weights(p("tiny.weights.h5"))
    model.save(p("tiny.keras"))
    spec = layer_spec(model, with_values=True)
    with open(p("tiny.json"), "w") as f:
        json.dump({"layers": spec}, f)
    print("tiny: model.layers:", [f"{layer.name}:{type(layer).__name__}" for layer in model.layers])
    print("tiny: layer.weights vs legacy (trainable + non-trainable) order:")
    for layer in model.layers:
        if layer.weights:
            print(f"  {layer.name}: {[short_name(w) for w in layer.weights]} / "
                  f"{[short_name(w) for w in layer.trainable_weights + layer.non_trainable_weights]}")

    for name in ["tiny.h5", "tiny_weights.h5", "tiny_keras2.h5", "tiny.weights.h5"]:
        print(f"\n== {name} ({os.path.getsize(p(name))} bytes)")
        with h5py.File(p(name), "r") as f:
            print_h5(f)
    print(f"\n== tiny.keras ({os.path.getsize(p('tiny.keras'))} bytes)")
    with zipfile.ZipFile(p("tiny.keras")) as z:
        for info in z.infolist():
            print(f"  {info.filename}  {info.file_size} bytes, compress_type {info.compress_type}")
        for member in z.namelist():
            if member.endswith(".json"):
                print(f"  {member}: {z.read(member)[:300].decode()}...")
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            print("  model.weights.h5:")
            print_h5(f, "    ")

    # Every file reloads in Keras to the same outputs.
    for name in ["tiny.h5", "tiny.keras"]:
        m = keras.saving.load_model(p(name))
        assert np.array_equal(predict(m, x), ref), name
    for name in ["tiny_weights.h5", "tiny_keras2.h5", "tiny.weights.h5"]:
        m = tiny_model()
        m.load_weights(p(name))
        assert np.array_equal(predict(m, x), ref), name
    print("\ntiny: all five files reload in Keras to identical outputs")
    for name in sorted(os.listdir(TINY_OUT)):
        print(f"  {os.path.relpath(p(name), ROOT)}: {os.path.getsize(p(name))} bytes")
    del model
    free()


# --- 3. Photo fixtures -------------------------------------------------------------------------

def load_photo(photo, size_hw):
    img = keras.utils.load_img(os.path.join(SAMPLES, photo), target_size=size_hw)
    return img, np.asarray(img, dtype=np.uint8)


def photo_fixtures(gains):
    entries = []
    for arch in PHOTO_ARCHS:
        ctor, module, _, size = ARCHS[arch]
        mode = PREPROCESS_MODE[module]
        preprocess = getattr(keras.applications, module).preprocess_input
        batch, rows = [], []
        for photo in PHOTOS:
            img, rgb = load_photo(photo, (size, size))
            x = preprocess(keras.utils.img_to_array(img, dtype="float32")[None].copy())
            assert x.dtype == np.float32 and x.shape == (1, size, size, 3)
            batch.append(x)
            rows.append({"file": photo, "arch": arch, "size": [size, size], "mode": mode,
                         "sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
                         "channel_sums": x.sum(axis=(0, 1, 2), dtype=np.float64).tolist(),
                         "first": x.reshape(-1)[:8].tolist()})
        x = np.concatenate(batch)
        model = build(arch, NUM_CLASSES, size)
        set_formula_weights(model, gains[arch])
        logits = predict(model, x)
        del model
        free()
        model = build(arch, NUM_CLASSES, size, floatx="float64")
        set_formula_weights(model, gains[arch], np.float64)
        exact = predict(model, x.astype(np.float64))
        del model
        free()
        top, dep = judge(logits)
        rel = float(np.abs(logits - exact).max() / np.abs(exact).max())
        for row, lg in zip(rows, logits):
            row["logits"] = lg.astype(np.float32).tolist()
            entries.append(row)
        print(f"photos {arch} ({mode}, {size}x{size}, gain {gains[arch]}): max |logit| {top:.4g}, "
              f"photos differ by {dep:.3f}, float32 vs float64 {rel:.2e}, "
              f"top-1 {[int(np.argmax(lg)) for lg in logits]}")

    resize = []
    for photo in PHOTOS:
        src = Image.open(os.path.join(SAMPLES, photo)).convert("RGB")
        for h, w in RESIZE_SIZES:
            out = np.asarray(src.resize((w, h), Image.Resampling.NEAREST))
            assert np.array_equal(out, load_photo(photo, (h, w))[1])  # as load_img resizes
            resize.append({"file": photo, "size": [h, w], "width": w, "height": h,
                           "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                           "row_sums": out.reshape(h, -1).sum(axis=1, dtype=np.int64).tolist()})
    with open(os.path.join(OUT, "photos.json"), "w") as f:
        json.dump({"keras_version": keras.__version__, "pillow": Image.__version__, "photos": entries,
                   "resize_nearest": resize}, f)
    print(f"photos: {len(entries)} entries, {len(resize)} resize_nearest cases")


# --- 4. Full-size files ------------------------------------------------------------------------

def print_h5_top(path):
    with h5py.File(path, "r") as f:
        keys = list(f.keys())
        print(f"    {os.path.basename(path)}: {os.path.getsize(path) / 2**20:.1f} MiB, top-level {keys[:6]}"
              f"{'...' if len(keys) > 6 else ''}, attrs {list(f.attrs)}")


def print_weights_h5_names(path):
    """How .weights.h5's group paths (class name + counter, in model.layers order) relate to the
    layer names (the `vars` groups' `name` attribute)."""
    with h5py.File(path, "r") as f:
        pairs = [(k, f["layers"][k]["vars"].attrs.get("name", "")) for k in f["layers"]]
    differ = [(k, n) for k, n in pairs if k != n]
    print(f"    {os.path.basename(path)}: {len(pairs)} groups under layers/, {len(differ)} named unlike their layer, "
          f"e.g. {', '.join(f'layers/{k} -> {n}' for k, n in differ[:4])}")


def full_files(arch):
    os.makedirs(BIG, exist_ok=True)
    _, _, _, size = ARCHS[arch]
    x_nchw = formula_input([2, 3, size, size])  # image 0 is formula_input([1, 3, size, size])
    g, logits, top, dep, rel, note = choose_gain(arch, 1000, size, x_nchw)
    model = build(arch, 1000, size)
    set_formula_weights(model, g)
    assert np.array_equal(predict(model, nhwc(x_nchw)[:1])[0].astype(np.float32), logits[0].astype(np.float32)), \
        "batch-1 logits differ from the batch-2 ones"
    p = lambda name: os.path.join(BIG, name)  # noqa: E731
    model.save(p(f"{arch}.h5"))
    model.save_weights(p(f"{arch}.weights.h5"))
    model.save(p(f"{arch}.keras"))
    with h5py.File(p(f"{arch}_weights_only.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    with open(p(f"{arch}.json"), "w") as f:
        json.dump({"arch": arch, "keras_version": keras.__version__, "num_classes": 1000,
                   "input": [1, 3, size, size], "gain": g, "logits": [logits[0].astype(np.float32).tolist()]}, f)
    del model
    free()
    written = [f"{arch}.h5", f"{arch}.weights.h5", f"{arch}.keras", f"{arch}_weights_only.h5", f"{arch}.json"]
    if arch == "keras_resnet50":
        notop = build(arch, 1000, size, include_top=False)
        set_formula_weights(notop, g)
        with h5py.File(p(f"{arch}_notop_weights_only.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, notop)
        del notop
        free()
        written.append(f"{arch}_notop_weights_only.h5")
    print(f"{arch} full ({size}x{size}, 1000 classes): gain {g} ({note}), max |logit| {top:.4g}, "
          f"input dependence {dep:.3f}, float32 vs float64 {rel:.2e}")
    for name in written:
        if name.endswith(".weights.h5"):
            print_weights_h5_names(p(name))
        elif name.endswith(".h5"):
            print_h5_top(p(name))
        else:
            print(f"    {name}: {os.path.getsize(p(name)) / 2**20:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="write the full-size files under target/keras/")
    ap.add_argument("targets", nargs="*", help="architectures, `tiny`, `photos` (default: all)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    known = list(ARCHS) + ([] if args.full else ["tiny", "photos"])
    targets = args.targets or known
    for t in targets:
        if t not in known:
            raise SystemExit(f"unknown target {t!r}; known: {', '.join(known)}")
    print(f"keras {keras.__version__} ({keras.backend.backend()}), torch {torch.__version__}, "
          f"h5py {h5py.__version__}, numpy {np.__version__}, pillow {Image.__version__}")
    if args.full:
        for arch in targets:
            full_files(arch)
        return
    os.makedirs(OUT, exist_ok=True)
    gains = {}
    for arch in ARCHS:
        if arch in targets:
            gains[arch] = arch_fixture(arch)
    if "tiny" in targets:
        tiny_fixtures()
    if "photos" in targets:
        for arch in PHOTO_ARCHS:
            if arch not in gains:
                with open(os.path.join(OUT, f"{arch}.json")) as f:
                    gains[arch] = json.load(f)["gain"]
        photo_fixtures(gains)


if __name__ == "__main__":
    main()
